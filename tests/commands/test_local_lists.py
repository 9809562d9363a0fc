"""Local authorization lists: pushed to the stations that use them, with versions kept
per station, and kept current when a token changes (even for a station that was away)."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201

from tests.commands.test_commands import command
from tests.harness import RunningServer, charge_point


class ListHolder16(ChargePoint16):  # type: ignore[misc]
    """A 1.6 station with its local list on, keeping what it is sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lists: list[dict[str, Any]] = []
        self.answer = "Accepted"

    @on("GetConfiguration")
    async def get_configuration(self, key: list[str] | None = None) -> Any:
        return result16.GetConfiguration(
            configuration_key=[{"key": "LocalAuthListEnabled", "readonly": False, "value": "true"}]
        )

    @on("SendLocalList")
    async def send_local_list(self, **payload: Any) -> Any:
        self.lists.append(payload)
        return result16.SendLocalList(status=self.answer)

    @on("GetLocalListVersion")
    async def get_local_list_version(self) -> Any:
        return result16.GetLocalListVersion(list_version=41)

    def entries(self, index: int = -1) -> dict[str, str | None]:
        """id tag -> status of one list sent (None: to be removed)."""
        return {
            e["id_tag"]: (e.get("id_tag_info") or {}).get("status")
            for e in self.lists[index].get("local_authorization_list", [])
        }


class ListHolder201(ChargePoint201):  # type: ignore[misc]
    lists: list[dict[str, Any]]

    @on("SendLocalList")
    async def send_local_list(self, **payload: Any) -> Any:
        self.lists.append(payload)
        return result201.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    async def get_local_list_version(self) -> Any:
        return result201.GetLocalListVersion(version_number=7)


async def settled(server: RunningServer, ids: list[int]) -> list[dict[str, Any]]:
    """The commands once the stations answered them."""
    for _ in range(300):
        records = [await server.get(f"/api/v1/commands/{i}") for i in ids]
        if all(r["status"] not in ("pending", "sent") for r in records):
            return records
        await asyncio.sleep(0.02)
    raise AssertionError(f"commands {ids} still unanswered")


async def local_list(server: RunningServer, station_id: str) -> dict[str, Any]:
    return dict(await server.get(f"/api/v1/stations/{station_id}/local-list"))


async def push(server: RunningServer, **body: Any) -> list[dict[str, Any]]:
    async with server.api() as client:
        response = await client.post("/api/v1/local-lists/push", json=body)
    assert response.status_code == 200, response.text
    return await settled(server, [c["id"] for c in response.json()])


async def test_a_push_reaches_the_stations_that_use_a_local_list(server: RunningServer) -> None:
    for station in ("CP-LIST", "CP-ONLINE-ONLY", "CP-OTHER-SITE"):
        await server.add_station(station)
    async with server.api() as client:
        here = (await client.post("/api/v1/sites", json={"name": "Here"})).json()["id"]
        there = (await client.post("/api/v1/sites", json={"name": "There"})).json()["id"]
        await client.patch("/api/v1/stations/CP-LIST", json={"site_id": here})
        await client.patch("/api/v1/stations/CP-OTHER-SITE", json={"site_id": there})
        for tag, body in [
            ("CARD-OK", {}),
            ("CARD-LOST", {"status": "blocked"}),
            ("CARD-THERE", {"site_ids": [there]}),
            ("CARD-HERE", {"site_ids": [here]}),
        ]:
            made = await client.post("/api/v1/tokens", json={"id_tag": tag, **body})
            assert made.status_code == 201
    async with (
        charge_point(server, "CP-LIST", charger_class=ListHolder16) as holder,
        charge_point(server, "CP-ONLINE-ONLY", charger_class=ListHolder16) as other,
    ):
        # what the station says of itself is learned by reading its configuration
        assert (await command(server, "CP-LIST", "get_configuration")).json()["status"] == (
            "accepted"
        )
        assert await local_list(server, "CP-LIST") == {
            "station_id": "CP-LIST",
            "version": 0,
            "entries": None,
            "stale": False,
            "updated_at": None,
        }
        first = await push(server)
        second = await push(server)
    assert [c["station_id"] for c in first] == ["CP-LIST"] and not other.lists
    assert [c["status"] for c in first + second] == ["accepted", "accepted"]
    assert [p["list_version"] for p in holder.lists] == [1, 2]  # kept per station
    assert holder.lists[0]["update_type"] == "Full"
    assert holder.entries() == {
        "CARD-OK": "Accepted",
        "CARD-LOST": "Blocked",
        "CARD-HERE": "Accepted",
    }
    state = await local_list(server, "CP-LIST")
    assert (state["version"], state["entries"], state["stale"]) == (2, 3, False)


