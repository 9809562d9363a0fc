"""Anomalies: real chargers over WebSockets produce each one; the time-based detectors
are judged by calling the monitor with an injected clock. Each anomaly is opened once,
counts its repeats, clears as its detector says, and shows in the API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargeops.monitoring.detectors import Thresholds
from chargeops.monitoring.service import Monitor
from tests.harness import RunningServer, charge_point, now_iso


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _monitor(server: RunningServer) -> Monitor:
    monitor = server.app.monitor
    assert monitor is not None
    return monitor


async def _anomalies(
    server: RunningServer, station_id: str, *, open_only: bool = False
) -> list[dict[str, Any]]:
    """The station's anomalies, newest first, once the bus handlers have judged."""
    await asyncio.wait_for(server.app.bus.drain(), 30)
    params: dict[str, Any] = {"station_id": station_id}
    if open_only:
        params["open"] = "true"
    page = await server.get("/api/v1/monitoring/anomalies", **params)
    return list(page["items"])


async def _eventually(
    server: RunningServer,
    station_id: str,
    ready: Callable[[list[dict[str, Any]]], bool],
) -> list[dict[str, Any]]:
    """Anomalies once ``ready`` says so (for handlers that wait behind others)."""
    items: list[dict[str, Any]] = []
    for _ in range(200):
        page = await server.get("/api/v1/monitoring/anomalies", station_id=station_id)
        items = list(page["items"])
        if ready(items):
            return items
        await asyncio.sleep(0.05)
    raise AssertionError(f"anomalies never became ready: {items}")


def _by_detector(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["detector"]: a for a in items}


def _sample(at: datetime, **values: Any) -> dict[str, Any]:
    """A 1.6 meterValue: register in Wh, plus any other measurands given as
    measurand=(value, unit[, phase])."""
    sampled = []
    for key, spec in values.items():
        measurand = {"wh": "Energy.Active.Import.Register"}.get(key, key.replace("_", "."))
        value, unit, *phase = spec if isinstance(spec, tuple) else (spec, "Wh")
        item = {"value": str(value), "measurand": measurand, "unit": unit}
        if phase:
            item["phase"] = phase[0]
        sampled.append(item)
    return {"timestamp": now_iso(at), "sampledValue": sampled}


async def _start16(cp: Any, at: datetime, meter_wh: int, tag: str = "TAG-1") -> int:
    answer = await cp.call(
        call16.StartTransaction(
            connector_id=1, id_tag=tag, meter_start=meter_wh, timestamp=now_iso(at)
        )
    )
    assert answer.id_tag_info["status"] == "Accepted"
    return int(answer.transaction_id)


async def _stop16(cp: Any, tx: int, at: datetime, meter_wh: int) -> None:
    await cp.call(
        call16.StopTransaction(meter_stop=meter_wh, timestamp=now_iso(at), transaction_id=tx)
    )


async def _status16(cp: Any, status: str, at: datetime | None = None) -> None:
    await cp.call(
        call16.StatusNotification(
            connector_id=1, error_code="NoError", status=status, timestamp=now_iso(at)
        )
    )


# --- meter_backwards, meter_jump ----------------------------------------------------------


