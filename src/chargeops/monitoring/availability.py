"""Uptime of stored stations: their connectivity and status timelines and the declared
exclusions, read from the database and judged by monitoring/uptime.py.

A port's counted time starts when monitoring first saw its station connect (before that
nothing is known of it) and ends now at the latest: a period in the future is not
judged.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.errors import InvalidInput, NotFound
from chargeops.monitoring import connectivity
from chargeops.monitoring.models import ConnectivityChange, OutageExclusion
from chargeops.monitoring.uptime import (
    OUT_OF_SERVICE,
    Change,
    Interval,
    Uptime,
    combined,
    down_intervals,
    intersect,
    merge,
    port_uptime,
)
from chargeops.stations.models import Connector, ConnectorStatusChange, Station


@dataclass(frozen=True, slots=True)
class StationUptime:
    station_id: str
    overall: Uptime | None  # None: nothing known in the period
    ports: dict[int, Uptime]


def period_of(since: datetime, until: datetime, *, now: datetime) -> Interval:
    if until <= since:
        raise InvalidInput("the period must end after it starts")
    return Interval(since, min(until, now))


async def station_uptime(db: AsyncSession, station_id: str, period: Interval) -> StationUptime:
    station = await db.get(Station, station_id)
    if station is None:
        raise NotFound(f"station {station_id} is not registered")
    return await _station(db, station, period)


async def site_uptime(
    db: AsyncSession, site_id: int, period: Interval
) -> tuple[Uptime | None, list[StationUptime]]:
    """The site's ports as one figure, and each station's."""
    stations = (
        await db.scalars(select(Station).where(Station.site_id == site_id).order_by(Station.id))
    ).all()
    each = [await _station(db, s, period) for s in stations]
    ports = [u for s in each for u in s.ports.values()]
    return (combined(ports, period) if ports else None), each


async def _station(db: AsyncSession, station: Station, period: Interval) -> StationUptime:
    first = await db.scalar(
        select(func.min(ConnectivityChange.at)).where(ConnectivityChange.station_id == station.id)
    )
    if first is None or first >= period.end:
        return StationUptime(station.id, None, {})
    counted = Interval(max(period.start, first), period.end)
    initial, changes = await connectivity.history(
        db, station.id, since=counted.start, until=counted.end
    )
    offline = down_intervals([Change(c.at, c.online) for c in changes], counted, initial=initial)
    by_connector = await _status_down(db, station.id, counted)
    whole_station = by_connector.pop((0, 0), [])
    ports: dict[int, list[list[Interval]]] = defaultdict(list)
    for (evse_id, _), down in by_connector.items():
        if evse_id > 0:
            ports[evse_id].append(down)
    for evse_id in await _evses(db, station.id):
        ports.setdefault(evse_id, [])
    exclusions = await _exclusions(db, station, counted)
    result: dict[int, Uptime] = {}
    for evse_id, connectors in sorted(ports.items()):
        port_down = connectors[0] if connectors else []
        for other in connectors[1:]:
            port_down = intersect(port_down, other)  # out only if no connector can charge
        excluded = [i for port, i in exclusions if port is None or port == evse_id]
        result[evse_id] = port_uptime(
            counted, merge([*offline, *whole_station, *port_down]), excluded
        )
    overall = combined(list(result.values()), counted) if result else None
    return StationUptime(station.id, overall, result)


async def _evses(db: AsyncSession, station_id: str) -> list[int]:
    rows = await db.scalars(
        select(Connector.evse_id)
        .where(Connector.station_id == station_id, Connector.evse_id > 0)
        .distinct()
    )
    return list(rows)


async def _status_down(
    db: AsyncSession, station_id: str, counted: Interval
) -> dict[tuple[int, int], list[Interval]]:
    """Per connector, when it was out of service within ``counted``."""
    c = ConnectorStatusChange
    latest = (
        select(c.evse_id, c.connector_id, func.max(c.timestamp).label("at"))
        .where(c.station_id == station_id, c.timestamp <= counted.start)
        .group_by(c.evse_id, c.connector_id)
        .subquery()
    )
    before = await db.execute(
        select(c.evse_id, c.connector_id, c.status, c.id)
        .join(
            latest,
            (latest.c.evse_id == c.evse_id)
            & (latest.c.connector_id == c.connector_id)
            & (latest.c.at == c.timestamp),
        )
        .where(c.station_id == station_id)
        .order_by(c.id)
    )
    initial: dict[tuple[int, int], bool] = {}
    for evse_id, connector_id, status, _ in before.all():
        initial[(evse_id, connector_id)] = status not in OUT_OF_SERVICE
    during = await db.execute(
        select(c.evse_id, c.connector_id, c.status, c.timestamp)
        .where(c.station_id == station_id, c.timestamp > counted.start, c.timestamp < counted.end)
        .order_by(c.timestamp, c.id)
    )
    changes: dict[tuple[int, int], list[Change]] = defaultdict(list)
    for evse_id, connector_id, status, at in during.all():
        changes[(evse_id, connector_id)].append(Change(at, status not in OUT_OF_SERVICE))
    keys = set(initial) | set(changes)
    return {
        key: down_intervals(changes.get(key, []), counted, initial=initial.get(key)) for key in keys
    }


async def _exclusions(
    db: AsyncSession, station: Station, counted: Interval
) -> list[tuple[int | None, Interval]]:
    """Declared exclusions touching the period: the station's, and its site's."""
    where = OutageExclusion.station_id == station.id
    if station.site_id is not None:
        where = or_(where, OutageExclusion.site_id == station.site_id)
    rows = await db.scalars(
        select(OutageExclusion).where(
            where,
            OutageExclusion.starts_at < counted.end,
            OutageExclusion.ends_at > counted.start,
        )
    )
    return [
        (
            None if e.site_id is not None and e.station_id is None else e.evse_id,
            Interval(e.starts_at, e.ends_at),
        )
        for e in rows
    ]
