"""Tokens (id tags) through the API: who may see and change which, and what a change
does to the next authorization, in OCPP 1.6 and 2.0.1."""

from __future__ import annotations

from typing import Any

import httpx
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargeops.users.models import User
from tests.api.test_access import add_user, as_user, server
from tests.harness import RunningServer, charge_point, now_iso

__all__ = ["server"]  # the fixture, shared with test_access


async def _create(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/tokens", json=body)


async def _site(server: RunningServer, name: str) -> int:
    async with server.api() as client:
        response = await client.post("/api/v1/sites", json={"name": name})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_an_operator_registers_changes_and_removes_tokens(server: RunningServer) -> None:
    site = await _site(server, "Depot North")
    async with server.api() as client:
        made = await _create(
            client,
            id_tag="04A1B2C3",
            type="ISO14443",
            expires_at="2030-01-01T00:00:00+01:00",
            parent_id_tag="FLEET-7",
            site_ids=[site],
        )
        assert made.status_code == 201, made.text
        token = made.json()
        assert token["status"] == "accepted" and token["site_ids"] == [site]
        assert token["expires_at"].startswith("2029-12-31T23:00:00")  # kept in UTC
        again = await _create(client, id_tag="04a1b2c3")
        assert again.status_code == 409  # id tags ignore case
        bad = await _create(client, id_tag="X1", status="lost")
        unknown_site = await _create(client, id_tag="X2", site_ids=[site + 100])
        naive = await _create(client, id_tag="X3", expires_at="2030-01-01T00:00:00")
        assert [r.status_code for r in (bad, unknown_site, naive)] == [422, 422, 422]
        assert "no site" in unknown_site.json()["detail"]
        listed = (await client.get("/api/v1/tokens")).json()["items"]
        assert [t["id_tag"] for t in listed] == ["04A1B2C3"]  # the refused made nothing

        blocked = await client.patch(
            f"/api/v1/tokens/{token['id']}", json={"status": "blocked", "site_ids": None}
        )
        assert blocked.status_code == 200
        assert blocked.json()["status"] == "blocked" and blocked.json()["site_ids"] is None
        renamed = await client.patch(f"/api/v1/tokens/{token['id']}", json={"id_tag": "OTHER"})
        assert renamed.status_code == 422
        assert (await client.get("/api/v1/tokens", params={"status": "blocked"})).json()["items"][
            0
        ]["id"] == token["id"]
        gone = await client.delete(f"/api/v1/tokens/{token['id']}")
        assert gone.status_code == 204
        assert (await client.get(f"/api/v1/tokens/{token['id']}")).status_code == 404


async def test_fleet_managers_and_drivers_reach_only_their_own_tokens(
    server: RunningServer,
) -> None:
    await add_user(server, "fleet-a@example.com", "fleet_manager", org="Fleet A")
    driver_a = await add_user(server, "driver-a@example.com", "driver", org="Fleet A")
    await add_user(server, "fleet-b@example.com", "fleet_manager", org="Fleet B")
    driver_b = await add_user(server, "driver-b@example.com", "driver", org="Fleet B")
    await add_user(server, "tech@example.com", "technician")
    async with await as_user(server, "fleet-b@example.com") as fleet_b:
        card_b = (await _create(fleet_b, id_tag="CARD-B", user_id=driver_b)).json()
        assert card_b["organization_id"] is not None  # placed in fleet B, unasked
    async with await as_user(server, "fleet-a@example.com") as fleet_a:
        card_a = await _create(fleet_a, id_tag="CARD-A", user_id=driver_a)
        assert card_a.status_code == 201, card_a.text
        other_fleet = await _create(
            fleet_a, id_tag="CARD-X", organization_id=card_b["organization_id"]
        )
        their_driver = await _create(fleet_a, id_tag="CARD-Y", user_id=driver_b)
        seen = [t["id_tag"] for t in (await fleet_a.get("/api/v1/tokens")).json()["items"]]
        peek = await fleet_a.get(f"/api/v1/tokens/{card_b['id']}")
        block = await fleet_a.patch(f"/api/v1/tokens/{card_b['id']}", json={"status": "blocked"})
        delete = await fleet_a.delete(f"/api/v1/tokens/{card_b['id']}")
        own = await fleet_a.patch(
            f"/api/v1/tokens/{card_a.json()['id']}", json={"status": "blocked"}
        )
    assert seen == ["CARD-A"]
    assert (other_fleet.status_code, their_driver.status_code) == (403, 403)
    assert (peek.status_code, block.status_code, delete.status_code) == (404, 404, 404)
    assert own.status_code == 200
    async with await as_user(server, "driver-a@example.com") as driver:
        mine = [t["id_tag"] for t in (await driver.get("/api/v1/tokens")).json()["items"]]
        theirs = await driver.get(f"/api/v1/tokens/{card_b['id']}")
        make = await _create(driver, id_tag="MY-OWN")
    assert mine == ["CARD-A"] and theirs.status_code == 404 and make.status_code == 403
    async with await as_user(server, "tech@example.com") as tech:
        assert (await tech.get("/api/v1/tokens")).status_code == 403
    async with server.api() as admin:
        card_b_now = (await admin.get(f"/api/v1/tokens/{card_b['id']}")).json()
    assert card_b_now["status"] == "accepted"  # fleet A's attempts changed nothing


async def test_token_changes_take_effect_at_the_next_authorization(
    server: RunningServer,
) -> None:
    here, there = await _site(server, "Here"), await _site(server, "There")
    await server.add_station("CP-16")
    await server.add_station("CP-201")
    async with server.api() as client:
        for station in ("CP-16", "CP-201"):
            moved = await client.patch(f"/api/v1/stations/{station}", json={"site_id": here})
            assert moved.status_code == 200 and moved.json()["site_id"] == here
        card = (await _create(client, id_tag="CARD-1", parent_id_tag="GROUP-1")).json()
        owner = await add_user(server, "owner@example.com", "driver")
        owned = (await _create(client, id_tag="CARD-2", user_id=owner)).json()

        async def change(token: dict[str, Any], **body: Any) -> None:
            response = await client.patch(f"/api/v1/tokens/{token['id']}", json=body)
            assert response.status_code == 200, response.text

        async with (
            charge_point(server, "CP-16") as cp16,
            charge_point(server, "CP-201", version="2.0.1") as cp201,
        ):

            async def verdicts(tag: str = "CARD-1") -> tuple[dict[str, Any], dict[str, Any]]:
                old = await cp16.call(call16.Authorize(id_tag=tag))
                new = await cp201.call(
                    call201.Authorize(id_token={"id_token": tag, "type": "ISO14443"})
                )
                return old.id_tag_info, new.id_token_info

            old, new = await verdicts()
            assert old["status"] == new["status"] == "Accepted"
            assert old["parent_id_tag"] == "GROUP-1"
            assert new["group_id_token"] == {"id_token": "GROUP-1", "type": "Central"}

            await change(card, status="blocked")
            old, new = await verdicts()
            assert old["status"] == new["status"] == "Blocked"

            await change(card, status="accepted", expires_at="2020-01-01T00:00:00Z")
            old, new = await verdicts()
            assert old["status"] == new["status"] == "Expired"

            await change(card, expires_at=None, site_ids=[there])
            old, new = await verdicts()
            assert (old["status"], new["status"]) == ("Invalid", "NotAtThisLocation")

            await change(card, site_ids=[there, here])
            old, new = await verdicts()
            assert old["status"] == new["status"] == "Accepted"

            # a 1.6 transaction started with a token blocked meanwhile is refused
            await change(card, status="blocked")
            started = await cp16.call(
                call16.StartTransaction(
                    connector_id=1, id_tag="CARD-1", meter_start=0, timestamp=now_iso()
                )
            )
            assert started.id_tag_info["status"] == "Blocked"

            # the owner's account disabled: their card no longer charges
            async with server.db() as db:
                user = await db.get(User, owner)
                assert user is not None
                user.status = "disabled"
                await db.commit()
            old, new = await verdicts("CARD-2")
            assert old["status"] == new["status"] == "Blocked"

            assert (await client.delete(f"/api/v1/tokens/{owned['id']}")).status_code == 204
            old, new = await verdicts("CARD-2")
            assert old["status"] == new["status"] == "Invalid"