async def test_a_16_register_going_backwards_or_jumping(server: RunningServer) -> None:
    await server.add_station("CP-MTR")
    await server.add_token("TAG-1")
    t0 = _now() - timedelta(hours=1)

    def minutes(n: float) -> datetime:
        return t0 + timedelta(minutes=n)

    async with charge_point(server, "CP-MTR") as cp:
        tx = await _start16(cp, t0, 12_345)

        async def meter(at: datetime, wh: int, transaction: int = tx) -> None:
            await cp.call(
                call16.MeterValues(
                    connector_id=1, transaction_id=transaction, meter_value=[_sample(at, wh=wh)]
                )
            )

        await meter(minutes(1), 12_400)
        assert await _anomalies(server, "CP-MTR") == []

        await meter(minutes(2), 12_001)
        await meter(minutes(2), 12_001)  # the same message again (a retry): not counted
        [back] = await _anomalies(server, "CP-MTR", open_only=True)
        assert back["detector"] == "meter_backwards" and back["evse_id"] == 1
        assert back["summary"] == (
            f"CP-MTR EVSE 1: energy register went backwards from 12,400 Wh to 12,001 Wh "
            f"in session {back['session_id']}"
        )
        assert back["detail"]["from_wh"] == 12_400 and back["detail"]["to_wh"] == 12_001
        assert back["detail"]["drop_wh"] == 399 and back["occurrences"] == 1

        # 899 kWh in a minute would need 53,940 kW: a jump, its own anomaly
        await meter(minutes(3), 911_001)
        # and back again: another occurrence on the open anomaly, not a second row
        await meter(minutes(4), 900_000)
        found = _by_detector(await _anomalies(server, "CP-MTR", open_only=True))
        assert set(found) == {"meter_backwards", "meter_jump"}
        jump = found["meter_jump"]
        assert jump["summary"].startswith(
            "CP-MTR EVSE 1: energy register jumped from 12,001 Wh to 911,001 Wh in 60 s "
            "(53,940 kW implied, limit 400 kW)"
        )
        assert jump["detail"]["implied_kw"] == 53_940
        back = found["meter_backwards"]
        assert back["occurrences"] == 2 and "from 911,001 Wh to 900,000 Wh" in back["summary"]
        health = await server.get("/api/v1/stations/CP-MTR/health")
        assert {a["detector"] for a in health["recent_anomalies"]} == set(found)

        # the session ends: what was found in it stays open, counted once
        await _stop16(cp, tx, minutes(5), 900_100)
        found = _by_detector(await _anomalies(server, "CP-MTR", open_only=True))
        assert found["meter_backwards"]["occurrences"] == 2
        assert found["meter_jump"]["occurrences"] == 1

        # the next session's register steps normally: both are over
        tx2 = await _start16(cp, minutes(10), 900_100)
        await meter(minutes(11), 901_000, tx2)
        await _stop16(cp, tx2, minutes(12), 902_000)
        assert await _anomalies(server, "CP-MTR", open_only=True) == []
        assert all(a["cleared_at"] for a in await _anomalies(server, "CP-MTR"))


async def test_a_201_register_going_backwards_in_transaction_events(
    server: RunningServer,
) -> None:
    """2.0.1 sends transaction meter values in TransactionEvents: they are judged as they
    come, like 1.6 MeterValues, and once more over the whole session when it ends (the
    step already found is not counted again); MeterValues outside a transaction too."""
    await server.add_station("CP-M201")
    t0 = _now() - timedelta(hours=1)

    def energy(wh: int, minutes: int) -> list[dict[str, Any]]:
        return [
            {
                "timestamp": now_iso(t0 + timedelta(minutes=minutes)),
                "sampled_value": [
                    {
                        "value": wh,
                        "measurand": "Energy.Active.Import.Register",
                        "unit_of_measure": {"unit": "Wh"},
                    }
                ],
            }
        ]

    def event(kind: str, seq_no: int, minutes: int, wh: int) -> Any:
        return call201.TransactionEvent(
            event_type=kind,
            timestamp=now_iso(t0 + timedelta(minutes=minutes)),
            trigger_reason="MeterValuePeriodic" if kind == "Updated" else "Authorized",
            seq_no=seq_no,
            transaction_info={"transaction_id": "TX-B", "charging_state": "Charging"},
            meter_value=energy(wh, minutes),
            evse={"id": 1, "connector_id": 1} if kind == "Started" else None,
        )

    async with charge_point(server, "CP-M201", version="2.0.1") as cp:
        await cp.call(event("Started", 0, 0, 5_000))
        await cp.call(event("Updated", 1, 1, 5_200))
        await cp.call(event("Updated", 2, 2, 5_100))
        [live] = await _eventually(server, "CP-M201", lambda found: bool(found))
        assert live["detector"] == "meter_backwards" and live["session_id"] is not None
        await cp.call(event("Ended", 3, 3, 5_300))
        [back] = await _anomalies(server, "CP-M201", open_only=True)
        assert back["detector"] == "meter_backwards" and back["evse_id"] == 1
        assert "from 5,200 Wh to 5,100 Wh" in back["summary"]
        assert back["id"] == live["id"] and back["occurrences"] == 1

        await cp.call(call201.MeterValues(evse_id=2, meter_value=energy(7_000, 5)))
        await cp.call(call201.MeterValues(evse_id=2, meter_value=energy(6_000, 6)))
        found = await _anomalies(server, "CP-M201", open_only=True)
        assert sorted((a["evse_id"], a["detector"]) for a in found) == [
            (1, "meter_backwards"),
            (2, "meter_backwards"),
        ]


