"""Tariffs through the API: kept with their versions, assigned to places and customer
groups, and shown as a price and a quote before charging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from chargeops.billing import service
from tests.api.test_access import add_user, as_user, server
from tests.harness import RunningServer

__all__ = ["server"]  # the fixture, shared with test_access


def document(
    energy: str = "0.30",
    parking: str = "6.00",
    flat: str = "1.00",
    *,
    vat: str | None = "19",
    currency: str = "EUR",
    parking_step: int = 300,
) -> dict[str, Any]:
    """ENERGY per kWh, PARKING_TIME per hour (billed per started 5 minutes), a FLAT fee."""

    def component(kind: str, price: str, step: int = 1) -> dict[str, Any]:
        out: dict[str, Any] = {"type": kind, "price": price, "step_size": step}
        if vat is not None:
            out["vat"] = vat
        return out

    return {
        "currency": currency,
        "elements": [
            {
                "price_components": [
                    component("ENERGY", energy),
                    component("PARKING_TIME", parking, parking_step),
                    component("FLAT", flat),
                ]
            }
        ],
    }


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def make_tariff(
    client: httpx.AsyncClient, name: str, doc: dict[str, Any], valid_from: datetime | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "document": doc}
    if valid_from is not None:
        body["valid_from"] = iso(valid_from)
    response = await client.post("/api/v1/tariffs", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def assign(
    client: httpx.AsyncClient, tariff: dict[str, Any], expect: int = 201, **target: Any
) -> httpx.Response:
    if isinstance(target.get("valid_from"), datetime):
        target["valid_from"] = iso(target["valid_from"])
    response = await client.post(f"/api/v1/tariffs/{tariff['id']}/assignments", json=target)
    assert response.status_code == expect, response.text
    return response


async def site(client: httpx.AsyncClient, name: str, time_zone: str = "Europe/Berlin") -> int:
    response = await client.post("/api/v1/sites", json={"name": name, "time_zone": time_zone})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def place(client: httpx.AsyncClient, station_id: str, site_id: int | None) -> None:
    response = await client.patch(f"/api/v1/stations/{station_id}", json={"site_id": site_id})
    assert response.status_code == 200, response.text


async def test_tariffs_are_created_versioned_renamed_and_deleted(server: RunningServer) -> None:
    async with server.api() as client:
        made = await make_tariff(client, "Standard", document())
        assert made["currency"] == "EUR" and made["versions"] == 1
        first = made["version_in_force"]
        assert first["version"] == 1
        component = first["document"]["elements"][0]["price_components"][0]
        assert component == {"type": "ENERGY", "price": "0.30", "vat": "19", "step_size": 1}
        assert "0.357 EUR per kWh" in first["description"]

        # bad input is refused with the field named, and changes nothing
        refused = {
            "name taken (case ignored)": await client.post(
                "/api/v1/tariffs", json={"name": "STANDARD", "document": document()}
            ),
            "negative price": await client.post(
                "/api/v1/tariffs", json={"name": "Bad", "document": document(energy="-1")}
            ),
            "no currency": await client.post("/api/v1/tariffs", json={"name": "Empty"}),
            "other currency": await client.post(
                f"/api/v1/tariffs/{made['id']}/versions",
                json={"document": document(currency="USD")},
            ),
            "OCPI validity": await client.post(
                f"/api/v1/tariffs/{made['id']}/versions",
                json={"document": {**document(), "end_date_time": "2030-01-01T00:00:00Z"}},
            ),
            "unknown field": await client.post(
                f"/api/v1/tariffs/{made['id']}/versions",
                json={"document": {**document(), "colour": "red"}},
            ),
        }
        codes = {why: r.status_code for why, r in refused.items()}
        assert codes == {
            "name taken (case ignored)": 409,
            "negative price": 422,
            "no currency": 422,
            "other currency": 422,
            "OCPI validity": 422,
            "unknown field": 422,
        }
        assert (
            "document.elements[0].price_components[0].price"
            in refused["negative price"].json()["detail"]
        )
        assert "document.currency" in refused["other currency"].json()["detail"]
        listed = (await client.get("/api/v1/tariffs")).json()["items"]
        assert [t["name"] for t in listed] == ["Standard"] and listed[0]["versions"] == 1

        # a version from tomorrow is kept but not in force yet; one from now is
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        later = await client.post(
            f"/api/v1/tariffs/{made['id']}/versions",
            json={"document": document(energy="0.40"), "valid_from": iso(tomorrow)},
        )
        assert later.status_code == 201 and later.json()["version"] == 2
        shown = (await client.get(f"/api/v1/tariffs/{made['id']}")).json()
        assert shown["version_in_force"]["version"] == 1 and shown["versions"] == 2
        now = await client.post(
            f"/api/v1/tariffs/{made['id']}/versions", json={"document": document(energy="0.35")}
        )
        assert now.json()["version"] == 3
        shown = (await client.get(f"/api/v1/tariffs/{made['id']}")).json()
        assert shown["version_in_force"]["version"] == 3
        versions = (await client.get(f"/api/v1/tariffs/{made['id']}/versions")).json()
        prices = [v["document"]["elements"][0]["price_components"][0]["price"] for v in versions]
        assert [v["version"] for v in versions] == [1, 2, 3]
        assert prices == ["0.30", "0.40", "0.35"]  # every version kept as it was

        other = await make_tariff(client, "Night", document(energy="0.20"))
        renamed = await client.patch(f"/api/v1/tariffs/{made['id']}", json={"name": "Day"})
        clash = await client.patch(f"/api/v1/tariffs/{made['id']}", json={"name": "night"})
        assert renamed.status_code == 200 and renamed.json()["name"] == "Day"
        assert clash.status_code == 409
        assert (await client.delete(f"/api/v1/tariffs/{other['id']}")).status_code == 204
        assert (await client.get(f"/api/v1/tariffs/{other['id']}")).status_code == 404
        assert (await client.get(f"/api/v1/tariffs/{other['id']}/versions")).status_code == 404


async def _price(client: httpx.AsyncClient, station: str, **params: Any) -> str | int:
    """The energy price (excl. VAT) in force for the caller, or the status code."""
    response = await client.get(f"/api/v1/stations/{station}/price", params=params)
    if response.status_code != 200:
        return response.status_code
    energy = [c for c in response.json()["components"] if c["type"] == "ENERGY"]
    return str(energy[0]["price_excl_vat"])


async def test_the_most_specific_assignment_wins_and_organizations_get_their_own(
    server: RunningServer,
) -> None:
    await server.add_station("CP-1")
    await server.add_station("CP-2")
    await add_user(server, "driver-a@example.com", "driver", org="Fleet A")
    await add_user(server, "driver-b@example.com", "driver", org="Fleet B")
    async with server.api() as admin:
        here = await site(admin, "Car park")
        await place(admin, "CP-1", here)
        orgs = (await admin.get("/api/v1/organizations")).json()["items"]
        org_a = next(o for o in orgs if o["name"] == "Fleet A")
        tariffs = {
            name: await make_tariff(admin, name, document(energy=price))
            for name, price in (
                ("Default", "0.50"),
                ("Site", "0.40"),
                ("Fleet", "0.20"),
                ("Station", "0.35"),
                ("Connector", "0.30"),
            )
        }
        assert await _price(admin, "CP-1") == 404  # nothing assigned anywhere yet
        await assign(admin, tariffs["Default"], scope="default")
        assert await _price(admin, "CP-1") == "0.50"
        await assign(admin, tariffs["Site"], scope="site", site_id=here)
        assert await _price(admin, "CP-1") == "0.40"
        await assign(
            admin, tariffs["Fleet"], scope="site", site_id=here, organization_id=org_a["id"]
        )
        async with (
            await as_user(server, "driver-a@example.com") as driver_a,
            await as_user(server, "driver-b@example.com") as driver_b,
        ):
            # within the site, Fleet A's override beats the site's price, for Fleet A only
            assert await _price(admin, "CP-1") == "0.40"
            assert await _price(driver_a, "CP-1") == "0.20"
            assert await _price(driver_b, "CP-1") == "0.40"
            # a tariff manager may look at a group's price; a driver only at their own
            assert await _price(admin, "CP-1", organization_id=org_a["id"]) == "0.20"
            assert await _price(driver_b, "CP-1", organization_id=org_a["id"]) == 403

            # a more specific target beats the override at a wider one
            await assign(admin, tariffs["Station"], scope="station", station_id="CP-1")
            await assign(
                admin, tariffs["Connector"], scope="connector", station_id="CP-1", evse_id=2
            )
            assert await _price(driver_a, "CP-1") == "0.35"
            assert await _price(driver_a, "CP-1", evse_id=1) == "0.35"
            assert await _price(driver_a, "CP-1", evse_id=2) == "0.30"
            assert await _price(driver_b, "CP-2") == "0.50"  # at no site: the default

        # one tariff per place and audience; bad targets are refused and change nothing
        await assign(admin, tariffs["Default"], expect=409, scope="site", site_id=here)
        again = await assign(admin, tariffs["Site"], expect=201, scope="site", site_id=here)
        assert again.json()["tariff_id"] == tariffs["Site"]["id"]  # already so: unchanged
        for bad in (
            {"scope": "site"},
            {"scope": "site", "site_id": here, "station_id": "CP-1"},
            {"scope": "station", "station_id": "NOPE"},
            {"scope": "connector", "station_id": "CP-1", "evse_id": 0},
            {"scope": "default", "organization_id": 9999},
            {"scope": "region"},
        ):
            await assign(admin, tariffs["Default"], expect=422, **bad)
        listed = (await admin.get(f"/api/v1/tariffs/{tariffs['Default']['id']}")).json()
        assert [a["scope"] for a in listed["assignments"]] == ["default"]

        # unassigning falls back to the next rule down; the assignment is kept as history
        path = f"/api/v1/tariffs/{tariffs['Station']['id']}/assignments"
        gone = await admin.delete(path, params={"scope": "station", "station_id": "CP-1"})
        assert gone.status_code == 204
        twice = await admin.delete(path, params={"scope": "station", "station_id": "CP-1"})
        assert twice.status_code == 404
        assert await _price(admin, "CP-1", evse_id=1) == "0.40"
        history = (await admin.get(path, params={"include_removed": "true"})).json()
        assert history[0]["removed_at"] is not None
        assert (await admin.get(path)).json() == []

        # subscription plans: kept and resolved like organizations, once drivers have plans
        gold = await make_tariff(admin, "Gold plan", document(energy="0.25"))
        await assign(admin, gold, scope="site", site_id=here, plan="gold")
    async with server.db() as db:
        now = datetime.now(UTC)
        on_plan = await service.tariff_for(db, "CP-1", 1, None, now, plan="gold")
        off_plan = await service.tariff_for(db, "CP-1", 1, None, now)
        both = await service.tariff_for(db, "CP-1", 1, org_a["id"], now, plan="gold")
    assert on_plan is not None and on_plan.tariff.name == "Gold plan"
    assert off_plan is not None and off_plan.tariff.name == "Site"
    assert both is not None and both.tariff.name == "Fleet"  # organization before plan


async def test_a_tariff_not_in_force_yet_leaves_the_place_to_the_next_rule(
    server: RunningServer,
) -> None:
    await server.add_station("CP-1")
    next_month = datetime.now(UTC) + timedelta(days=30)
    async with server.api() as admin:
        await assign(
            admin, await make_tariff(admin, "Now", document(energy="0.40")), scope="default"
        )
        later = await make_tariff(admin, "Later", document(energy="0.25"), valid_from=next_month)
        await assign(admin, later, scope="station", station_id="CP-1")
        assert await _price(admin, "CP-1") == "0.40"
        quoted = await admin.post(
            "/api/v1/stations/CP-1/quote",
            json={"energy_kwh": "10", "start": iso(next_month + timedelta(days=1))},
        )
    assert quoted.json()["tariff"]["name"] == "Later"


async def test_price_and_quote_before_charging(server: RunningServer) -> None:
    await server.add_station("CP-Q")
    await add_user(server, "driver@example.com", "driver", org="Fleet A")
    async with server.api() as admin:
        here = await site(admin, "Berlin Mitte")
        await place(admin, "CP-Q", here)
        night: dict[str, Any] = document()
        night["elements"].insert(
            0,
            {
                "price_components": [
                    {"type": "ENERGY", "price": "0.20", "vat": "19", "step_size": 1}
                ],
                "restrictions": {"start_time": "22:00", "end_time": "06:00"},
            },
        )
        standard = await make_tariff(admin, "Standard", night)
        await assign(admin, standard, scope="site", site_id=here)
        org = (await admin.get("/api/v1/organizations")).json()["items"][0]["id"]
        fleet = await make_tariff(admin, "Fleet", document(energy="0.25", flat="0.00"))
        await assign(admin, fleet, scope="site", site_id=here, organization_id=org)

        shown = (await admin.get("/api/v1/stations/CP-Q/price", params={"evse_id": 1})).json()
        assert shown["tariff"]["name"] == "Standard" and shown["tariff"]["version"] == 1
        assert shown["description"].startswith("0.238 EUR per kWh from 22:00 to 06:00")
        assert "otherwise 0.357 EUR per kWh" in shown["description"]
        assert shown["description_excl_vat"].startswith("0.20 EUR per kWh from 22:00 to 06:00")
        figures = [
            (c["element"], c["type"], c["unit"], c["price_excl_vat"], c["price_incl_vat"])
            for c in shown["components"]
        ]
        assert figures == [
            (0, "ENERGY", "kWh", "0.20", "0.238"),
            (1, "ENERGY", "kWh", "0.30", "0.357"),
            (1, "PARKING_TIME", "hour", "6.00", "7.14"),
            (1, "FLAT", "session", "1.00", "1.19"),
        ]
        assert shown["components"][0]["restrictions"] == {
            "start_time": "22:00",
            "end_time": "06:00",
        }
        assert shown["document"]["elements"][0]["restrictions"]["start_time"] == "22:00"

        # 30 kWh at the default 11 kW, on a weekday afternoon (local time), then 10 min
        # parked: 30 kWh x 0.30 + 600 s x 6.00/h + 1.00 = 9.00 + 1.00 + 1.00 = 11.00,
        # incl. 19 % VAT 13.09; charging lasts 30/11 h = 9818.18 s, rounded up to 9819 s
        quoted = await admin.post(
            "/api/v1/stations/CP-Q/quote",
            json={"energy_kwh": 30, "start": "2030-01-15T14:00:00", "idle_minutes": 10},
        )
        assert quoted.status_code == 200, quoted.text
        q = quoted.json()
        assert (q["power_kw"], q["power_source"]) == ("11", "default")
        assert q["total"] == {"excl_vat": "11.00", "vat": "2.09", "incl_vat": "13.09"}
        assert (q["charging_s"], q["parking_s"], q["energy_wh"]) == ("9819", "600", 30_000)
        assert q["start"].startswith("2030-01-15T13:00:00")  # 14:00 in Berlin is 13:00 UTC
        assert [line["dimension"] for line in q["lines"]] == ["ENERGY", "PARKING_TIME", "FLAT"]

        # at night, faster: 11 kWh at 22 kW from 23:00 local is all night energy
        at_night = await admin.post(
            "/api/v1/stations/CP-Q/quote",
            json={"energy_kwh": "11", "power_kw": "22", "start": "2030-01-15T23:00:00"},
        )
        n = at_night.json()
        assert (n["power_kw"], n["power_source"], n["charging_s"]) == ("22", "request", "1800")
        assert n["total"] == {"excl_vat": "3.20", "vat": "0.61", "incl_vat": "3.81"}

        bad = await admin.post("/api/v1/stations/CP-Q/quote", json={"energy_kwh": 0})
        unknown = await admin.post("/api/v1/stations/NOPE/quote", json={"energy_kwh": 5})
        assert (bad.status_code, unknown.status_code) == (422, 404)

    # a driver of the fleet sees the fleet's price, and is quoted by it
    async with await as_user(server, "driver@example.com") as driver:
        mine = (await driver.get("/api/v1/stations/CP-Q/price")).json()
        quoted = await driver.post(
            "/api/v1/stations/CP-Q/quote", json={"energy_kwh": "20", "power_kw": "50"}
        )
    assert mine["tariff"]["name"] == "Fleet" and mine["organization_id"] == org
    assert "0.2975 EUR per kWh" in mine["description"]
    assert quoted.json()["tariff"]["name"] == "Fleet"
    # 20 kWh x 0.25 = 5.00, incl. VAT 5.95; no parking, no start fee
    assert quoted.json()["total"] == {"excl_vat": "5.00", "vat": "0.95", "incl_vat": "5.95"}
    assert Decimal(quoted.json()["charging_s"]) == 1440
