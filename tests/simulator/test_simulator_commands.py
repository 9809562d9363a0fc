"""A simulated station against a real chargeops: reservations, the local authorization
list and charging limits, in both OCPP versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.harness import RunningServer
from tests.simulator.conftest import (
    DRIVER,
    STATION_ID,
    StartChargeops,
    active_session,
    command,
    connector_status,
    simulated,
    status_becomes,
    until,
)

VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


def _soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@VERSIONS
async def test_a_reservation_holds_the_connector_until_cancelled_used_or_expired(
    chargeops: StartChargeops, version: str
) -> None:
    server = await chargeops()
    reserved = "Reserved"
    async with simulated(server, version):
        first = await command(server, "reserve_now", id_tag="OTHER-1", evse_id=1)
        assert first["status"] == "accepted", first
        await status_becomes(server, reserved)
        reservation_id = first["payload"]["reservationId" if version == "1.6" else "id"]

        taken = await command(server, "reserve_now", id_tag="OTHER-2", evse_id=1)
        assert taken["status"] == "rejected" and taken["response"]["status"] == "Occupied"
        elsewhere = await command(server, "reserve_now", id_tag="OTHER-2", evse_id=9)
        assert elsewhere["status"] == "rejected"
        blocked = await command(server, "start_session", id_tag=DRIVER, evse_id=1)
        assert blocked["status"] == "rejected"  # held for someone else

        cancelled = await command(server, "cancel_reservation", reservation_id=reservation_id)
        assert cancelled["status"] == "accepted"
        await status_becomes(server, "Available")
        again = await command(server, "cancel_reservation", reservation_id=reservation_id)
        assert again["status"] == "rejected"

        short = await command(
            server, "reserve_now", id_tag="OTHER-1", evse_id=1, expires_at=_soon(0.6)
        )
        assert short["status"] == "accepted", short
        await status_becomes(server, reserved)
        await status_becomes(server, "Available")  # expired
        if version == "2.0.1":  # which 2.0.1 also says in so many words
            expired_id = short["payload"]["id"]

            async def told() -> bool:
                events = await server.get(
                    f"/api/v1/stations/{STATION_ID}/events", kind="ReservationStatusUpdate"
                )
                return [e["summary"] for e in events["items"]] == [
                    f"reservation {expired_id}: Expired"
                ]

            await until(told, what="ReservationStatusUpdate Expired")

        mine = await command(server, "reserve_now", id_tag=DRIVER, evse_id=1)
        assert mine["status"] == "accepted"
        await status_becomes(server, reserved)
        started = await command(server, "start_session", id_tag=DRIVER, evse_id=1)
        assert started["status"] == "accepted", started
        session = await active_session(server)
        assert session["id_tag"] == DRIVER
        used = mine["payload"]["reservationId" if version == "1.6" else "id"]
        gone = await command(server, "cancel_reservation", reservation_id=used)
        assert gone["status"] == "rejected"  # the session used it up
        occupied = await command(server, "reserve_now", id_tag="OTHER-1", evse_id=1)
        assert occupied["response"]["status"] == "Occupied"


@VERSIONS
async def test_the_local_list_is_kept_with_its_version(
    chargeops: StartChargeops, version: str
) -> None:
    server = await chargeops()

    def listed(record: dict[str, Any]) -> int:
        response = record["response"]
        return int(response["listVersion" if version == "1.6" else "versionNumber"])

    async with simulated(server, version) as station:
        assert listed(await command(server, "get_local_list_version")) == 0
        full = await command(
            server,
            "send_local_list",
            tokens=[{"id_tag": "CARD-1"}, {"id_tag": "CARD-2", "status": "blocked"}],
            version=5,
        )
        assert full["status"] == "accepted", full
        assert listed(await command(server, "get_local_list_version")) == 5

        stale = await command(
            server,
            "send_local_list",
            update="differential",
            tokens=[{"id_tag": "CARD-3"}],
            version=5,
        )
        assert stale["response"]["status"] == "VersionMismatch"
        newer = await command(
            server,
            "send_local_list",
            update="differential",
            tokens=[{"id_tag": "CARD-3"}, {"id_tag": "CARD-2", "status": "remove"}],
            version=6,
        )
        assert newer["status"] == "accepted", newer
        assert listed(await command(server, "get_local_list_version")) == 6
        local = station.local_list
        assert [local.get(t) is not None for t in ("card-1", "CARD-2", "CARD-3")] == [
            True,
            False,
            True,
        ]

        emptied = await command(
            server,
            "send_local_list",
            update="differential",
            tokens=[{"id_tag": tag, "status": "remove"} for tag in ("CARD-1", "CARD-3")],
            version=7,
        )
        assert emptied["status"] == "accepted", emptied
        assert listed(await command(server, "get_local_list_version")) == 0


async def power_readings(server: RunningServer, session_id: int, after: datetime) -> list[float]:
    """The session's power readings (W) taken after ``after``."""
    detail = await server.get(f"/api/v1/sessions/{session_id}")
    return [
        float(v["value"])
        for v in detail["meter_values"]
        if v["measurand"] == "Power.Active.Import"
        and datetime.fromisoformat(v["timestamp"]) > after
    ]


