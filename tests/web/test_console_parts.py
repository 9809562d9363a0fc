"""The console's pure parts: where a login may lead, how figures are written, charts,
and a live listener that falls behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chargeops.bus import MemoryBus
from chargeops.core.events import (
    ConnectivityChanged,
    ConnectorStatusChanged,
    FaultRaised,
    NotificationPosted,
)
from chargeops.sessions.models import ChargingSession, MeterValue
from chargeops.web import charts, formatting, live
from chargeops.web.auth import safe_next
from chargeops.web.live import LiveHub, describe

T0 = datetime(2025, 6, 1, 14, 0, tzinfo=UTC)


def test_only_local_paths_are_followed_after_login() -> None:
    kept = ["/", "/sessions?status=active", "/stations/CP%2F1", "/sessions/12#top"]
    refused = [
        "",
        "//evil.example",
        "///evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "stations",
        "/login?next=/x",
        "/logout",
        "/\x00x",
        "/\nSet-Cookie:x",
    ]
    assert [safe_next(t) for t in kept] == kept
    assert {safe_next(t) for t in refused} == {"/"}


def test_figures_are_written_in_kwh_kw_and_utc() -> None:
    assert formatting.kwh(8250) == "8.25 kWh"
    assert formatting.kwh(1_234_567) == "1,234.57 kWh"
    assert formatting.kwh(None) == "—"
    assert formatting.kw(Decimal("22080")) == "22.08 kW"
    later = T0.astimezone(UTC) + timedelta(hours=2)
    assert formatting.utc(T0) == "2025-06-01 14:00:00 UTC"
    assert formatting.iso(T0) == "2025-06-01T14:00:00Z"
    assert formatting.ago(T0, later) == "2 h ago"
    assert formatting.ago(T0, T0 + timedelta(seconds=5)) == "just now"
    assert formatting.ago(T0, T0 + timedelta(days=1)) == "1 day ago"
    assert formatting.duration(T0, T0 + timedelta(minutes=65)) == "1 h 05 min"
    assert formatting.duration(T0, None, now=T0 + timedelta(seconds=42)) == "42 s"
    assert formatting.path_part("CP:1/2") == "CP%3A1%2F2"


def _session(**fields: object) -> ChargingSession:
    defaults: dict[str, object] = {
        "id": 1,
        "started_at": T0,
        "stopped_at": T0 + timedelta(minutes=30),
        "meter_start_wh": 1000,
        "meter_stop_wh": 7000,
        "status": "completed",
    }
    return ChargingSession(**{**defaults, **fields})


def _value(minutes: int, measurand: str, value: str, phase: str = "") -> MeterValue:
    return MeterValue(
        timestamp=T0 + timedelta(minutes=minutes),
        measurand=measurand,
        phase=phase,
        location="",
        value=Decimal(value),
    )


def test_the_energy_chart_runs_from_the_start_to_the_stop() -> None:
    values = [_value(10, "Energy.Active.Import.Register", "3000")]
    chart = charts.energy_chart(_session(), values)
    assert chart is not None
    assert chart.title == "Energy delivered" and chart.unit == "kWh"
    assert len(chart.points.split()) == 3  # start, the sample, stop
    assert [t.label for t in chart.y_ticks] == ["0", "1.5", "3", "4.5", "6"]
    assert chart.summary.endswith("highest 6.00 kWh, last 6.00 kWh")
    # nothing to draw: a session still running with no samples yet
    assert charts.energy_chart(_session(stopped_at=None, meter_stop_wh=None), []) is None


def test_the_power_chart_adds_up_phases_when_there_is_no_total() -> None:
    values = [
        _value(minute, "Power.Active.Import", "7000", phase)
        for minute in (5, 10)
        for phase in ("L1", "L2", "L3")
    ]
    chart = charts.power_chart(values)
    assert chart is not None and "highest 21.00 kW" in chart.summary
    assert charts.power_chart(values[:3]) is None  # one moment is not a line


async def test_a_listener_that_falls_behind_is_ended_not_grown() -> None:
    assert LiveHub(bus=None).listen("CP-1").ended  # without a bus there is nothing to hear
    bus = MemoryBus()
    hub = LiveHub(bus, queue_size=2)
    slow, other, later = hub.listen("CP-1"), hub.listen("CP-2"), hub.listen("CP-1")
    event = ConnectorStatusChanged("CP-1", T0, 1, 1, "Charging", "NoError", None, None)
    bus.publish([event, event])
    await bus.drain()
    loop = asyncio.get_running_loop()
    assert await later.next(loop.time() + 1) == describe(event)  # one at a time, in order
    bus.publish([event])
    await bus.drain()
    assert slow.ended  # a third message with two unread: it must start again
    assert await slow.next(loop.time() + 1) is None
    assert not later.ended
    assert await other.next(loop.time() + 0.01) is None  # another station's: nothing
    assert describe(event) == {
        "event": "connector",
        "station_id": "CP-1",  # for the pages that watch the whole network
        "evse_id": 1,
        "connector_id": 1,
        "status": "Charging",
        "error_code": "NoError",
        "info": None,
        "at": "2025-06-01T14:00:00Z",
        "at_text": "2025-06-01 14:00:00 UTC",
    }
    for listener in (slow, other):
        hub.forget(listener)
    assert hub.listening == 1
    hub.close()
    assert later.ended and await later.next(loop.time() + 1) is None  # ends now
    assert not hub.available and hub.listen("CP-1").ended


async def test_the_network_hears_every_station_and_a_person_only_their_notifications() -> None:
    bus = MemoryBus()
    hub = LiveHub(bus)
    board, station = hub.listen_to(live.NETWORK), hub.listen("CP-1")
    alice, bob = hub.listen_to(live.user_topic(7)), hub.listen_to(live.user_topic(8))
    fault = FaultRaised("CP-2", T0, 41, 1, 1, "GroundFailure", "RCD tripped", None)
    online = ConnectivityChanged("CP-1", T0, True, "connected")
    note = NotificationPosted("CP-1", T0, 7, 90, "[MAJOR] CP-1 faulted", "major", "/incidents/3")
    bus.publish([fault, online, note])
    await bus.drain()
    loop = asyncio.get_running_loop()

    async def heard(listener: live.Listener) -> list[tuple[str, str]]:
        got = []
        while (message := await listener.next(loop.time() + 0.05)) is not None:
            got.append((message["event"], message["station_id"]))
        return got

    assert await heard(board) == [("fault", "CP-2"), ("connectivity", "CP-1")]
    assert await heard(station) == [("connectivity", "CP-1")]  # not CP-2's, nor anyone's note
    assert await heard(alice) == [("notification", "CP-1")]
    assert await heard(bob) == []
