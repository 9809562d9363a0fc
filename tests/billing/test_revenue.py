"""Revenue per local day (``GET /api/v1/revenue/daily``), from CDRs that real OCPP 1.6
sessions produced: days in the zone asked for, per currency, credits subtracted,
unpriced sessions counted without money, each caller seeing what their CDRs allow.

The sessions (D is three days ago in Berlin; every price has 19 % VAT and the tariffs
are ENERGY 0.30/kWh + a 1.00 session fee, see test_tariffs_api.document):

=====  ===========  ==============================  ========  ====================
which  station      local time (Berlin)             energy    excl. / incl. VAT
=====  ===========  ==============================  ========  ====================
late   CP-B (EUR)   D 23:10 to D+1 00:20            10 kWh    4.00 / 4.76
day    CP-B (EUR)   D+1 10:00 to 10:30              5 kWh     2.50 / 2.975 -> 2.98
usd    CP-U (USD)   D+1 15:00 to 15:30              10 kWh    4.00 / 4.76 USD
free   CP-X (none)  D+1 09:00 to 09:20              2.5 kWh   unpriced
back   CP-B (EUR)   D+2 12:00 to 12:40              20 kWh    7.00 / 8.33, credited
=====  ===========  ==============================  ========  ====================

In Berlin days: D+1 has 2 EUR sessions (6.50 / 7.74), 1 USD, 1 unpriced; D+2 has one
EUR session whose credit takes its money back (0.00). In UTC days the late session
ended on D (22:20 or 23:20 UTC), so D has 4.00 / 4.76 and D+1 2.50 / 2.98.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ocpp.v16 import call as call16

from tests.api.test_access import add_user, as_user, server
from tests.billing.test_cdrs import own_token
from tests.billing.test_tariffs_api import assign, document, make_tariff, place, site
from tests.harness import RunningServer, charge_point, now_iso

__all__ = ["server"]  # the fixture, shared with test_access

BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class Week:
    """The days of the module doc, and who is who."""

    d: date
    driver_id: int

    def day(self, n: int) -> str:
        return (self.d + timedelta(days=n)).isoformat()


def berlin(day: date, hours: int, minutes: int = 0) -> datetime:
    return datetime.combine(day, time(hours, minutes), tzinfo=BERLIN)


async def charge(cp: Any, tag: str, start: datetime, minutes: int, wh: int) -> None:
    started = await cp.call(
        call16.StartTransaction(connector_id=1, id_tag=tag, meter_start=0, timestamp=now_iso(start))
    )
    await cp.call(
        call16.StopTransaction(
            meter_stop=wh,
            timestamp=now_iso(start + timedelta(minutes=minutes)),
            transaction_id=started.transaction_id,
            reason="EVDisconnected",
        )
    )


async def sessions_of_the_week(server: RunningServer) -> Week:
    """The tariffs, people and sessions of the module doc; the "back" session credited."""
    d = datetime.now(BERLIN).date() - timedelta(days=3)
    since = berlin(d, 0) - timedelta(days=30)
    for station in ("CP-B", "CP-U", "CP-X"):
        await server.add_station(station)
    async with server.api() as admin:
        berlin_site = await site(admin, "Berlin Mitte")
        boston = await site(admin, "Boston Harbor", "America/New_York")
        await place(admin, "CP-B", berlin_site)
        await place(admin, "CP-U", boston)
        eur = await make_tariff(admin, "Standard", document(), valid_from=since)
        usd = await make_tariff(admin, "US Standard", document(currency="USD"), valid_from=since)
        await assign(admin, eur, scope="site", site_id=berlin_site, valid_from=since)
        await assign(admin, usd, scope="site", site_id=boston, valid_from=since)
    driver = await add_user(server, "driver@example.com", "driver", org="Fleet A")
    await add_user(server, "fleet-a@example.com", "fleet_manager", org="Fleet A")
    await add_user(server, "fleet-b@example.com", "fleet_manager", org="Fleet B")
    await own_token(server, "CARD-A", driver, None)  # a Fleet A driver's own card
    await server.add_token("CARD-Z")  # nobody's
    async with charge_point(server, "CP-B") as cp:
        await charge(cp, "CARD-A", berlin(d, 23, 10), 70, 10_000)  # late
        await charge(cp, "CARD-Z", berlin(d + timedelta(days=1), 10), 30, 5_000)  # day
        await charge(cp, "CARD-A", berlin(d + timedelta(days=2), 12), 40, 20_000)  # back
    async with charge_point(server, "CP-U") as cp:
        await charge(cp, "CARD-Z", berlin(d + timedelta(days=1), 15), 30, 10_000)  # usd
    async with charge_point(server, "CP-X") as cp:
        await charge(cp, "CARD-A", berlin(d + timedelta(days=1), 9), 20, 2_500)  # free
    await server.app.bus.drain()
    async with server.api() as admin:
        listed = (await admin.get("/api/v1/cdrs")).json()["items"]
        assert len(listed) == 5, listed
        back = next(c for c in listed if c["energy_wh"] == 20_000)
        assert back["total_incl_vat"] == "8.33"
        credit = await admin.post(f"/api/v1/cdrs/{back['id']}/credit", json={"reason": "fault"})
        assert credit.status_code == 201, credit.text
    return Week(d, driver)


def days_of(body: dict[str, Any]) -> list[tuple[str, str | None, int, int, str, str, str]]:
    return [
        (
            r["day"],
            r["currency"],
            r["sessions"],
            r["energy_wh"],
            r["excl_vat"],
            r["vat"],
            r["incl_vat"],
        )
        for r in body["days"]
    ]


def totals_of(body: dict[str, Any]) -> list[tuple[str | None, int, int, str, str, str]]:
    return [
        (t["currency"], t["sessions"], t["energy_wh"], t["excl_vat"], t["vat"], t["incl_vat"])
        for t in body["totals"]
    ]


async def test_revenue_per_local_day_per_currency_net_of_credits(server: RunningServer) -> None:
    week = await sessions_of_the_week(server)
    window = {"since": week.day(0), "until": week.day(2)}
    async with server.api() as admin:
        in_berlin = await admin.get(
            "/api/v1/revenue/daily", params={**window, "time_zone": "Europe/Berlin"}
        )
        in_utc = await admin.get("/api/v1/revenue/daily", params=window)
        last_30 = await admin.get("/api/v1/revenue/daily")
        one_day = await admin.get(
            "/api/v1/revenue/daily",
            params={"since": week.day(2), "until": week.day(2), "time_zone": "Europe/Berlin"},
        )

    assert in_berlin.status_code == 200, in_berlin.text
    body = in_berlin.json()
    assert (body["since"], body["until"], body["time_zone"]) == (
        week.day(0),
        week.day(2),
        "Europe/Berlin",
    )
    assert days_of(body) == [
        (week.day(1), "EUR", 2, 15_000, "6.50", "1.24", "7.74"),
        (week.day(1), "USD", 1, 10_000, "4.00", "0.76", "4.76"),
        (week.day(1), None, 1, 2_500, "0", "0", "0"),
        (week.day(2), "EUR", 1, 20_000, "0.00", "0.00", "0.00"),
    ]
    assert totals_of(body) == [
        ("EUR", 3, 35_000, "6.50", "1.24", "7.74"),
        ("USD", 1, 10_000, "4.00", "0.76", "4.76"),
        (None, 1, 2_500, "0", "0", "0"),
    ]
    # in UTC the late session ended the evening before
    assert days_of(in_utc.json())[:3] == [
        (week.day(0), "EUR", 1, 10_000, "4.00", "0.76", "4.76"),
        (week.day(1), "EUR", 1, 5_000, "2.50", "0.48", "2.98"),
        (week.day(1), "USD", 1, 10_000, "4.00", "0.76", "4.76"),
    ]
    # by default: the last 30 days, in UTC, today included
    recent = last_30.json()
    until = date.fromisoformat(recent["until"])
    assert (until - date.fromisoformat(recent["since"])).days == 29
    assert recent["time_zone"] == "UTC" and totals_of(recent) == totals_of(in_utc.json())
    assert days_of(one_day.json()) == [(week.day(2), "EUR", 1, 20_000, "0.00", "0.00", "0.00")]


async def test_each_caller_adds_up_only_the_cdrs_they_see(server: RunningServer) -> None:
    week = await sessions_of_the_week(server)
    params = {"since": week.day(0), "until": week.day(2), "time_zone": "Europe/Berlin"}
    seen = {}
    for email in ("fleet-a@example.com", "fleet-b@example.com", "driver@example.com"):
        async with await as_user(server, email) as client:
            response = await client.get("/api/v1/revenue/daily", params=params)
            assert response.status_code == 200, response.text
            seen[email] = days_of(response.json())
    # Fleet A: its driver's late and back sessions, and the unpriced one
    fleet_a = [
        (week.day(1), "EUR", 1, 10_000, "4.00", "0.76", "4.76"),
        (week.day(1), None, 1, 2_500, "0", "0", "0"),
        (week.day(2), "EUR", 1, 20_000, "0.00", "0.00", "0.00"),
    ]
    assert seen["fleet-a@example.com"] == fleet_a
    assert seen["driver@example.com"] == fleet_a  # all of them were their own card
    assert seen["fleet-b@example.com"] == []


async def test_a_range_that_cannot_be_counted_is_refused(server: RunningServer) -> None:
    async with server.api() as admin:
        answers = {
            "backwards": await admin.get(
                "/api/v1/revenue/daily", params={"since": "2025-06-10", "until": "2025-06-01"}
            ),
            "too long": await admin.get(
                "/api/v1/revenue/daily", params={"since": "2024-01-01", "until": "2025-06-01"}
            ),
            "zone": await admin.get(
                "/api/v1/revenue/daily", params={"time_zone": "Europe/Nowhere"}
            ),
            "date": await admin.get("/api/v1/revenue/daily", params={"since": "2025-13-01"}),
        }
        admin.headers.pop("Authorization")
        anonymous = await admin.get("/api/v1/revenue/daily")
    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 422)
    detail = {k: r.json()["detail"] for k, r in answers.items()}
    assert detail["backwards"] == "until: 2025-06-01 is before since 2025-06-10"
    assert detail["too long"] == "since/until: 518 days asked for; at most 366 at a time"
    assert detail["zone"] == "time_zone: unknown time zone 'Europe/Nowhere'"
    assert detail["date"].startswith("query.since:")
    assert anonymous.status_code == 401