# --- failing_starts ----------------------------------------------------------------------


async def test_three_short_empty_sessions_in_a_row_are_failing_starts(
    server: RunningServer,
) -> None:
    await server.add_station("CP-FS")
    await server.add_token("TAG-1")
    t0 = _now() - timedelta(hours=2)
    async with charge_point(server, "CP-FS") as cp:
        await _status16(cp, "Available", t0)

        async def failed_start(n: int) -> None:
            at = t0 + timedelta(minutes=5 * n)
            tx = await _start16(cp, at, 1_000 + n)
            await _stop16(cp, tx, at + timedelta(seconds=20), 1_000 + n + 3)

        await failed_start(0)
        await failed_start(1)
        assert await _anomalies(server, "CP-FS") == []
        await failed_start(2)
        [failing] = await _anomalies(server, "CP-FS", open_only=True)
        assert failing["detector"] == "failing_starts" and failing["evse_id"] == 1
        assert failing["summary"] == (
            "CP-FS EVSE 1: the last 3 sessions failed to start (each under 60 s and 100 Wh); "
            "the connector shows Available"
        )
        assert [s["seconds"] for s in failing["detail"]["sessions"]] == [20, 20, 20]
        await failed_start(3)  # still failing: counted on the open one
        [failing] = await _anomalies(server, "CP-FS", open_only=True)
        assert failing["occurrences"] == 2

        # someone charges there: it is over
        tx = await _start16(cp, t0 + timedelta(minutes=40), 2_000)
        await _stop16(cp, tx, t0 + timedelta(minutes=70), 9_000)
        assert await _anomalies(server, "CP-FS", open_only=True) == []
        [cleared] = await _anomalies(server, "CP-FS")
        assert cleared["cleared_at"] is not None


# --- auth_failures -----------------------------------------------------------------------


async def test_repeated_refused_authorizations_16(server: RunningServer) -> None:
    await server.add_station("CP-AUTH")
    async with charge_point(server, "CP-AUTH") as cp:
        for n in range(4):
            answer = await cp.call(call16.Authorize(id_tag=f"UNKNOWN-{n}"))
            assert answer.id_tag_info["status"] == "Invalid"
        assert await _anomalies(server, "CP-AUTH") == []
        await cp.call(call16.Authorize(id_tag="UNKNOWN-4"))
        [refused] = await _anomalies(server, "CP-AUTH", open_only=True)
        assert refused["detector"] == "auth_failures" and refused["evse_id"] == 0
        assert refused["summary"].startswith(
            "CP-AUTH: 5 authorizations refused in a row within 10 min (UNKNOWN-0, "
        )
        assert refused["detail"]["statuses"] == {"Invalid": 5}
        await cp.call(call16.Authorize(id_tag="UNKNOWN-5"))
        [refused] = await _anomalies(server, "CP-AUTH", open_only=True)
        assert refused["occurrences"] == 2 and refused["detail"]["refused"] == 6

        await server.add_token("GOOD")
        await cp.call(call16.Authorize(id_tag="GOOD"))
        assert await _anomalies(server, "CP-AUTH", open_only=True) == []
        # a refusal after the accepted one starts counting again
        await cp.call(call16.Authorize(id_tag="UNKNOWN-6"))
        assert await _anomalies(server, "CP-AUTH", open_only=True) == []


