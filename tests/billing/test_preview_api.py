"""``POST /api/v1/tariffs/preview``: what a session would cost by a draft tariff (saved
or not), rated exactly as a real session is, for the tariff editor and integrations.

The draft priced here, all with 19 % VAT:

- row 1: energy 0.45 EUR/kWh from 17:00 to 21:00 (local time);
- row 2: energy 0.30 EUR/kWh and a 1.00 EUR session fee (always);
- row 3: parking 6.00 EUR/h once the session is 60 minutes old.

A 45-minute, 22 kWh session at 18:00 on Saturday 2025-06-07 in Berlin, then parked for
30 minutes: energy 22 x 0.45 = 9.90 (peak), fee 1.00, parking from minute 60 to 75 =
15 min x 6.00/h = 1.50; 12.40 excl. VAT, x 1.19 = 14.756, rounded once: 14.76.
At 10:00 (off-peak) the energy is 22 x 0.30 = 6.60: 9.10 excl. VAT, 10.829 -> 10.83.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.api.test_access import add_user, as_user, server
from tests.harness import RunningServer

__all__ = ["server"]  # the fixture, shared with test_access


def _component(kind: str, price: str) -> dict[str, Any]:
    return {"type": kind, "price": price, "vat": "19", "step_size": 1}


PEAK_AND_PARKING: dict[str, Any] = {
    "currency": "EUR",
    "elements": [
        {
            "price_components": [_component("ENERGY", "0.45")],
            "restrictions": {"start_time": "17:00", "end_time": "21:00"},
        },
        {"price_components": [_component("ENERGY", "0.30"), _component("FLAT", "1.00")]},
        {
            "price_components": [_component("PARKING_TIME", "6.00")],
            "restrictions": {"min_duration": 3600},
        },
    ],
}

SATURDAY_EVENING = {
    "document": PEAK_AND_PARKING,
    "time_zone": "Europe/Berlin",
    "start": "2025-06-07T18:00:00",
    "charging_minutes": 45,
    "energy_kwh": "22",
    "idle_minutes": 30,
}


def lines_of(body: dict[str, Any]) -> list[tuple[str, int, str, str, str]]:
    return [
        (
            line["dimension"],
            line["element"],
            line["quantity"],
            line["cost_excl_vat"],
            line["cost_incl_vat"],
        )
        for line in body["lines"]
    ]


async def test_a_draft_prices_a_described_session_like_a_real_one(server: RunningServer) -> None:
    await add_user(server, "driver@example.com", "driver")
    async with server.api() as client:
        evening = await client.post("/api/v1/tariffs/preview", json=SATURDAY_EVENING)
        morning = await client.post(
            "/api/v1/tariffs/preview", json={**SATURDAY_EVENING, "start": "2025-06-07T10:00"}
        )
        # "at 18:00 on a Saturday": the coming Saturday, priced the same (no dates in it)
        by_weekday = await client.post(
            "/api/v1/tariffs/preview",
            json={
                **{k: v for k, v in SATURDAY_EVENING.items() if k != "start"},
                "weekday": "SATURDAY",
                "time": "18:00",
            },
        )
        stored = (await client.get("/api/v1/tariffs")).json()["items"]
    async with await as_user(server, "driver@example.com") as driver:
        # a driver reads prices, and may try a tariff out too
        by_driver = await driver.post("/api/v1/tariffs/preview", json=SATURDAY_EVENING)

    assert evening.status_code == 200, evening.text
    body = evening.json()
    assert body["total"] == {"excl_vat": "12.40", "vat": "2.36", "incl_vat": "14.76"}
    assert body["currency"] == "EUR" and body["time_zone"] == "Europe/Berlin"
    assert lines_of(body) == [
        ("ENERGY", 0, "22000", "9.90", "11.78"),
        ("PARKING_TIME", 2, "900", "1.50", "1.79"),
        ("FLAT", 1, "1", "1.00", "1.19"),
    ]
    # 18:00 CEST is 16:00 UTC; charging 45 min, then parked 30 (free for the first 15)
    assert datetime.fromisoformat(body["start"]) == datetime(2025, 6, 7, 16, 0, tzinfo=UTC)
    assert datetime.fromisoformat(body["end"]) == datetime(2025, 6, 7, 17, 15, tzinfo=UTC)
    assert [(p["kind"], p["duration_s"], p["cost_excl_vat"]) for p in body["periods"]] == [
        ("CHARGING", "2700", "10.90"),
        ("IDLE", "900", "0.00"),
        ("IDLE", "900", "1.50"),
    ]
    assert (body["energy_wh"], body["charging_s"], body["parking_s"]) == (22_000, "2700", "1800")
    assert body["power_kw"] == "29.333"  # 22 kWh over three quarters of an hour
    assert "0.5355 EUR per kWh from 17:00 to 21:00" in body["description"]
    assert not body["min_price_applied"] and not body["max_price_applied"]

    assert morning.json()["total"] == {"excl_vat": "9.10", "vat": "1.73", "incl_vat": "10.83"}
    weekday = by_weekday.json()
    assert weekday["total"] == body["total"]
    start = datetime.fromisoformat(weekday["start"]).astimezone(ZoneInfo("Europe/Berlin"))
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    assert start.strftime("%A %H:%M") == "Saturday 18:00"
    assert today <= start.date() < today + timedelta(days=7)
    assert by_driver.status_code == 200 and by_driver.json()["total"] == body["total"]
    assert stored == []  # a preview saves nothing


async def test_a_preview_that_cannot_be_made_says_why(server: RunningServer) -> None:
    negative = {
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": "-0.10", "step_size": 1}]}],
    }
    asks = {
        "negative price": {**SATURDAY_EVENING, "document": negative},
        "no elements": {**SATURDAY_EVENING, "document": {"currency": "EUR", "elements": []}},
        "unknown zone": {**SATURDAY_EVENING, "time_zone": "Mars/Olympus_Mons"},
        "start and weekday": {**SATURDAY_EVENING, "weekday": "MONDAY", "time": "08:00"},
        "weekday alone": {
            **{k: v for k, v in SATURDAY_EVENING.items() if k != "start"},
            "weekday": "MONDAY",
        },
        "energy in no time": {**SATURDAY_EVENING, "charging_minutes": 0},
        "no minutes": {k: v for k, v in SATURDAY_EVENING.items() if k != "charging_minutes"},
        "negative kWh": {**SATURDAY_EVENING, "energy_kwh": "-1"},
        "not a weekday": {**SATURDAY_EVENING, "start": None, "weekday": "CAKEDAY", "time": "8:00"},
    }
    async with server.api() as client:
        answers = {
            why: await client.post("/api/v1/tariffs/preview", json=body)
            for why, body in asks.items()
        }
    async with server.api() as client:
        client.headers.pop("Authorization")
        anonymous = await client.post("/api/v1/tariffs/preview", json=SATURDAY_EVENING)

    assert {why: r.status_code for why, r in answers.items()} == dict.fromkeys(asks, 422)
    detail = {why: r.json()["detail"] for why, r in answers.items()}
    assert detail["negative price"] == (
        "document.elements[0].price_components[0].price: must not be negative"
    )
    assert detail["no elements"] == "document.elements: needs at least one"
    assert detail["unknown zone"] == "time_zone: unknown time zone 'Mars/Olympus_Mons'"
    assert detail["start and weekday"] == "start: give start, or weekday and time, not both"
    assert detail["weekday alone"] == "time: a weekday needs a time of day (HH:MM)"
    assert detail["energy in no time"].startswith("charging_minutes: charging takes time")
    assert "body.charging_minutes: Field required" in detail["no minutes"]
    assert "body.energy_kwh" in detail["negative kWh"]
    assert "body.weekday" in detail["not a weekday"]
    assert anonymous.status_code == 401


def test_the_coming_weekday_is_today_or_within_the_week() -> None:
    from chargeops.billing.api import preview_start
    from chargeops.billing.tariffs import DayOfWeek

    # Friday 2025-06-06 23:30 UTC is already Saturday in Berlin: "Saturday" is today there
    now = datetime(2025, 6, 6, 23, 30, tzinfo=UTC)
    saturday = preview_start(
        "Europe/Berlin", now, weekday=DayOfWeek.SATURDAY, at=datetime(2025, 1, 1, 18).time()
    )
    friday = preview_start(
        "Europe/Berlin", now, weekday=DayOfWeek.FRIDAY, at=datetime(2025, 1, 1, 9).time()
    )
    assert saturday == datetime(2025, 6, 7, 18, 0)  # wall-clock time in Berlin
    assert friday.date() == date(2025, 6, 13)
    assert preview_start("UTC", now) == now
