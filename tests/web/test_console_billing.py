"""The console's billing pages over HTTP, on SQLite and PostgreSQL: tariffs made, versioned
and assigned through the editor's forms (with and without its script), what a refusal
says, CDRs scoped as the API scopes them and credited once, the CSV through the
console's login, and revenue per day.

The CDRs here come from real OCPP 1.6 sessions: the session of tests/billing/test_cdrs.py
(10 kWh, 20:30 parked) priced by its tariff at a Berlin site: 6.50 EUR excl. VAT, 1.24
VAT, 7.74 EUR incl. VAT.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select

from chargeops.billing.models import Tariff, TariffVersion
from tests.billing.test_cdrs import END, T0, charge_16, settled, tariff_at_site
from tests.billing.test_revenue import sessions_of_the_week
from tests.billing.test_tariffs_api import document, site
from tests.harness import RunningServer, charge_point
from tests.web.network import (
    ALICE,
    CARL,
    DORA,
    FLEET,
    OPERATOR,
    TECHNICIAN,
    add_staff,
    add_user,
    csrf_token,
    logged_in,
    own_token,
)

# the editor's form for the tariff of test_console_billing_browser.py (rows 0, 1 and 2)
CITY_AC: dict[str, Any] = {
    "name": "City AC",
    "currency": "EUR",
    "mode": "form",
    "vat": "19",
    "energy_step": "1",
    "time_step": "1",
    "row": ["0", "1", "2"],
    "e0_energy": "0.45",
    "e0_start": "17:00",
    "e0_end": "21:00",
    "e1_energy": "0,30",  # a decimal comma is read as a point
    "e1_flat": "1.00",
    "e2_parking": "6.00",
    "e2_after": "60",
    "p_day": "",
    "p_date": "2025-06-07",
    "p_time": "18:00",
    "p_minutes": "45",
    "p_kwh": "22",
    "p_idle": "30",
    "p_zone": "Europe/Berlin",
}


def alert(response: httpx.Response) -> list[str]:
    return re.findall(r'class="alert alert-error" role="alert"[^>]*>(.*?)</p>', response.text)


def figure(response: httpx.Response, which: str = "incl") -> str | None:
    found = re.search(rf'data-preview-total="{which}">([^<]*)<', response.text)
    return found.group(1) if found else None


def row_keys(response: httpx.Response) -> list[str]:
    """The rows the editor shows (not the blank one its script copies from)."""
    keys = re.findall(r'<input type="hidden" name="row" value="([^"]+)">', response.text)
    return [k for k in keys if k != "__key__"]


async def tariff_count(server: RunningServer) -> int:
    async with server.db() as db:
        return int(await db.scalar(select(func.count(Tariff.id))) or 0)


async def test_an_operator_makes_versions_and_assigns_a_tariff(server: RunningServer) -> None:
    await add_staff(server)
    async with server.api() as admin:
        berlin = await site(admin, "Berlin Mitte")
        other = await admin.post("/api/v1/tariffs", json={"name": "Old", "document": document()})
        assert other.status_code == 201
    async with logged_in(server, OPERATOR) as olivia:
        token = await csrf_token(olivia)
        form = {**CITY_AC, "csrf": token}
        blank = await olivia.get("/tariffs/new")
        # the buttons work without the script: the server draws the editor again
        added = await olivia.post("/tariffs/new", data={**form, "action": "add"})
        removed = await olivia.post("/tariffs/new", data={**form, "action": "remove:1"})
        previewed = await olivia.post("/tariffs/new", data={**form, "action": "preview"})
        fragment = await olivia.post(
            "/tariffs/new",
            data={**form, "action": "preview"},
            headers={"X-Requested-With": "console"},
        )
        as_json = await olivia.post("/tariffs/new", data={**form, "action": "to_json"})
        refused = {
            "amount": await olivia.post(
                "/tariffs/new", data={**form, "e2_parking": "6 EUR", "action": "save"}
            ),
            "currency": await olivia.post(
                "/tariffs/new", data={**form, "currency": "EURO", "action": "save"}
            ),
            "bounds": await olivia.post(
                "/tariffs/new",
                data={**form, "e2_min_kwh": "10", "e2_max_kwh": "5", "action": "save"},
            ),
            "no price": await olivia.post(
                "/tariffs/new",
                data={**form, "row": ["0"], "e0_energy": "", "action": "save"},
            ),
            "nothing": await olivia.post(
                "/tariffs/new",
                data={
                    **form,
                    "row": ["0"],
                    "e0_energy": "",
                    "e0_start": "",
                    "e0_end": "",
                    "action": "save",
                },
            ),
            "json": await olivia.post(
                "/tariffs/new",
                data={**form, "mode": "json", "document": '{"currency": "EUR",', "action": "save"},
            ),
            "ocpi": await olivia.post(
                "/tariffs/new",
                data={
                    **form,
                    "mode": "json",
                    "document": '{"currency": "EUR", "elements": [{"price_components": '
                    '[{"type": "ENERGY", "price": -1, "step_size": 1}]}]}',
                    "action": "save",
                },
            ),
            "name": await olivia.post(
                "/tariffs/new", data={**form, "name": "old", "action": "save"}
            ),
            "preview": await olivia.post(
                "/tariffs/new", data={**form, "p_zone": "Mars/Base", "action": "preview"}
            ),
        }
        count_after_refusals = await tariff_count(server)
        created = await olivia.post("/tariffs/new", data={**form, "action": "save"})
        tariff_page = created.headers.get("location", "")
        made = await olivia.get(tariff_page)
        tariff_id = int(tariff_page.split("/")[2].split("?")[0])

        # a new version starts from the one in force, in the form
        version_form = await olivia.get(f"/tariffs/{tariff_id}/versions/new")
        tomorrow = (END + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M")
        versioned = await olivia.post(
            f"/tariffs/{tariff_id}/versions/new",
            data={**form, "e1_energy": "0.35", "valid_from": tomorrow, "action": "save"},
        )
        with_upcoming = await olivia.get(f"/tariffs/{tariff_id}")

        # assignments: to a site, refused where another tariff holds the place, removed
        assigned = await olivia.post(
            f"/tariffs/{tariff_id}/assignments",
            data={"scope": "site", "site": str(berlin), "csrf": token},
        )
        taken = await olivia.post(
            f"/tariffs/{other.json()['id']}/assignments",
            data={"scope": "site", "site": str(berlin), "csrf": token},
        )
        no_station = await olivia.post(
            f"/tariffs/{tariff_id}/assignments",
            data={"scope": "station", "station": "", "csrf": token},
        )
        assigned_page = await olivia.get(f"/tariffs/{tariff_id}")
        assignment = re.search(r'name="assignment" value="(\d+)"', assigned_page.text)
        assert assignment is not None
        ended = await olivia.post(
            f"/tariffs/{tariff_id}/assignments/remove",
            data={"assignment": assignment.group(1), "csrf": token},
        )
        again = await olivia.post(
            f"/tariffs/{tariff_id}/assignments/remove",
            data={"assignment": assignment.group(1), "csrf": token},
        )
        after_removal = await olivia.get(f"/tariffs/{tariff_id}")

    assert blank.status_code == 200 and row_keys(blank) == ["0"]
    assert 'value="preview" class="visually-hidden"' in blank.text  # Enter previews
    assert row_keys(added) == ["0", "1", "2", "n3"]
    assert row_keys(removed) == ["0", "2"]
    assert figure(previewed) == "14.76 EUR" and figure(previewed, "excl") == "12.40 EUR"
    assert "Saturday 2025-06-07 18:00 CEST (Europe/Berlin)" in previewed.text
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert figure(fragment) == "14.76 EUR"
    assert 'value="json" data-mode checked' in as_json.text
    assert "&#34;price&#34;: &#34;0.45&#34;" in as_json.text  # the form, as OCPI JSON

    assert {k: r.status_code for k, r in refused.items()} == {
        "amount": 422,
        "currency": 422,
        "bounds": 422,
        "no price": 422,
        "nothing": 422,
        "json": 422,
        "ocpi": 422,
        "name": 409,
        "preview": 422,
    }
    said = {k: alert(r) for k, r in refused.items()}
    assert said["amount"] == [
        "Row 3, parking price: &#39;6 EUR&#39; is not an amount; use digits and a decimal "
        "point, e.g. 0.39."
    ]
    assert said["currency"] == ["Currency: not an ISO 4217 code."]  # the service's words
    assert said["bounds"] == [
        "Row 3: the lower bound in kWh must be below the upper bound, or the row never applies."
    ]
    assert said["no price"] == [
        "Row 1: it has conditions but no price; give a price or clear the row."
    ]
    assert said["nothing"] == [
        "Prices: give at least one (energy, charging time, parking or a session fee)."
    ]
    assert said["json"] == [
        "The OCPI document is not JSON: Expecting property name enclosed in double quotes at "
        "line 1, column 20."
    ]
    assert said["ocpi"] == ["Document.elements[0].price_components[0].price: must not be negative."]
    assert said["name"] == ["A tariff named &#39;old&#39; exists already."]
    assert said["preview"] == ["Time zone: unknown time zone &#39;Mars/Base&#39;."]
    assert 'value="6 EUR"' in refused["amount"].text  # the form keeps what was typed
    assert count_after_refusals == 1

    assert created.status_code == 303, alert(created)
    assert "The tariff was created." in made.text
    assert "0.5355 EUR per kWh from 17:00 to 21:00" in made.text
    assert "This tariff is not assigned anywhere" in made.text
    assert 'value="0.45"' in version_form.text and 'value="0.30"' in version_form.text
    assert "The form starts from version 1" in version_form.text
    assert versioned.status_code == 303
    assert 'data-fact="upcoming">Version 2 takes effect on' in with_upcoming.text
    assert "0.4165 EUR per kWh" in with_upcoming.text  # 0.35 incl. 19 % VAT
    async with server.db() as db:
        numbers = (
            await db.execute(
                select(TariffVersion.version).where(TariffVersion.tariff_id == tariff_id)
            )
        ).scalars()
        assert sorted(numbers) == [1, 2]

    assert assigned.status_code == 303
    assert taken.status_code == 409
    assert alert(taken) == [
        f"Site {berlin} has tariff &#39;City AC&#39; assigned: unassign it first."
    ]
    assert no_station.status_code == 422 and alert(no_station) == [
        "Station: give the station&#39;s id."
    ]
    assert f'<a href="/sites/{berlin}">Site Berlin Mitte</a>' in assigned_page.text
    assert ended.status_code == 303 and again.status_code == 409
    assert "Ended assignments (1)" in after_removal.text


async def test_a_form_that_cannot_show_a_version_opens_it_as_json(server: RunningServer) -> None:
    await add_staff(server)
    texts = {**document(), "tariff_alt_text": [{"language": "en", "text": "Cheap nights"}]}
    async with server.api() as admin:
        made = (await admin.post("/api/v1/tariffs", json={"name": "T", "document": texts})).json()
    async with logged_in(server, OPERATOR) as olivia:
        opened = await olivia.get(f"/tariffs/{made['id']}/versions/new")
        token = await csrf_token(olivia)
        document_text = re.search(r'name="document"[^>]*>(.*?)</textarea>', opened.text, re.S)
        assert document_text is not None
        saved = await olivia.post(
            f"/tariffs/{made['id']}/versions/new",
            data={
                "csrf": token,
                "mode": "json",
                "document": document_text.group(1)
                .replace("&#34;", '"')
                .replace('"0.30"', '"0.33"'),
                "action": "save",
            },
        )
    assert 'value="json" data-mode checked' in opened.text
    assert "it sets tariff_alt_text" in opened.text and "it opens as OCPI JSON" in opened.text
    assert saved.status_code == 303, alert(saved)
    async with server.api() as admin:
        versions = (await admin.get(f"/api/v1/tariffs/{made['id']}/versions")).json()
    assert versions[1]["document"]["tariff_alt_text"] == [
        {"language": "en", "text": "Cheap nights"}
    ]
    assert versions[1]["document"]["elements"][0]["price_components"][0]["price"] == "0.33"


async def test_drivers_read_tariffs_and_change_nothing(server: RunningServer) -> None:
    await add_staff(server)
    async with server.api() as admin:
        made = (
            await admin.post("/api/v1/tariffs", json={"name": "T", "document": document()})
        ).json()
    async with logged_in(server, ALICE) as alice, logged_in(server, TECHNICIAN) as tom:
        token = await csrf_token(alice)
        read = {
            "list": await alice.get("/tariffs"),
            "one": await alice.get(f"/tariffs/{made['id']}"),
        }
        refused = {
            "new": await alice.get("/tariffs/new"),
            "create": await alice.post(
                "/tariffs/new", data={**CITY_AC, "csrf": token, "action": "save"}
            ),
            "preview": await alice.post(
                "/tariffs/new", data={**CITY_AC, "csrf": token, "action": "preview"}
            ),
            "version": await alice.get(f"/tariffs/{made['id']}/versions/new"),
            "assign": await alice.post(
                f"/tariffs/{made['id']}/assignments", data={"scope": "default", "csrf": token}
            ),
            "tech": await tom.get("/tariffs/new"),
        }
    assert {k: r.status_code for k, r in read.items()} == {"list": 200, "one": 200}
    assert "New tariff" not in read["list"].text
    assert "New version" not in read["one"].text and "Assign" not in read["one"].text
    assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 403)
    assert "tariffs:manage" in refused["new"].text
    assert await tariff_count(server) == 1


async def charge_cards(server: RunningServer) -> dict[str, int]:
    """Everyone of network.add_staff, the tariff at a Berlin site, and one session each
    on the cards of Dora (Fleet B), Carl (Fleet C) and Alice (no fleet): their CDR ids."""
    ids = await add_staff(server)
    await tariff_at_site(server, "CP-16")
    await own_token(server, "CARD-DORA", ids[DORA])
    await own_token(server, "CARD-CARL", ids[CARL])
    async with charge_point(server, "CP-16") as cp:
        for connector, tag in enumerate(("CARD-DORA", "CARD-CARL", "CARD-ALICE"), start=1):
            await charge_16(cp, tag, connector)
    await settled(server)
    async with server.api() as admin:
        listed = (await admin.get("/api/v1/cdrs")).json()["items"]
    by_tag = {c["id_tag"]: c["id"] for c in listed}
    return {DORA: by_tag["CARD-DORA"], CARL: by_tag["CARD-CARL"], ALICE: by_tag["CARD-ALICE"]}


def cdr_ids(response: httpx.Response) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-cdr="(\d+)"', response.text)]


def fact(response: httpx.Response, name: str) -> str:
    found = re.search(rf'data-fact="{name}">(.*?)</dd>', response.text, re.S)
    assert found is not None, name
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


async def test_cdrs_are_shown_as_the_api_scopes_them_and_credited_once(
    server: RunningServer,
) -> None:
    ids = await charge_cards(server)
    day = T0.date().isoformat()
    async with (
        logged_in(server, OPERATOR) as olivia,
        logged_in(server, FLEET) as fiona,
        logged_in(server, ALICE) as alice,
        logged_in(server, TECHNICIAN) as tom,
    ):
        lists = {
            "olivia": await olivia.get("/cdrs"),
            "fiona": await fiona.get("/cdrs"),
            "alice": await alice.get("/cdrs"),
            "tom": await tom.get("/cdrs"),
        }
        filtered = {
            "station": await olivia.get("/cdrs", params={"station": "CP-16", "since": day}),
            "later": await olivia.get(
                "/cdrs", params={"since": (END + timedelta(days=1)).date().isoformat()}
            ),
            "bad": await olivia.get("/cdrs", params={"since": "yesterday"}),
        }
        detail = await olivia.get(f"/cdrs/{ids[DORA]}")
        hidden = {
            "fiona-carl": await fiona.get(f"/cdrs/{ids[CARL]}"),
            "alice-dora": await alice.get(f"/cdrs/{ids[DORA]}"),
        }
        exported = {
            "olivia": await olivia.get("/cdrs.csv", params={"station": "CP-16", "since": day}),
            "fiona": await fiona.get("/cdrs.csv"),
        }

        token = await csrf_token(olivia)
        no_reason = await olivia.post(
            f"/cdrs/{ids[DORA]}/credit", data={"reason": " ", "csrf": token}
        )
        tom_credit = await tom.post(
            f"/cdrs/{ids[DORA]}/credit", data={"reason": "goodwill", "csrf": await csrf_token(tom)}
        )
        credited = await olivia.post(
            f"/cdrs/{ids[DORA]}/credit", data={"reason": "charger fault", "csrf": token}
        )
        credit_page = await olivia.get(credited.headers["location"])
        original_after = await olivia.get(f"/cdrs/{ids[DORA]}")
        twice = await olivia.post(
            f"/cdrs/{ids[DORA]}/credit", data={"reason": "again", "csrf": token}
        )
        tom_sees = await tom.get(f"/cdrs/{ids[CARL]}")

    assert {k: r.status_code for k, r in lists.items()} == dict.fromkeys(lists, 200)
    everyone = sorted(ids.values(), reverse=True)
    assert cdr_ids(lists["olivia"]) == cdr_ids(lists["tom"]) == everyone
    assert cdr_ids(lists["fiona"]) == [ids[DORA]]
    assert cdr_ids(lists["alice"]) == [ids[ALICE]]
    assert "<h1" in lists["alice"].text and "My charges" in lists["alice"].text
    assert "Your organization&#39;s charges" in lists["fiona"].text
    assert cdr_ids(filtered["station"]) == everyone
    assert cdr_ids(filtered["later"]) == []
    assert filtered["bad"].status_code == 422
    assert alert(filtered["bad"]) == ["From: &#39;yesterday&#39; is not a date (YYYY-MM-DD)."]
    assert f'href="/cdrs.csv?station=CP-16&amp;since={day}"' in filtered["station"].text

    assert detail.status_code == 200
    assert (fact(detail, "excl"), fact(detail, "vat"), fact(detail, "incl")) == (
        "6.50 EUR",
        "1.24 EUR",
        "7.74 EUR",
    )
    assert fact(detail, "tariff") == "Standard, version 1"
    assert (fact(detail, "energy"), fact(detail, "charging"), fact(detail, "parking")) == (
        "10.00 kWh",
        "30 min",
        "20 min 30 s",
    )
    berlin_start = T0.astimezone(ZoneInfo("Europe/Berlin"))
    assert fact(detail, "started").startswith(berlin_start.strftime("%Y-%m-%d %H:%M:%S %Z"))
    assert "Europe/Berlin" in detail.text and "OCMF|" in detail.text
    assert "Credit this CDR" in detail.text
    assert {k: r.status_code for k, r in hidden.items()} == {"fiona-carl": 404, "alice-dora": 404}

    rows = list(csv.DictReader(io.StringIO(exported["olivia"].text)))
    assert exported["olivia"].headers["content-type"].startswith("text/csv")
    assert sorted(int(r["id"]) for r in rows) == sorted(ids.values())
    assert {r["incl_vat"] for r in rows} == {"7.74"}
    fleet_rows = list(csv.DictReader(io.StringIO(exported["fiona"].text)))
    assert [int(r["id"]) for r in fleet_rows] == [ids[DORA]]

    assert no_reason.status_code == 422
    assert alert(no_reason) == ["Reason: say why the CDR is credited."]
    assert tom_credit.status_code == 403
    assert credited.status_code == 303
    assert "The credit CDR was issued" in credit_page.text
    assert (fact(credit_page, "excl"), fact(credit_page, "incl")) == ("-6.50 EUR", "-7.74 EUR")
    assert f'This credit cancels <a href="/cdrs/{ids[DORA]}">' in credit_page.text
    assert "Reason: charger fault" in credit_page.text
    assert "Cancelled by" in original_after.text and "Credit this CDR" not in original_after.text
    assert fact(original_after, "incl") == "7.74 EUR"  # the original stays as it was
    assert twice.status_code == 409
    assert re.search(r"CDR \d+ was credited already, by CDR \d+\.", alert(twice)[0])
    assert "Credit this CDR" not in tom_sees.text


async def test_revenue_per_day_for_staff_and_a_fleets_spend(server: RunningServer) -> None:
    week = await sessions_of_the_week(server)
    await add_user(server, OPERATOR, "Olivia Operator", "operator")
    params = {"since": week.day(0), "until": week.day(2), "zone": "Europe/Berlin"}
    async with (
        logged_in(server, OPERATOR) as olivia,
        logged_in(server, "fleet-a@example.com") as fleet,
        logged_in(server, "driver@example.com") as driver,
    ):
        staff = await olivia.get("/revenue", params=params)
        default = await olivia.get("/revenue")
        spend = await fleet.get("/revenue", params=params)
        refused = await driver.get("/revenue")
        bad_zone = await olivia.get("/revenue", params={**params, "zone": "Mars/Base"})
        backwards = await olivia.get(
            "/revenue", params={**params, "since": week.day(2), "until": week.day(0)}
        )
        menus = {who: (await c.get("/")).text for who, c in (("olivia", olivia), ("fleet", fleet))}

    def cells(response: httpx.Response, day: str, currency: str) -> list[str]:
        row = re.search(
            rf'<tr data-day="{day}" data-currency="{currency}">(.*?)</tr>', response.text, re.S
        )
        assert row is not None, (day, currency)
        return [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))][1:]

    assert staff.status_code == 200
    assert cells(staff, week.day(1), "EUR") == [
        "EUR",
        "2",
        "15.00 kWh",
        "6.50 EUR",
        "1.24 EUR",
        "7.74 EUR",
    ]
    assert cells(staff, week.day(1), "USD") == [
        "USD",
        "1",
        "10.00 kWh",
        "4.00 USD",
        "0.76 USD",
        "4.76 USD",
    ]
    assert cells(staff, week.day(1), "unpriced") == ["unpriced", "1", "2.50 kWh", "—", "—", "—"]
    assert cells(staff, week.day(2), "EUR") == [
        "EUR",
        "1",
        "20.00 kWh",
        "0.00 EUR",
        "0.00 EUR",
        "0.00 EUR",
    ]
    assert "Revenue excl. VAT per day" in staff.text
    assert default.status_code == 200 and "Days are local days in UTC" in default.text

    assert "Your organization&#39;s spend" in spend.text and "Spend incl. VAT per day" in spend.text
    assert cells(spend, week.day(1), "EUR") == [
        "EUR",
        "1",
        "10.00 kWh",
        "4.00 EUR",
        "0.76 EUR",
        "4.76 EUR",
    ]
    assert 'data-currency="USD"' not in spend.text
    assert refused.status_code == 403 and "My charges" in refused.text
    assert bad_zone.status_code == 422
    assert alert(bad_zone) == ["Time zone: unknown time zone &#39;Mars/Base&#39;."]
    assert backwards.status_code == 422 and "is before since" in alert(backwards)[0]
    assert '<a href="/revenue">Revenue</a>' in menus["olivia"]
    assert '<a href="/revenue">Spend</a>' in menus["fleet"]