async def test_repeated_refused_authorizations_201(server: RunningServer) -> None:
    await server.add_station("CP-AUTH2")
    async with charge_point(server, "CP-AUTH2", version="2.0.1") as cp:
        for n in range(5):
            await cp.call(call201.Authorize(id_token={"id_token": f"BAD-{n}", "type": "ISO14443"}))
        [refused] = await _anomalies(server, "CP-AUTH2", open_only=True)
        assert refused["detector"] == "auth_failures"
        assert refused["detail"]["id_tags"] == [f"BAD-{n}" for n in range(5)]


# --- reboot_loop -------------------------------------------------------------------------


async def test_a_station_booting_again_and_again(server: RunningServer) -> None:
    await server.add_station("CP-BOOT")
    for _ in range(3):
        async with charge_point(server, "CP-BOOT") as cp:
            await cp.call(
                call16.BootNotification(charge_point_vendor="ACME", charge_point_model="X1")
            )
    items = await _eventually(server, "CP-BOOT", lambda items: len(items) == 1)
    [loop] = items
    assert loop["detector"] == "reboot_loop" and loop["evse_id"] == 0
    assert loop["summary"] == "CP-BOOT booted 3 times within 30 min"
    async with charge_point(server, "CP-BOOT") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="ACME", charge_point_model="X1"))
    [loop] = await _eventually(
        server, "CP-BOOT", lambda items: bool(items) and items[0]["occurrences"] == 2
    )
    last_boot = datetime.fromisoformat(loop["detail"]["last_boot_at"])

    # calm for a while, but not a whole window: still open
    await _monitor(server).check_anomalies(last_boot + timedelta(minutes=29))
    assert len(await _anomalies(server, "CP-BOOT", open_only=True)) == 1
    # a whole window without a boot: over, from when the window ended
    await _monitor(server).check_anomalies(last_boot + timedelta(minutes=31))
    [loop] = await _anomalies(server, "CP-BOOT")
    assert datetime.fromisoformat(loop["cleared_at"]) == last_boot + timedelta(minutes=30)


# --- session_stuck, meter_silent -------------------------------------------------------


async def test_silent_meter_and_stuck_session_by_the_clock(server: RunningServer) -> None:
    monitor = _monitor(server)
    await server.add_station("CP-TIME")
    await server.add_token("TAG-1")
    t0 = _now()
    async with charge_point(server, "CP-TIME") as cp:
        tx = await _start16(cp, t0, 50_000)
        await _status16(cp, "Charging", t0)
        await cp.call(
            call16.MeterValues(
                connector_id=1, transaction_id=tx, meter_value=[_sample(t0, wh=50_000)]
            )
        )
        await monitor.check_anomalies(t0 + timedelta(minutes=14))
        assert await _anomalies(server, "CP-TIME") == []

        await monitor.check_anomalies(t0 + timedelta(minutes=16))
        [silent] = await _anomalies(server, "CP-TIME", open_only=True)
        assert silent["detector"] == "meter_silent" and silent["session_id"] is not None
        assert silent["summary"] == (
            f"CP-TIME EVSE 1: no meter value for 16 min while charging "
            f"(session {silent['session_id']})"
        )
        # still silent a minute later: the same anomaly, its figures brought up to date
        await monitor.check_anomalies(t0 + timedelta(minutes=17))
        [silent] = await _anomalies(server, "CP-TIME", open_only=True)
        assert silent["occurrences"] == 1 and silent["detail"]["silent_minutes"] == 17

        # values come again: over
        later = t0 + timedelta(minutes=17, seconds=30)
        await cp.call(
            call16.MeterValues(
                connector_id=1, transaction_id=tx, meter_value=[_sample(later, wh=52_000)]
            )
        )
        await monitor.check_anomalies(later + timedelta(seconds=30))
        assert await _anomalies(server, "CP-TIME", open_only=True) == []

        # 13 hours on, the session is still open (and the meter long silent again)
        await monitor.check_anomalies(t0 + timedelta(hours=13))
        found = _by_detector(await _anomalies(server, "CP-TIME", open_only=True))
        assert set(found) == {"session_stuck", "meter_silent"}
        stuck = found["session_stuck"]
        assert stuck["summary"] == (
            f"CP-TIME EVSE 1: session {stuck['session_id']} has been charging for 13 h"
        )
        assert stuck["detail"]["limit_hours"] == 12
        listed = await server.get("/api/v1/monitoring/anomalies", open="true")
        assert {a["id"] for a in found.values()} <= {a["id"] for a in listed["items"]}

        # the session ends: both are over at once
        await _stop16(cp, tx, t0 + timedelta(hours=13, minutes=1), 60_000)
        assert await _anomalies(server, "CP-TIME", open_only=True) == []


