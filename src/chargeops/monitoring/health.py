"""The health views: the network at a glance, and one station in depth (state, open
faults, when it was last heard, uptime over 24 hours / 7 days / 30 days, recent
anomalies), plus the fault and anomaly lists."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.errors import NotFound
from chargeops.monitoring import availability
from chargeops.monitoring.models import Anomaly, Fault, StationConnectivity
from chargeops.monitoring.uptime import Interval
from chargeops.stations.models import Connector, Station

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


@dataclass(frozen=True, slots=True)
class Overview:
    stations: int
    online: int
    offline: int
    never_connected: int
    connectors_by_status: dict[str, int]
    open_faults: int
    open_anomalies: int
    faults_by_code: dict[str, int]
    stations_with_faults: list[str]
    offline_stations: list[tuple[str, datetime, str]]  # id, since, reason


async def overview(db: AsyncSession, *, limit: int = 20) -> Overview:
    total = await db.scalar(select(func.count()).select_from(Station)) or 0
    states = dict(
        (
            await db.execute(
                select(StationConnectivity.online, func.count()).group_by(
                    StationConnectivity.online
                )
            )
        ).all()
    )
    statuses = dict(
        (
            await db.execute(
                select(Connector.status, func.count())
                .where(Connector.evse_id > 0)
                .group_by(Connector.status)
            )
        ).all()
    )
    open_faults = (
        await db.execute(select(Fault.station_id, Fault.code).where(Fault.cleared_at.is_(None)))
    ).all()
    open_anomalies = await db.scalar(
        select(func.count()).select_from(Anomaly).where(Anomaly.cleared_at.is_(None))
    )
    offline = (
        await db.execute(
            select(
                StationConnectivity.station_id,
                StationConnectivity.since,
                StationConnectivity.reason,
            )
            .where(StationConnectivity.online.is_(False))
            .order_by(StationConnectivity.since)
            .limit(limit)
        )
    ).all()
    online, known_offline = states.get(True, 0), states.get(False, 0)
    return Overview(
        stations=total,
        online=online,
        offline=known_offline,
        never_connected=max(0, total - online - known_offline),
        connectors_by_status=statuses,
        open_faults=len(open_faults),
        open_anomalies=open_anomalies or 0,
        faults_by_code=dict(Counter(code for _, code in open_faults).most_common(limit)),
        stations_with_faults=sorted({sid for sid, _ in open_faults})[:limit],
        offline_stations=[(sid, since, reason) for sid, since, reason in offline],
    )


@dataclass(frozen=True, slots=True)
class StationHealth:
    station: Station
    connectivity: StationConnectivity | None
    connectors: list[Connector]
    open_faults: list[Fault]
    recent_anomalies: list[Anomaly]
    uptime: dict[str, availability.StationUptime]


async def station_health(db: AsyncSession, station_id: str, *, now: datetime) -> StationHealth:
    station = await db.get(Station, station_id)
    if station is None:
        raise NotFound(f"station {station_id} is not registered")
    connectors = (
        await db.scalars(
            select(Connector)
            .where(Connector.station_id == station_id)
            .order_by(Connector.evse_id, Connector.connector_id)
        )
    ).all()
    uptime = {
        name: await availability.station_uptime(db, station_id, Interval(now - span, now))
        for name, span in WINDOWS.items()
    }
    return StationHealth(
        station=station,
        connectivity=await db.get(StationConnectivity, station_id),
        connectors=list(connectors),
        open_faults=await faults_of(db, station_id=station_id, open_only=True, limit=100),
        recent_anomalies=await anomalies_of(db, station_id=station_id, limit=10),
        uptime=uptime,
    )


async def faults_of(
    db: AsyncSession,
    *,
    station_id: str | None = None,
    open_only: bool = False,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Fault]:
    """Newest first."""
    stmt = select(Fault).order_by(Fault.id.desc()).limit(limit)
    if station_id is not None:
        stmt = stmt.where(Fault.station_id == station_id)
    if open_only:
        stmt = stmt.where(Fault.cleared_at.is_(None))
    if since is not None:
        stmt = stmt.where(Fault.raised_at >= since)
    if before_id is not None:
        stmt = stmt.where(Fault.id < before_id)
    return list((await db.scalars(stmt)).all())


async def anomalies_of(
    db: AsyncSession,
    *,
    station_id: str | None = None,
    open_only: bool = False,
    detector: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Anomaly]:
    """Newest first."""
    stmt = select(Anomaly).order_by(Anomaly.id.desc()).limit(limit)
    if station_id is not None:
        stmt = stmt.where(Anomaly.station_id == station_id)
    if open_only:
        stmt = stmt.where(Anomaly.cleared_at.is_(None))
    if detector is not None:
        stmt = stmt.where(Anomaly.detector == detector)
    if before_id is not None:
        stmt = stmt.where(Anomaly.id < before_id)
    return list((await db.scalars(stmt)).all())