async def settles_at_most(
    server: RunningServer, session_id: int, limit_w: float, within: float = 5.0
) -> list[float]:
    """Readings taken after now, once three are in; all must respect ``limit_w``."""
    after = datetime.now(UTC) + timedelta(seconds=0.05)

    async def probe() -> list[float] | None:
        readings = await power_readings(server, session_id, after)
        return readings if len(readings) >= 3 else None

    readings = await until(probe, within=within, what="new power readings")
    assert max(readings) <= limit_w, readings
    return readings


@VERSIONS
async def test_a_charging_limit_lowers_the_power_until_it_is_cleared(
    chargeops: StartChargeops, version: str
) -> None:
    server = await chargeops()
    async with simulated(server, version, meter_interval_s=0.1):
        started = await command(server, "start_session", id_tag=DRIVER, evse_id=1)
        assert started["status"] == "accepted", started
        session = await active_session(server)
        unlimited = await settles_at_most(server, session["id"], 11_000)
        assert min(unlimited) > 9_000  # a car at low charge draws the station's 11 kW

        limited = await command(
            server,
            "set_charging_profile",
            limit=4000,
            unit="W",
            evse_id=1,
            purpose="tx_default",
            profile_id=71,
        )
        assert limited["status"] == "accepted", limited
        assert min(await settles_at_most(server, session["id"], 4000)) > 3_800

        # a current limit: 5 A on each of 3 phases at 230 V
        per_session = await command(
            server,
            "set_charging_profile",
            limit=5,
            unit="A",
            session_id=session["id"],
            evse_id=1,
            profile_id=72,
        )
        assert per_session["status"] == "accepted", per_session
        await settles_at_most(server, session["id"], 3 * 230 * 5)

        schedule = await command(server, "get_composite_schedule", evse_id=1, duration_s=600)
        assert schedule["status"] == "accepted", schedule
        answer = schedule["response"]
        if version == "1.6":
            assert answer["connectorId"] == 1
            plan = answer["chargingSchedule"]
        else:
            plan = answer["schedule"]
            assert plan["evseId"] == 1
        assert plan["chargingRateUnit"] == "W" and plan["duration"] == 600
        assert answer.get("scheduleStart") or plan["scheduleStart"]
        assert plan["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 3450.0}]
        unknown = await command(server, "get_composite_schedule", evse_id=9, duration_s=600)
        assert unknown["status"] == "rejected"

        cleared = await command(server, "clear_charging_profile", profile_id=72)
        assert cleared["status"] == "accepted", cleared
        await settles_at_most(server, session["id"], 4000)
        cleared = await command(server, "clear_charging_profile", profile_id=71)
        assert cleared["status"] == "accepted", cleared
        assert min(await settles_at_most(server, session["id"], 11_000)) > 9_000
        again = await command(server, "clear_charging_profile", profile_id=71)
        assert again["status"] == "rejected"
        assert again["response"]["status"] == "Unknown"


@VERSIONS
async def test_the_station_maximum_caps_the_station_and_shows_in_its_schedule(
    chargeops: StartChargeops, version: str
) -> None:
    server = await chargeops()
    async with simulated(server, version):
        capped = await command(
            server, "set_charging_profile", limit=6000, unit="W", purpose="station_max"
        )
        assert capped["status"] == "accepted", capped
        misplaced = await command(
            server, "set_charging_profile", limit=6000, unit="W", purpose="station_max", evse_id=1
        )
        assert misplaced["status"] == "rejected"

        schedule = await command(
            server, "get_composite_schedule", evse_id=1, duration_s=60, unit="a"
        )
        answer = schedule["response"]
        plan = answer["chargingSchedule"] if version == "1.6" else answer["schedule"]
        assert plan["chargingRateUnit"] == "A"
        assert plan["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 8.7}]

        await command(server, "start_session", id_tag=DRIVER, evse_id=1)
        session = await active_session(server)
        await settles_at_most(server, session["id"], 6000)
        assert await connector_status(server) in ("Charging", "Occupied")