async def test_thresholds_set_in_configuration_decide(server: RunningServer) -> None:
    monitor = _monitor(server)
    # what CHARGEOPS_ANOMALY_THRESHOLDS='{"session_stuck_hours": 1, ...}' gives the monitor
    monitor.thresholds = Thresholds.from_mapping(
        {"session_stuck_hours": 1, "disabled": ["meter_silent"]}
    )
    await server.add_station("CP-CONF")
    await server.add_token("TAG-1")
    t0 = _now()
    async with charge_point(server, "CP-CONF") as cp:
        await _start16(cp, t0, 1_000)
        await _status16(cp, "Charging", t0)
        await monitor.check_anomalies(t0 + timedelta(minutes=125))
        [stuck] = await _anomalies(server, "CP-CONF", open_only=True)
        assert stuck["detector"] == "session_stuck"  # and no meter_silent: disabled
        assert stuck["summary"].endswith("has been charging for 2.1 h")
        assert stuck["detail"]["limit_hours"] == 1


async def test_a_silent_meter_on_an_offline_station_is_left_to_connectivity(
    server: RunningServer,
) -> None:
    await server.add_station("CP-OFF")
    await server.add_token("TAG-1")
    t0 = _now()
    async with charge_point(server, "CP-OFF") as cp:
        await _start16(cp, t0, 1_000)
        await _status16(cp, "Charging", t0)
    for _ in range(100):  # the disconnection is recorded from the bus
        health = await server.get("/api/v1/stations/CP-OFF/health")
        if health["online"] is False:
            break
        await asyncio.sleep(0.05)
    await _monitor(server).check_anomalies(t0 + timedelta(minutes=30))
    assert await _anomalies(server, "CP-OFF") == []


# --- slow_charging -----------------------------------------------------------------------


