"""The console's site pages over HTTP, on SQLite and PostgreSQL: everyone finds sites;
those who manage them create, change and delete them, and move stations between them."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from chargeops.stations.models import Site, Station
from tests.harness import RunningServer
from tests.web.network import (
    ALICE,
    OPERATOR,
    TECHNICIAN,
    add_staff,
    csrf_token,
    logged_in,
    token_id,
)

DEPOT = {
    "name": "Depot North",
    "address": "Hafenstraße 1",
    "postal_code": "20457",
    "city": "Hamburg",
    "country": "de",
    "latitude": "53.5413",
    "longitude": "9.9841",
    "time_zone": "Europe/Berlin",
    "opening_hours": "Mon-Fri 06:00-22:00\nSat 08:00-14:00",
}


async def site_count(server: RunningServer) -> int:
    async with server.db() as db:
        return int(await db.scalar(select(func.count(Site.id))) or 0)


async def site_of(server: RunningServer, station_id: str) -> int | None:
    async with server.db() as db:
        found: int | None = await db.scalar(select(Station.site_id).where(Station.id == station_id))
        return found


async def test_sites_are_created_changed_used_and_deleted(server: RunningServer) -> None:
    await add_staff(server)
    for station_id in ("CP-1", "CP-2"):
        await server.add_station(station_id)
    async with logged_in(server, OPERATOR) as olivia:
        token = await csrf_token(olivia)
        empty = await olivia.get("/sites")
        forged = await olivia.post("/sites", data=DEPOT)
        created = await olivia.post("/sites", data={**DEPOT, "csrf": token})
        assert created.status_code == 303, created.text
        site_id = int(created.headers["location"].split("/")[2].split("?")[0])
        page = await olivia.get(created.headers["location"])
        count = await site_count(server)
        refused = {
            "hours": await olivia.post(
                "/sites",
                data={**DEPOT, "name": "B", "opening_hours": "Mon 6 to 22", "csrf": token},
            ),
            "time": await olivia.post(
                "/sites",
                data={**DEPOT, "name": "C", "opening_hours": "Mon 06:00-25:00", "csrf": token},
            ),
            "zone": await olivia.post(
                "/sites", data={**DEPOT, "name": "D", "time_zone": "Mars/Base", "csrf": token}
            ),
            "half": await olivia.post(
                "/sites", data={**DEPOT, "name": "E", "longitude": "", "csrf": token}
            ),
            "name": await olivia.post(
                "/sites", data={**DEPOT, "name": "depot north", "csrf": token}
            ),
        }
        after_refusals = await site_count(server)
        edit_form = await olivia.get(f"/sites/{site_id}/edit")
        changed = await olivia.post(
            f"/sites/{site_id}",
            data={**DEPOT, "name": "Depot N", "opening_hours": "24/7", "csrf": token},
        )
        listed = await olivia.get("/sites")

        # a station moves to the site, and a token is kept to it
        station_form = await olivia.get("/stations/CP-2")
        moved = await olivia.post("/stations/CP-2/site", data={"site": site_id, "csrf": token})
        moved_page = await olivia.get(moved.headers["location"])
        bad_move = await olivia.post("/stations/CP-2/site", data={"site": "999", "csrf": token})
        with_station = await olivia.get(f"/sites/{site_id}")
        card = await token_id(server, "CARD-ALICE")
        kept = await olivia.post(
            f"/tokens/{card}",
            data={"owner": ALICE, "sites": [str(site_id)], "csrf": token},
        )
        card_page = await olivia.get(f"/tokens/{card}")

        # deleting: refused while a station stands there, then done
        confirm = await olivia.get(f"/sites/{site_id}/delete")
        refused_delete = await olivia.post(f"/sites/{site_id}/delete", data={"csrf": token})
        away = await olivia.post("/stations/CP-2/site", data={"site": "", "csrf": token})
        # ...and while a card is kept to it (deleting would free the card everywhere)
        card_kept = await olivia.post(f"/sites/{site_id}/delete", data={"csrf": token})
        await olivia.post(f"/tokens/{card}", data={"owner": ALICE, "csrf": token})
        deleted = await olivia.post(f"/sites/{site_id}/delete", data={"csrf": token})
        after_delete = await olivia.get(deleted.headers["location"])

    assert "No sites yet." in empty.text and "New site" in empty.text
    assert forged.status_code == 403
    assert count == 1
    assert "The site was created." in page.text
    assert (
        'data-fact="hours">Mon\u2013Fri 06:00\u201322:00, Sat 08:00\u201314:00, closed Sun '
        '<span class="hint">(local time)</span>' in page.text
    )
    assert "53.5413, 9.9841" in page.text and "openstreetmap.org/?mlat=53.5413" in page.text
    assert "Europe/Berlin" in page.text and "DE" in page.text
    assert "No stations stand here yet." in page.text
    assert {k: r.status_code for k, r in refused.items()} == {
        "hours": 422,
        "time": 422,
        "zone": 422,
        "half": 422,
        "name": 409,
    }
    assert "&#39;6&#39; is not a time (HH:MM, e.g. 07:30)" in refused["hours"].text
    assert "Opening hours: begin and end are HH:MM" in refused["time"].text
    assert "Unknown time zone &#39;Mars/Base&#39;" in refused["zone"].text
    assert "Give both latitude and longitude, or neither." in refused["half"].text
    assert "A site named &#39;depot north&#39; already exists." in refused["name"].text
    assert 'value="depot north"' in refused["name"].text  # the form keeps what was typed
    assert after_refusals == 1
    assert "Mon-Fri 06:00-22:00\nSat 08:00-14:00</textarea>" in edit_form.text
    assert changed.headers["location"] == f"/sites/{site_id}?done=saved"
    row = re.search(rf'<tr data-site="{site_id}">.*?</tr>', listed.text, re.S)
    assert row is not None and "Depot N" in row.group(0) and "open 24/7" in row.group(0)
    assert 'data-stations="0"' in row.group(0)

    assert 'name="site"' in station_form.text and "Depot N" in station_form.text
    assert moved.headers["location"] == "/stations/CP-2?done=moved"
    assert "The station was moved." in moved_page.text
    assert f'data-fact="site"><a href="/sites/{site_id}">Depot N</a>' in moved_page.text
    assert bad_move.status_code == 422 and "No site 999." in bad_move.text
    assert '<tr data-station="CP-2">' in with_station.text
    assert "Offline" in with_station.text
    assert kept.status_code == 303
    assert f'data-fact="sites"><a href="/sites/{site_id}">Depot N</a>' in card_page.text

    assert "1 station still stands here" in confirm.text
    assert refused_delete.status_code == 409
    assert "Site &#39;Depot N&#39; still has 1 station(s)" in refused_delete.text
    assert away.status_code == 303
    assert card_kept.status_code == 409 and "tokens kept to it" in card_kept.text
    assert deleted.headers["location"] == "/sites?done=deleted"
    assert "The site was deleted." in after_delete.text and "No sites yet." in after_delete.text
    assert await site_count(server) == 0 and await site_of(server, "CP-2") is None


async def test_everyone_finds_sites_and_only_managers_change_them(server: RunningServer) -> None:
    await add_staff(server)
    await server.add_station("CP-1")
    async with logged_in(server, OPERATOR) as olivia:
        created = await olivia.post("/sites", data={**DEPOT, "csrf": await csrf_token(olivia)})
        site_id = int(created.headers["location"].split("/")[2].split("?")[0])
    async with logged_in(server, ALICE) as alice, logged_in(server, TECHNICIAN) as tom:
        alice_token = await csrf_token(alice)
        seen = {
            "alice-list": await alice.get("/sites"),
            "alice-site": await alice.get(f"/sites/{site_id}"),
            "tom-list": await tom.get("/sites"),
        }
        refused = {
            "alice-new": await alice.get("/sites/new"),
            "alice-edit": await alice.get(f"/sites/{site_id}/edit"),
            "alice-create": await alice.post("/sites", data={**DEPOT, "csrf": alice_token}),
            "alice-delete": await alice.post(
                f"/sites/{site_id}/delete", data={"csrf": alice_token}
            ),
            "alice-move": await alice.post(
                "/stations/CP-1/site", data={"site": site_id, "csrf": alice_token}
            ),
            "tom-new": await tom.get("/sites/new"),
            "missing": await alice.get("/sites/999"),
        }
        station = await alice.get("/stations/CP-1")
    assert {k: r.status_code for k, r in seen.items()} == dict.fromkeys(seen, 200)
    assert "Depot North" in seen["alice-list"].text and "New site" not in seen["alice-list"].text
    assert "Change" not in seen["alice-site"].text and "Delete" not in seen["alice-site"].text
    assert {k: r.status_code for k, r in refused.items()} == {
        "alice-new": 403,
        "alice-edit": 403,
        "alice-create": 403,
        "alice-delete": 403,
        "alice-move": 403,
        "tom-new": 403,
        "missing": 404,
    }
    assert "sites:manage" in refused["alice-new"].text
    assert 'name="site"' not in station.text and 'data-fact="site">none' in station.text
    assert await site_count(server) == 1 and await site_of(server, "CP-1") is None
