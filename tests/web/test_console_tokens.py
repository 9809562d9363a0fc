"""The console's token pages over HTTP, on SQLite and PostgreSQL: who sees which cards,
registering, blocking, changing and deleting them, and the local list updates that
carry a change to stations."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from chargeops.users import accounts, tokens
from chargeops.users.models import IdToken
from tests.harness import RunningServer
from tests.web.network import (
    ADMIN,
    ALICE,
    BOB,
    CARL,
    DORA,
    FLEET,
    OPERATOR,
    SUPPORT,
    TECHNICIAN,
    add_staff,
    add_user,
    csrf_token,
    holds_local_list,
    logged_in,
    network,
    organization_id,
    token_id,
)


def tags(response: httpx.Response) -> set[str]:
    return set(re.findall(r'<tr data-token="([^"]+)"', response.text))


async def add_fleet_cards(server: RunningServer) -> None:
    """A card of Fleet B (Dora's) and one of Fleet C (Carl's)."""
    for tag, email, org in (("CARD-DORA", DORA, "Fleet B"), ("CARD-CARL", CARL, "Fleet C")):
        await server.add_token(tag)
        org_id = await organization_id(server, org)
        async with server.db() as db:
            token = await tokens.find_token(db, tag)
            user = await accounts.find_user(db, email)
            assert token is not None and user is not None
            token.user_id, token.organization_id = user.id, org_id
            await db.commit()


async def test_each_role_sees_the_cards_it_may(server: RunningServer) -> None:
    async with network(server) as net:
        await add_staff_without_people(server)
        await add_fleet_cards(server)
        cards = ("CARD-ALICE", "CARD-BOB", "CARD-DORA", "CARD-CARL")
        ids = {tag: await token_id(server, tag) for tag in cards}
        async with (
            logged_in(server, OPERATOR) as olivia,
            logged_in(server, SUPPORT) as sam,
            logged_in(server, FLEET) as fiona,
            logged_in(server, ALICE) as alice,
            logged_in(server, TECHNICIAN) as tom,
        ):
            staff = {who: await c.get("/tokens") for who, c in (("olivia", olivia), ("sam", sam))}
            mine = await alice.get("/tokens")
            fleet = await fiona.get("/tokens")
            codes = {
                "alice-own": (await alice.get(f"/tokens/{ids['CARD-ALICE']}")).status_code,
                "alice-bob": (await alice.get(f"/tokens/{ids['CARD-BOB']}")).status_code,
                "fiona-dora": (await fiona.get(f"/tokens/{ids['CARD-DORA']}")).status_code,
                "fiona-carl": (await fiona.get(f"/tokens/{ids['CARD-CARL']}")).status_code,
                "fiona-alice": (await fiona.get(f"/tokens/{ids['CARD-ALICE']}")).status_code,
                "tom": (await tom.get("/tokens")).status_code,
                "alice-new": (await alice.get("/tokens/new")).status_code,
                "fiona-new": (await fiona.get("/tokens/new")).status_code,
            }
            alice_card = await alice.get(f"/tokens/{ids['CARD-ALICE']}")
            alice_block = await alice.post(
                f"/tokens/{ids['CARD-ALICE']}/status",
                data={"status": "blocked", "csrf": await csrf_token(alice)},
            )
            blocked_only = await olivia.get("/tokens", params={"status": "blocked"})
            searched = await olivia.get("/tokens", params={"q": "bo"})
            fleet_c = await olivia.get(
                "/tokens", params={"organization": await organization_id(server, "Fleet C")}
            )

    everything = {"CARD-ALICE", "CARD-BOB", "CARD-DORA", "CARD-CARL"}
    assert tags(staff["olivia"]) == tags(staff["sam"]) == everything
    assert "Register a token" in staff["sam"].text  # support blocks lost cards
    assert tags(mine) == {"CARD-ALICE"} and '<h1 id="tokens-title">My cards</h1>' in mine.text
    assert "Register a token" not in mine.text
    assert tags(fleet) == {"CARD-DORA"}
    assert codes == {
        "alice-own": 200,
        "alice-bob": 404,  # someone else's card does not exist for her
        "fiona-dora": 200,
        "fiona-carl": 404,  # nor another fleet's for a fleet manager
        "fiona-alice": 404,
        "tom": 403,
        "alice-new": 403,
        "fiona-new": 200,
    }
    # her card's page: its sessions, no controls
    assert f'data-session="{net.alice_session}"' in alice_card.text
    assert f'data-session="{net.bob_session}"' not in alice_card.text
    assert "Block" not in alice_card.text and "Save changes" not in alice_card.text
    assert alice_block.status_code == 403
    assert tags(blocked_only) == set() and "No tokens match this filter." in blocked_only.text
    assert tags(searched) == {"CARD-BOB"}
    assert tags(fleet_c) == {"CARD-CARL"}


async def add_staff_without_people(server: RunningServer) -> None:
    """add_staff's extra people, for a network that already has add_people's."""
    for email, name, role, org in (
        (ADMIN, "Ada Admin", "admin", None),
        (SUPPORT, "Sam Support", "support", None),
        (TECHNICIAN, "Tom Technician", "technician", None),
        (DORA, "Dora Driver", "driver", "Fleet B"),
        (CARL, "Carl Driver", "driver", "Fleet C"),
    ):
        await add_user(server, email, name, role, org=org)


async def test_cards_are_registered_blocked_changed_and_deleted(server: RunningServer) -> None:
    await add_staff(server)
    for station_id in ("CP-1", "CP-2"):
        await server.add_station(station_id)
    await holds_local_list(server, "CP-2")  # offline: it is told when it comes back
    fleet_b = str(await organization_id(server, "Fleet B"))
    card = {
        "id_tag": "04A2B3C4",
        "type": "ISO14443",
        "status": "accepted",
        "expires": "2031-12-31T23:59:00",
        "owner": ALICE,
        "organization": "",
        "group": "FLEET-A",
    }
    async with logged_in(server, OPERATOR) as olivia, logged_in(server, FLEET) as fiona:
        token = await csrf_token(olivia)
        forged = await olivia.post("/tokens", data=card)
        created = await olivia.post("/tokens", data={**card, "csrf": token})
        assert created.status_code == 303, created.text
        new_id = await token_id(server, "04A2B3C4")
        shown = await olivia.get(created.headers["location"])
        duplicate = await olivia.post("/tokens", data={**card, "id_tag": "04a2b3c4", "csrf": token})
        bad_expiry = await olivia.post(
            "/tokens", data={**card, "id_tag": "NEW-1", "expires": "soon", "csrf": token}
        )
        no_owner = await olivia.post(
            "/tokens", data={**card, "id_tag": "NEW-2", "owner": "nobody@x.org", "csrf": token}
        )

        blocked = await olivia.post(
            f"/tokens/{new_id}/status", data={"status": "blocked", "csrf": token}
        )
        blocked_page = await olivia.get(blocked.headers["location"])
        changed = await olivia.post(
            f"/tokens/{new_id}",
            data={
                "type": "",
                "expires": "",
                "owner": BOB,
                "organization": fleet_b,
                "group": "",
                "csrf": token,
            },
        )
        changed_page = await olivia.get(changed.headers["location"])
        unblocked = await olivia.post(
            f"/tokens/{new_id}/status", data={"status": "accepted", "csrf": token}
        )

        # a fleet manager's cards stay in the fleet, and other fleets' people are unknown
        fiona_token = await csrf_token(fiona)
        fleet_card = await fiona.post(
            "/tokens",
            data={"id_tag": "FLEET-CARD", "owner": DORA, "status": "accepted", "csrf": fiona_token},
        )
        foreign_owner = await fiona.post(
            "/tokens",
            data={"id_tag": "FLEET-CARD-2", "owner": ALICE, "csrf": fiona_token},
        )
        fleet_list = await fiona.get("/tokens")
        alice_card = await token_id(server, "CARD-ALICE")
        not_hers = await fiona.post(
            f"/tokens/{alice_card}/status", data={"status": "blocked", "csrf": fiona_token}
        )
        not_hers_either = await fiona.post(
            f"/tokens/{alice_card}/delete", data={"csrf": fiona_token}
        )

        confirm = await olivia.get(f"/tokens/{new_id}/delete")
        deleted = await olivia.post(f"/tokens/{new_id}/delete", data={"csrf": token})
        after_delete = await olivia.get(deleted.headers["location"])
        forged_note = await olivia.get("/tokens", params={"deleted": "CARD-ALICE", "sent": "1"})
        gone = await olivia.get(f"/tokens/{new_id}")

    async with server.db() as db:
        all_tags = set((await db.execute(select(IdToken.id_tag))).scalars())
        fleet_row = (
            await db.execute(select(IdToken).where(IdToken.id_tag == "FLEET-CARD"))
        ).scalar_one()

    assert forged.status_code == 403
    assert created.headers["location"].startswith(f"/tokens/{new_id}?done=created&sent=")
    assert "The token was registered." in shown.text
    # the change went to the station holding a local list, which is offline for now
    assert re.search(
        r'<a href="/stations/CP-2">CP-2</a>: command #\d+, station offline', shown.text
    )
    assert "every site" in shown.text and "Alice Driver" in shown.text and "FLEET-A" in shown.text
    assert "2031-12-31 23:59:00 UTC" in shown.text
    assert duplicate.status_code == 409
    assert "The id tag &#39;04a2b3c4&#39; is registered already." in duplicate.text
    assert bad_expiry.status_code == 422 and "is not a date and time" in bad_expiry.text
    assert no_owner.status_code == 422 and "No user with email nobody@x.org." in no_owner.text

    assert "The token is blocked" in blocked_page.text
    assert 'data-fact="status">blocked' in blocked_page.text
    assert "CP-2" in blocked_page.text
    assert "Your changes were saved." in changed_page.text
    assert "Bob Driver" in changed_page.text and "Fleet B" in changed_page.text
    assert unblocked.headers["location"].startswith(f"/tokens/{new_id}?done=unblocked")

    assert fleet_card.status_code == 303
    assert fleet_row.organization_id == int(fleet_b)
    assert foreign_owner.status_code == 422
    assert "No user with email alice@example.com." in foreign_owner.text
    assert tags(fleet_list) == {"FLEET-CARD", "04A2B3C4"}  # Bob's card is now Fleet B's

    assert not_hers.status_code == not_hers_either.status_code == 404

    assert confirm.status_code == 200 and "Delete the token 04A2B3C4?" in confirm.text
    assert deleted.headers["location"].startswith("/tokens?deleted=04A2B3C4&sent=")
    assert "The token 04A2B3C4 was deleted" in after_delete.text
    assert re.search(r"CP-2</a>: command #\d+, station offline", after_delete.text)
    assert "was deleted" not in forged_note.text  # the note is only for a token that is gone
    assert gone.status_code == 404
    assert all_tags == {"CARD-ALICE", "CARD-BOB", "FLEET-CARD"}