async def test_slow_charging_against_what_a_16_charger_offers(server: RunningServer) -> None:
    monitor = _monitor(server)
    await server.add_station("CP-SLOW")
    await server.add_station("CP-UNKNOWN")
    await server.add_token("TAG-1")
    # readings from now on: the scheduler's own checks (real time) find nothing yet
    t0 = _now()

    def minutes(n: float) -> datetime:
        return t0 + timedelta(minutes=n)

    def reading(n: float, watts: int, wh: int) -> dict[str, Any]:
        # 32 A offered on one phase at 230 V: 7.36 kW allowed, the car takes 2 kW
        return _sample(
            minutes(n),
            wh=wh,
            Power_Active_Import=(watts, "W"),
            Current_Offered=(32, "A"),
            Current_Import=(round(watts / 230, 1), "A", "L1"),
            Voltage=(230, "V", "L1-N"),
        )

    async with charge_point(server, "CP-SLOW") as cp:
        tx = await _start16(cp, t0, 0)
        await _status16(cp, "Charging", minutes(0.5))
        for n, wh in ((1, 30), (8, 260), (15, 500)):
            await cp.call(
                call16.MeterValues(
                    connector_id=1, transaction_id=tx, meter_value=[reading(n, 2_000, wh)]
                )
            )
        # slow, but not for ten minutes yet
        await monitor.check_anomalies(minutes(9))
        assert await _anomalies(server, "CP-SLOW") == []

        await monitor.check_anomalies(minutes(15.5))
        [slow] = await _anomalies(server, "CP-SLOW", open_only=True)
        assert slow["detector"] == "slow_charging" and slow["session_id"] is not None
        assert slow["summary"] == (
            f"CP-SLOW EVSE 1: session {slow['session_id']} charging at 2 kW for over 10 min, "
            "below 50% of the 7.4 kW allowed (Current.Offered 32 A x 230 V x 1 phase)"
        )
        assert slow["detail"]["allowed_w"] == 7_360 and slow["detail"]["power_w"] == 2_000

        # the car takes what it is offered again: over
        await cp.call(
            call16.MeterValues(
                connector_id=1, transaction_id=tx, meter_value=[reading(16, 7_000, 600)]
            )
        )
        await monitor.check_anomalies(minutes(16.5))
        assert await _anomalies(server, "CP-SLOW", open_only=True) == []

    # a charger that says nothing of what it allows: no guess, no anomaly
    async with charge_point(server, "CP-UNKNOWN") as cp:
        tx = await _start16(cp, t0, 0)
        await _status16(cp, "Charging", minutes(0.5))
        for n, wh in ((1, 30), (8, 260), (15, 500)):
            sample = _sample(minutes(n), wh=wh, Power_Active_Import=(2_000, "W"))
            await cp.call(
                call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[sample])
            )
        await monitor.check_anomalies(minutes(15.5))
        assert await _anomalies(server, "CP-UNKNOWN") == []


async def test_slow_charging_against_a_201_device_model(server: RunningServer) -> None:
    await server.add_station("CP-SLOW2")
    t0 = _now()

    def sample(minutes: int) -> list[dict[str, Any]]:
        return [
            {
                "timestamp": now_iso(t0 + timedelta(minutes=minutes)),
                "sampled_value": [
                    {
                        "value": 3_000,
                        "measurand": "Power.Active.Import",
                        "unit_of_measure": {"unit": "W"},
                    }
                ],
            }
        ]

    async with charge_point(server, "CP-SLOW2", version="2.0.1") as cp:
        await cp.call(
            call201.NotifyReport(
                request_id=1,
                generated_at=now_iso(),
                seq_no=0,
                report_data=[
                    {
                        "component": {"name": "EVSE", "evse": {"id": 1}},
                        "variable": {"name": "Power"},
                        "variable_attribute": [{"type": "Actual", "value": "3000"}],
                        "variable_characteristics": {
                            "unit": "kW",
                            "data_type": "decimal",
                            "max_limit": 22,
                            "supports_monitoring": False,
                        },
                    }
                ],
            )
        )
        for seq_no, minutes in enumerate((0, 6, 12)):
            await cp.call(
                call201.TransactionEvent(
                    event_type="Started" if seq_no == 0 else "Updated",
                    timestamp=now_iso(t0 + timedelta(minutes=minutes)),
                    trigger_reason="MeterValuePeriodic",
                    seq_no=seq_no,
                    transaction_info={"transaction_id": "TX-S", "charging_state": "Charging"},
                    meter_value=sample(minutes),
                    evse={"id": 1, "connector_id": 1} if seq_no == 0 else None,
                )
            )
        await _monitor(server).check_anomalies(t0 + timedelta(minutes=12, seconds=30))
        [slow] = await _anomalies(server, "CP-SLOW2", open_only=True)
        assert slow["detector"] == "slow_charging"
        assert slow["detail"]["allowed_by"] == "EVSE.Power maxLimit"
        assert slow["detail"]["allowed_w"] == 22_000
