"""Sites through the API: where stations stand, moving stations between them, and who
may change them."""

from __future__ import annotations

from tests.api.test_access import add_user, as_user, server
from tests.harness import RunningServer

__all__ = ["server"]  # the fixture, shared with test_access

DEPOT = {
    "name": "Depot North",
    "address": "Hafenstraße 12",
    "city": "Hamburg",
    "postal_code": "20457",
    "country": "de",
    "latitude": "53.541500",
    "longitude": 9.9843,
    "time_zone": "Europe/Berlin",
    "opening_hours": {
        "regular_hours": [
            {"weekday": 6, "begin": "08:00", "end": "14:00"},
            {"weekday": 1, "begin": "06:00", "end": "22:00"},
        ]
    },
}


async def test_sites_are_created_listed_changed_and_deleted(server: RunningServer) -> None:
    async with server.api() as client:
        made = await client.post("/api/v1/sites", json=DEPOT)
        assert made.status_code == 201, made.text
        site = made.json()
        assert site["country"] == "DE" and site["time_zone"] == "Europe/Berlin"
        assert site["latitude"] == "53.541500" and site["longitude"] == "9.9843"
        assert site["opening_hours"]["regular_hours"][0]["weekday"] == 1  # sorted by day
        plain = (await client.post("/api/v1/sites", json={"name": "Street 4"})).json()
        assert plain["time_zone"] == "UTC" and plain["opening_hours"] is None

        refused = {
            "taken (ignoring case)": {"name": "depot north"},
            "unknown zone": {"name": "A", "time_zone": "Mars/Olympus"},
            "latitude": {"name": "B", "latitude": 91, "longitude": 0},
            "one coordinate": {"name": "C", "latitude": 50},
            "hours": {"name": "D", "opening_hours": {"regular_hours": [{"weekday": 8}]}},
            "both": {
                "name": "E",
                "opening_hours": {
                    "twentyfourseven": True,
                    "regular_hours": [{"weekday": 1, "begin": "08:00", "end": "09:00"}],
                },
            },
            "country": {"name": "F", "country": "Germany"},
        }
        codes = {
            why: (await client.post("/api/v1/sites", json=body)).status_code
            for why, body in refused.items()
        }
        assert codes == {why: 409 if why.startswith("taken") else 422 for why in refused}
        assert len((await client.get("/api/v1/sites")).json()["items"]) == 2

        changed = await client.patch(
            f"/api/v1/sites/{plain['id']}",
            json={"name": "Street 4a", "opening_hours": {"twentyfourseven": True}},
        )
        assert changed.status_code == 200
        assert changed.json()["opening_hours"] == {"twentyfourseven": True}
        clash = await client.patch(f"/api/v1/sites/{plain['id']}", json={"name": "DEPOT NORTH"})
        assert clash.status_code == 409
        found = (await client.get("/api/v1/sites", params={"q": "hamburg"})).json()["items"]
        assert [s["id"] for s in found] == [site["id"]]

        assert (await client.delete(f"/api/v1/sites/{plain['id']}")).status_code == 204
        assert (await client.get(f"/api/v1/sites/{plain['id']}")).status_code == 404


async def test_stations_move_between_sites(server: RunningServer) -> None:
    await server.add_station("CP-1")
    await server.add_station("CP-2")
    async with server.api() as client:
        north = (await client.post("/api/v1/sites", json={"name": "North"})).json()
        south = (await client.post("/api/v1/sites", json={"name": "South"})).json()
        for station in ("CP-1", "CP-2"):
            response = await client.patch(
                f"/api/v1/stations/{station}", json={"site_id": north["id"]}
            )
            assert response.status_code == 200
        moved = await client.patch("/api/v1/stations/CP-2", json={"site_id": south["id"]})
        assert moved.json()["site_id"] == south["id"]
        at_north = (await client.get(f"/api/v1/sites/{north['id']}")).json()
        assert at_north["station_ids"] == ["CP-1"] and at_north["station_count"] == 1
        counts = {
            s["name"]: s["station_count"]
            for s in (await client.get("/api/v1/sites")).json()["items"]
        }
        assert counts == {"North": 1, "South": 1}

        nowhere = await client.patch("/api/v1/stations/CP-1", json={"site_id": 999})
        unknown = await client.patch("/api/v1/stations/CP-9", json={"site_id": north["id"]})
        assert (nowhere.status_code, unknown.status_code) == (404, 404)
        busy = await client.delete(f"/api/v1/sites/{south['id']}")
        assert busy.status_code == 409 and "move them" in busy.json()["detail"]
        await client.patch("/api/v1/stations/CP-2", json={"site_id": None})
        assert (await client.delete(f"/api/v1/sites/{south['id']}")).status_code == 204
        assert (await client.get("/api/v1/stations/CP-2")).json()["site_id"] is None


async def test_everyone_reads_sites_and_only_operators_change_them(
    server: RunningServer,
) -> None:
    await server.add_station("CP-1")
    async with server.api() as client:
        site = (await client.post("/api/v1/sites", json={"name": "Depot"})).json()
    codes: dict[str, tuple[int, int, int]] = {}
    for role in ("operator", "technician", "support", "fleet_manager", "driver"):
        await add_user(server, f"{role}@example.com", role)
        async with await as_user(server, f"{role}@example.com") as client:
            read = await client.get(f"/api/v1/sites/{site['id']}")
            write = await client.patch(f"/api/v1/sites/{site['id']}", json={"city": role})
            move = await client.patch("/api/v1/stations/CP-1", json={"site_id": site["id"]})
            codes[role] = (read.status_code, write.status_code, move.status_code)
    assert codes == {
        "operator": (200, 200, 200),
        "technician": (200, 403, 403),
        "support": (200, 403, 403),
        "fleet_manager": (200, 403, 403),
        "driver": (200, 403, 403),
    }


async def test_a_site_that_tokens_are_kept_to_is_not_deleted(server: RunningServer) -> None:
    async with server.api() as client:
        site = (await client.post("/api/v1/sites", json={"name": "Only here"})).json()
        token = await client.post("/api/v1/tokens", json={"id_tag": "C1", "site_ids": [site["id"]]})
        refused = await client.delete(f"/api/v1/sites/{site['id']}")
        # deleting it would have freed the card to charge everywhere
        assert refused.status_code == 409 and "tokens kept to it" in refused.json()["detail"]
        await client.patch(f"/api/v1/tokens/{token.json()['id']}", json={"site_ids": None})
        assert (await client.delete(f"/api/v1/sites/{site['id']}")).status_code == 204
