"""Connectivity: online and offline with their times, a silent station counted offline
after its heartbeat interval and the grace period (judged with an injected clock), and
uptime computed from what was recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call as call16
from sqlalchemy import select, update

from chargeops.monitoring.models import ConnectivityChange
from chargeops.stations.models import Station
from tests.harness import RunningServer, charge_point


async def _changes(server: RunningServer, station_id: str, count: int) -> list[tuple[bool, str]]:
    """The station's transitions, once ``count`` are there (they are recorded from the
    bus, just after the commit)."""
    for _ in range(100):
        async with server.db() as db:
            rows = (
                await db.scalars(
                    select(ConnectivityChange)
                    .where(ConnectivityChange.station_id == station_id)
                    .order_by(ConnectivityChange.at, ConnectivityChange.id)
                )
            ).all()
        if len(rows) >= count:
            break
        await asyncio.sleep(0.05)
    return [(r.online, r.reason) for r in rows]


async def _health(server: RunningServer, station_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await server.get(f"/api/v1/stations/{station_id}/health")
    return result


async def test_connections_and_disconnections_are_recorded_with_their_times(
    server: RunningServer,
) -> None:
    await server.add_station("CP-C1")
    async with charge_point(server, "CP-C1"):
        for _ in range(100):
            if (await _health(server, "CP-C1"))["online"]:
                break
            await asyncio.sleep(0.05)
        health = await _health(server, "CP-C1")
        assert health["online"] is True and health["state_reason"] == "connected"
    for _ in range(100):
        health = await _health(server, "CP-C1")
        if health["online"] is False:
            break
        await asyncio.sleep(0.05)
    assert health["online"] is False and health["state_reason"] == "disconnected"
    assert await _changes(server, "CP-C1", 2) == [(True, "connected"), (False, "disconnected")]
    overview = await server.get("/api/v1/monitoring/overview")
    assert overview["offline"] >= 1
    assert "CP-C1" in [s["station_id"] for s in overview["offline_stations"]]


async def test_a_silent_station_goes_offline_and_comes_back_when_heard(
    server: RunningServer,
) -> None:
    monitor = server.app.monitor
    assert monitor is not None
    limit = server.settings.heartbeat_interval + server.settings.offline_grace
    await server.add_station("CP-SIL")
    async with charge_point(server, "CP-SIL") as cp:
        await cp.call(call16.Heartbeat())
        for _ in range(100):
            if (await _health(server, "CP-SIL"))["online"]:
                break
            await asyncio.sleep(0.05)
        async with server.db() as db:
            last_seen = await db.scalar(select(Station.last_seen_at).where(Station.id == "CP-SIL"))
        assert last_seen is not None
        # the clock moved on just short of the limit: still online
        assert await monitor.check_silence(last_seen + timedelta(seconds=limit - 1)) == 0
        # ... and past it: offline from when its heartbeat was due
        assert await monitor.check_silence(last_seen + timedelta(seconds=limit + 1)) == 1
        health = await _health(server, "CP-SIL")
        assert health["online"] is False and health["state_reason"] == "silent"
        assert health["socket_open"] is True
        due = last_seen + timedelta(seconds=server.settings.heartbeat_interval)
        assert datetime.fromisoformat(health["state_since"]) == due

        # it speaks again (its last-seen time written, as the gateway does every 30 s)
        heard = last_seen + timedelta(seconds=limit + 5)
        async with server.db() as db:
            await db.execute(
                update(Station).where(Station.id == "CP-SIL").values(last_seen_at=heard)
            )
            await db.commit()
        assert await monitor.check_silence(heard + timedelta(seconds=1)) == 1
        health = await _health(server, "CP-SIL")
        assert health["online"] is True and health["state_reason"] == "heard"


async def test_station_uptime_from_the_recorded_timeline(server: RunningServer) -> None:
    """A station connected an hour ago, silent from minute 20 to 32, its connector
    faulted from 29 to 35, and maintenance declared from 33 to 40: down 20-35 (15
    minutes), of which 33-35 excluded, so (60 - (15 - 2)) / 60 = 78.333 %."""
    await server.add_station("CP-UP")
    async with charge_point(server, "CP-UP") as cp:
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
    now = datetime.now(UTC).replace(microsecond=0)
    t = now - timedelta(minutes=60)

    def m(minutes: int) -> datetime:
        return t + timedelta(minutes=minutes)

    async with server.db() as db:
        from chargeops.monitoring.models import StationConnectivity
        from chargeops.stations.models import ConnectorStatusChange

        await db.execute(
            ConnectivityChange.__table__.delete().where(ConnectivityChange.station_id == "CP-UP")
        )
        await db.execute(
            ConnectorStatusChange.__table__.delete().where(
                ConnectorStatusChange.station_id == "CP-UP"
            )
        )
        for at, online, reason in [
            (m(0), True, "connected"),
            (m(20), False, "silent"),
            (m(32), True, "heard"),
        ]:
            db.add(ConnectivityChange(station_id="CP-UP", online=online, at=at, reason=reason))
        await db.merge(
            StationConnectivity(station_id="CP-UP", online=True, since=m(32), reason="heard")
        )
        for at, status, code in [
            (m(0), "Available", "NoError"),
            (m(29), "Faulted", "GroundFailure"),
            (m(35), "Available", "NoError"),
        ]:
            db.add(
                ConnectorStatusChange(
                    station_id="CP-UP",
                    evse_id=1,
                    connector_id=1,
                    status=status,
                    error_code=code,
                    timestamp=at,
                    received_at=at,
                )
            )
        await db.commit()
    async with server.api() as api:
        declared = await api.post(
            "/api/v1/monitoring/exclusions",
            json={
                "station_id": "CP-UP",
                "evse_id": 1,
                "starts_at": m(33).isoformat(),
                "ends_at": m(40).isoformat(),
                "cause": "maintenance",
                "note": "RCD replaced",
            },
        )
        assert declared.status_code == 201, declared.text
        wrong = await api.post(
            "/api/v1/monitoring/exclusions",
            json={
                "station_id": "CP-UP",
                "starts_at": m(5).isoformat(),
                "ends_at": m(1).isoformat(),
                "cause": "maintenance",
            },
        )
        assert wrong.status_code == 422
        uptime = (
            await api.get(
                "/api/v1/stations/CP-UP/uptime",
                params={"since": m(0).isoformat(), "until": m(60).isoformat()},
            )
        ).json()
    [port] = uptime["ports"]
    assert port["evse_id"] == 1
    assert port["total_minutes"] == "60.00"
    assert port["outage_minutes"] == "15.00"  # 20-35: silent 20-32, faulted 29-35
    assert port["excluded_minutes"] == "2.00"  # maintenance 33-40 on the outage 33-35
    assert port["uptime_percent"] == "78.333"  # (60 - 13) / 60
    assert uptime["overall"]["uptime_percent"] == "78.333"