async def test_a_token_change_reaches_every_list_and_a_station_that_was_away(
    server: RunningServer,
) -> None:
    await server.add_station("CP-A")
    await server.add_station("CP-B")
    async with server.api() as client:
        card = (await client.post("/api/v1/tokens", json={"id_tag": "CARD-1"})).json()
        spare = (await client.post("/api/v1/tokens", json={"id_tag": "CARD-2"})).json()
    async with (
        charge_point(server, "CP-A", charger_class=ListHolder16) as a,
        charge_point(server, "CP-B", charger_class=ListHolder16) as b,
    ):
        await push(server, station_ids=["CP-A", "CP-B"])
        async with server.api() as client:
            blocked = (
                await client.patch(f"/api/v1/tokens/{card['id']}", json={"status": "blocked"})
            ).json()
        updates = await settled(server, blocked["local_list_commands"])
        assert sorted(c["station_id"] for c in updates) == ["CP-A", "CP-B"]
        for station in (a, b):
            assert station.lists[-1]["update_type"] == "Differential"
            assert station.lists[-1]["list_version"] == 2
            assert station.entries() == {"CARD-1": "Blocked"}
    # CP-B is away while a card is removed; it is told when it comes back
    async with charge_point(server, "CP-A", charger_class=ListHolder16) as a:
        async with server.api() as client:
            response = await client.delete(f"/api/v1/tokens/{spare['id']}")
            assert response.status_code == 204
        for _ in range(200):
            if a.lists:
                break
            await asyncio.sleep(0.02)
        assert a.entries() == {"CARD-2": None}  # removed from the list
    assert (await local_list(server, "CP-B"))["stale"] is True
    async with charge_point(server, "CP-B", charger_class=ListHolder16) as b:
        for _ in range(400):  # a moment after it connects
            if b.lists:
                break
            await asyncio.sleep(0.02)
        assert b.lists and b.lists[0]["update_type"] == "Full"
        assert b.entries(0) == {"CARD-1": "Blocked"}
        for _ in range(100):
            state = await local_list(server, "CP-B")
            if not state["stale"]:
                break
            await asyncio.sleep(0.02)
    assert state["stale"] is False
    assert state["version"] == b.lists[0]["list_version"] > 2  # versions only grow


async def test_a_station_with_another_list_version_gets_the_whole_list(
    server: RunningServer,
) -> None:
    await server.add_station("CP-M")
    async with server.api() as client:
        card = (await client.post("/api/v1/tokens", json={"id_tag": "CARD-1"})).json()
    async with charge_point(server, "CP-M", charger_class=ListHolder16) as cp:
        await push(server, station_ids=["CP-M"])
        cp.answer = "VersionMismatch"
        async with server.api() as client:
            await client.patch(f"/api/v1/tokens/{card['id']}", json={"status": "blocked"})
        for _ in range(300):
            if len(cp.lists) >= 3:
                break
            await asyncio.sleep(0.02)
        assert [p["update_type"] for p in cp.lists] == ["Full", "Differential", "Full"]
        assert cp.entries() == {"CARD-1": "Blocked"}


async def test_list_versions_in_201_and_as_stations_report_them(server: RunningServer) -> None:
    await server.add_station("CP-201")
    await server.add_station("CP-16")
    await server.add_token("CARD-1", token_type="ISO14443")
    async with (
        charge_point(server, "CP-201", version="2.0.1", charger_class=ListHolder201) as cp,
        charge_point(server, "CP-16", charger_class=ListHolder16),
    ):
        cp.lists = []
        (sent,) = await push(server, station_ids=["CP-201"])
        reported = (await command(server, "CP-16", "get_local_list_version")).json()
    assert sent["status"] == "accepted" and reported["status"] == "accepted"
    (payload,) = cp.lists
    assert payload["version_number"] == 1 and payload["update_type"] == "Full"
    assert payload["local_authorization_list"][0]["id_token"] == {
        "id_token": "CARD-1",
        "type": "ISO14443",
    }
    assert (await local_list(server, "CP-201"))["version"] == 1
    assert (await local_list(server, "CP-16"))["version"] == 41  # as the station said
    async with server.api() as client:
        unknown = await client.post("/api/v1/local-lists/push", json={"station_ids": ["NOPE"]})
    assert unknown.status_code == 404


async def test_a_station_moved_to_another_site_gets_that_sites_list(
    server: RunningServer,
) -> None:
    await server.add_station("CP-MOVE")
    async with server.api() as client:
        here = (await client.post("/api/v1/sites", json={"name": "Here"})).json()["id"]
        there = (await client.post("/api/v1/sites", json={"name": "There"})).json()["id"]
        await client.patch("/api/v1/stations/CP-MOVE", json={"site_id": here})
        await client.post("/api/v1/tokens", json={"id_tag": "CARD-HERE", "site_ids": [here]})
        await client.post("/api/v1/tokens", json={"id_tag": "CARD-ANY"})
    async with charge_point(server, "CP-MOVE", charger_class=ListHolder16) as cp:
        await push(server, station_ids=["CP-MOVE"])
        assert cp.entries() == {"CARD-HERE": "Accepted", "CARD-ANY": "Accepted"}
        async with server.api() as client:
            moved = await client.patch("/api/v1/stations/CP-MOVE", json={"site_id": there})
            assert moved.status_code == 200
        for _ in range(200):
            if len(cp.lists) > 1:
                break
            await asyncio.sleep(0.02)
        # the card kept to the old site no longer charges there offline
        assert cp.lists[-1]["update_type"] == "Full"
        assert cp.entries() == {"CARD-ANY": "Accepted"}
