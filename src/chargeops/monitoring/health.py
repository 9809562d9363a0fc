"""The health views: the network (or one site) at a glance, every station on one board,
and one station in depth (state, open faults, when it was last heard, uptime over 24
hours / 7 days / 30 days, recent anomalies), plus the fault and anomaly lists."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from chargeops.core.errors import InvalidInput, NotFound
from chargeops.monitoring import availability
from chargeops.monitoring.models import Anomaly, Fault, StationConnectivity
from chargeops.monitoring.uptime import Interval
from chargeops.stations.models import Connector, Site, Station
from chargeops.storage import search

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
    faulted_stations: int = 0  # how many stations have an open fault


def _at_site(column: InstrumentedAttribute[str], site_id: int | None) -> ColumnElement[bool]:
    """Rows of the stations of one site (``site_id`` None: of every station)."""
    if site_id is None:
        return true()
    return column.in_(select(Station.id).where(Station.site_id == site_id))


async def overview(db: AsyncSession, *, limit: int = 20, site_id: int | None = None) -> Overview:
    """The network's figures, or one site's."""
    total = (
        await db.scalar(
            select(func.count()).select_from(Station).where(_at_site(Station.id, site_id))
        )
        or 0
    )
    states = dict(
        (
            await db.execute(
                select(StationConnectivity.online, func.count())
                .where(_at_site(StationConnectivity.station_id, site_id))
                .group_by(StationConnectivity.online)
            )
        ).all()
    )
    statuses = dict(
        (
            await db.execute(
                select(Connector.status, func.count())
                .where(Connector.evse_id > 0, _at_site(Connector.station_id, site_id))
                .group_by(Connector.status)
            )
        ).all()
    )
    open_faults = (
        await db.execute(
            select(Fault.station_id, Fault.code).where(
                Fault.cleared_at.is_(None), _at_site(Fault.station_id, site_id)
            )
        )
    ).all()
    open_anomalies = await db.scalar(
        select(func.count())
        .select_from(Anomaly)
        .where(Anomaly.cleared_at.is_(None), _at_site(Anomaly.station_id, site_id))
    )
    offline = (
        await db.execute(
            select(
                StationConnectivity.station_id,
                StationConnectivity.since,
                StationConnectivity.reason,
            )
            .where(
                StationConnectivity.online.is_(False),
                _at_site(StationConnectivity.station_id, site_id),
            )
            .order_by(StationConnectivity.since)
            .limit(limit)
        )
    ).all()
    online, known_offline = states.get(True, 0), states.get(False, 0)
    faulted = {sid for sid, _ in open_faults}
    return Overview(
        stations=total,
        online=online,
        offline=known_offline,
        never_connected=max(0, total - online - known_offline),
        connectors_by_status=statuses,
        open_faults=len(open_faults),
        open_anomalies=open_anomalies or 0,
        faults_by_code=dict(Counter(code for _, code in open_faults).most_common(limit)),
        stations_with_faults=sorted(faulted)[:limit],
        offline_stations=[(sid, since, reason) for sid, since, reason in offline],
        faulted_stations=len(faulted),
    )


# --- the status board: every station, one row each ------------------------------------

# connector states in which a driver is at the connector (1.6 and 2.0.1 words)
IN_USE = frozenset(
    {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"}
)
BOARD_STATES = {
    "online": "Online",
    "offline": "Offline",
    "never_connected": "Never connected",
    "faulted": "With an open fault",
    "in_use": "In use",
    "available": "With a free connector",
}


@dataclass(frozen=True, slots=True)
class BoardRow:
    station: Station
    connectivity: StationConnectivity | None  # None: never connected since monitoring began
    site: Site | None
    connectors: list[Connector]
    open_faults: int
    open_anomalies: int


async def board(
    db: AsyncSession,
    *,
    site_id: int | None = None,
    state: str = "",
    text: str = "",
    after: str | None = None,
    limit: int = 100,
) -> list[BoardRow]:
    """Stations by id with what an operator scans for: reachable or not since when,
    each connector's state, open faults. ``state`` is one of :data:`BOARD_STATES` (or
    empty: all); ``after`` continues a page (the last id shown)."""
    if state and state not in BOARD_STATES:
        raise InvalidInput(f"state must be one of: {', '.join(BOARD_STATES)}")
    stmt = (
        select(Station, StationConnectivity, Site)
        .outerjoin(StationConnectivity, StationConnectivity.station_id == Station.id)
        .outerjoin(Site, Site.id == Station.site_id)
        .order_by(Station.id)
        .limit(limit)
    )
    if site_id is not None:
        stmt = stmt.where(Station.site_id == site_id)
    if text:
        pattern = search.contains(text)
        stmt = stmt.where(
            or_(
                Station.id.ilike(pattern, escape=search.ESCAPE),
                Station.vendor.ilike(pattern, escape=search.ESCAPE),
                Station.model.ilike(pattern, escape=search.ESCAPE),
            )
        )
    if after is not None:
        stmt = stmt.where(Station.id > after)
    stmt = stmt.where(_board_state(state))
    rows = (await db.execute(stmt)).all()
    ids = [station.id for station, _, _ in rows]
    connectors: dict[str, list[Connector]] = {}
    if ids:
        for c in await db.scalars(
            select(Connector)
            .where(Connector.station_id.in_(ids))
            .order_by(Connector.station_id, Connector.evse_id, Connector.connector_id)
        ):
            connectors.setdefault(c.station_id, []).append(c)
    faults = await _open_counts(db, Fault.station_id, Fault.cleared_at, ids)
    anomalies = await _open_counts(db, Anomaly.station_id, Anomaly.cleared_at, ids)
    return [
        BoardRow(
            station=station,
            connectivity=conn,
            site=site,
            connectors=connectors.get(station.id, []),
            open_faults=faults.get(station.id, 0),
            open_anomalies=anomalies.get(station.id, 0),
        )
        for station, conn, site in rows
    ]


def _board_state(state: str) -> ColumnElement[bool]:
    if state == "online":
        return StationConnectivity.online.is_(True)
    if state == "offline":
        return StationConnectivity.online.is_(False)
    if state == "never_connected":
        return StationConnectivity.station_id.is_(None)
    if state == "faulted":
        return Station.id.in_(select(Fault.station_id).where(Fault.cleared_at.is_(None)))
    if state in ("in_use", "available"):
        wanted = IN_USE if state == "in_use" else {"Available"}
        return Station.id.in_(
            select(Connector.station_id).where(
                Connector.evse_id > 0, Connector.status.in_(sorted(wanted))
            )
        )
    return true()


async def _open_counts(
    db: AsyncSession,
    station: InstrumentedAttribute[str],
    cleared_at: InstrumentedAttribute[datetime | None],
    ids: list[str],
) -> dict[str, int]:
    if not ids:
        return {}
    rows = await db.execute(
        select(station, func.count())
        .where(station.in_(ids), cleared_at.is_(None))
        .group_by(station)
    )
    return {sid: int(n) for sid, n in rows.all()}


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
    cleared_only: bool = False,
    code: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Fault]:
    """Newest first. ``code`` matches part of the code, whatever its case (an operator
    types "ground" for GroundFailure)."""
    stmt = select(Fault).order_by(Fault.id.desc()).limit(limit)
    if station_id is not None:
        stmt = stmt.where(Fault.station_id == station_id)
    if open_only:
        stmt = stmt.where(Fault.cleared_at.is_(None))
    if cleared_only:
        stmt = stmt.where(Fault.cleared_at.is_not(None))
    if code:
        stmt = stmt.where(Fault.code.ilike(search.contains(code), escape=search.ESCAPE))
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
