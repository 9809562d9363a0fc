"""Uptime of stored stations: their connectivity and status timelines and the declared
exclusions, read from the database and judged by monitoring/uptime.py.

A port's counted time starts when monitoring first saw its station connect (before that
nothing is known of it) and ends now at the latest: a period in the future is not
judged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.errors import InvalidInput, NotFound
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
from chargeops.stations.models import Connector, ConnectorStatusChange, Site, Station

CHUNK = 500  # stations per round of reads: well within every database's bound parameters


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
    return (await uptime_of(db, [station], period))[station.id]


async def site_uptime(
    db: AsyncSession, site_id: int, period: Interval
) -> tuple[Uptime | None, list[StationUptime]]:
    """The site's ports as one figure, and each station's."""
    stations = (
        await db.scalars(select(Station).where(Station.site_id == site_id).order_by(Station.id))
    ).all()
    found = await uptime_of(db, stations, period)
    each = [found[s.id] for s in stations]
    return site_figure(each, period), each


def site_figure(stations: Sequence[StationUptime], period: Interval) -> Uptime | None:
    """Several stations' ports as one figure (None: none was known in the period)."""
    ports = [u for s in stations for u in s.ports.values()]
    return combined(ports, period) if ports else None


async def stations_uptime(
    db: AsyncSession,
    period: Interval,
    *,
    site_id: int | None = None,
    after: str | None = None,
    limit: int = 50,
) -> list[tuple[Station, StationUptime]]:
    """A page of stations (by id, of one site or all) with their uptime."""
    stmt = select(Station).order_by(Station.id).limit(limit)
    if site_id is not None:
        stmt = stmt.where(Station.site_id == site_id)
    if after is not None:
        stmt = stmt.where(Station.id > after)
    stations = (await db.scalars(stmt)).all()
    found = await uptime_of(db, stations, period)
    return [(s, found[s.id]) for s in stations]


@dataclass(frozen=True, slots=True)
class SiteUptime:
    site: Site
    overall: Uptime | None  # None: none of its stations known in the period
    stations: int


async def sites_uptime(
    db: AsyncSession, period: Interval, *, after: int | None = None, limit: int = 20
) -> list[SiteUptime]:
    """A page of sites (by id) with the uptime of all their ports as one figure. Every
    station of those sites is judged: keep pages short for sites with many."""
    stmt = select(Site).order_by(Site.id).limit(limit)
    if after is not None:
        stmt = stmt.where(Site.id > after)
    sites = (await db.scalars(stmt)).all()
    if not sites:
        return []
    stations = (
        await db.scalars(
            select(Station).where(Station.site_id.in_([s.id for s in sites])).order_by(Station.id)
        )
    ).all()
    found = await uptime_of(db, stations, period)
    by_site: dict[int, list[StationUptime]] = defaultdict(list)
    for station in stations:
        if station.site_id is not None:
            by_site[station.site_id].append(found[station.id])
    return [
        SiteUptime(site, site_figure(by_site[site.id], period), len(by_site[site.id]))
        for site in sites
    ]


async def uptime_of(
    db: AsyncSession, stations: Sequence[Station], period: Interval
) -> dict[str, StationUptime]:
    """Uptime of many stations at once: a few queries per :data:`CHUNK` stations rather
    than a few per station, so that a page of stations or a whole site is one round of
    reads (the status board and the uptime page list hundreds)."""
    found: dict[str, StationUptime] = {}
    for start in range(0, len(stations), CHUNK):
        chunk = stations[start : start + CHUNK]
        found.update(await _chunk(db, chunk, period))
    return found


async def _chunk(
    db: AsyncSession, stations: Sequence[Station], period: Interval
) -> dict[str, StationUptime]:
    ids = [s.id for s in stations]
    firsts = dict(
        (
            await db.execute(
                select(ConnectivityChange.station_id, func.min(ConnectivityChange.at))
                .where(ConnectivityChange.station_id.in_(ids))
                .group_by(ConnectivityChange.station_id)
            )
        ).all()
    )
    known = [s for s in stations if s.id in firsts and firsts[s.id] < period.end]
    result = {s.id: StationUptime(s.id, None, {}) for s in stations}
    if not known:
        return result
    known_ids = [s.id for s in known]
    presence = await _connectivity_timelines(db, known_ids, period)
    statuses = await _status_timelines(db, known_ids, period)
    evses = await _evses(db, known_ids)
    exclusions = await _exclusions(db, known, period)
    for station in known:
        counted = Interval(max(period.start, firsts[station.id]), period.end)
        result[station.id] = _judge(
            station.id,
            counted,
            presence.get(station.id, []),
            statuses.get(station.id, {}),
            evses.get(station.id, set()),
            exclusions.get(station.id, []),
        )
    return result


# a timeline as read: (time, id, state); the state at a time is that of its last entry
# at or before it (the higher id wins a tie, as the rows were written)
Timeline = list[tuple[datetime, int, bool]]


def _split(timeline: Timeline, counted: Interval) -> tuple[bool | None, list[Change]]:
    """The state at the start of ``counted`` and the changes within it."""
    initial: bool | None = None
    changes: list[Change] = []
    for at, _, up in sorted(timeline, key=lambda t: (t[0], t[1])):
        if at <= counted.start:
            initial = up
        elif at < counted.end:
            changes.append(Change(at, up))
    return initial, changes


def _judge(
    station_id: str,
    counted: Interval,
    presence: Timeline,
    statuses: dict[tuple[int, int], Timeline],
    evses: set[int],
    exclusions: list[tuple[int | None, Interval]],
) -> StationUptime:
    initial, changes = _split(presence, counted)
    offline = down_intervals(changes, counted, initial=initial)
    by_connector = {
        key: down_intervals(c, counted, initial=i)
        for key, (i, c) in ((k, _split(t, counted)) for k, t in statuses.items())
    }
    whole_station = by_connector.pop((0, 0), [])
    ports: dict[int, list[list[Interval]]] = defaultdict(list)
    for (evse_id, _), down in sorted(by_connector.items()):
        if evse_id > 0:
            ports[evse_id].append(down)
    for evse_id in evses:
        ports.setdefault(evse_id, [])
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
    return StationUptime(station_id, overall, result)


async def _connectivity_timelines(
    db: AsyncSession, ids: list[str], period: Interval
) -> dict[str, Timeline]:
    """Per station, its last transition at or before the period and those within it."""
    c = ConnectivityChange
    latest = (
        select(c.station_id, func.max(c.at).label("at"))
        .where(c.station_id.in_(ids), c.at <= period.start)
        .group_by(c.station_id)
        .subquery()
    )
    before = await db.execute(
        select(c.station_id, c.at, c.id, c.online).join(
            latest, (latest.c.station_id == c.station_id) & (latest.c.at == c.at)
        )
    )
    during = await db.execute(
        select(c.station_id, c.at, c.id, c.online).where(
            c.station_id.in_(ids), c.at > period.start, c.at < period.end
        )
    )
    found: dict[str, Timeline] = defaultdict(list)
    for station_id, at, row_id, online in [*before.all(), *during.all()]:
        found[station_id].append((at, row_id, online))
    return found


async def _status_timelines(
    db: AsyncSession, ids: list[str], period: Interval
) -> dict[str, dict[tuple[int, int], Timeline]]:
    """Per station and connector, whether it could serve (up) by each status report:
    its last report at or before the period, and those within it."""
    c = ConnectorStatusChange
    latest = (
        select(c.station_id, c.evse_id, c.connector_id, func.max(c.timestamp).label("at"))
        .where(c.station_id.in_(ids), c.timestamp <= period.start)
        .group_by(c.station_id, c.evse_id, c.connector_id)
        .subquery()
    )
    before = await db.execute(
        select(c.station_id, c.evse_id, c.connector_id, c.timestamp, c.id, c.status).join(
            latest,
            (latest.c.station_id == c.station_id)
            & (latest.c.evse_id == c.evse_id)
            & (latest.c.connector_id == c.connector_id)
            & (latest.c.at == c.timestamp),
        )
    )
    during = await db.execute(
        select(c.station_id, c.evse_id, c.connector_id, c.timestamp, c.id, c.status).where(
            c.station_id.in_(ids), c.timestamp > period.start, c.timestamp < period.end
        )
    )
    found: dict[str, dict[tuple[int, int], Timeline]] = defaultdict(lambda: defaultdict(list))
    for station_id, evse_id, connector_id, at, row_id, status in [*before.all(), *during.all()]:
        found[station_id][(evse_id, connector_id)].append(
            (at, row_id, status not in OUT_OF_SERVICE)
        )
    return found


async def _evses(db: AsyncSession, ids: list[str]) -> dict[str, set[int]]:
    rows = await db.execute(
        select(Connector.station_id, Connector.evse_id)
        .where(Connector.station_id.in_(ids), Connector.evse_id > 0)
        .distinct()
    )
    found: dict[str, set[int]] = defaultdict(set)
    for station_id, evse_id in rows.all():
        found[station_id].add(evse_id)
    return found


async def _exclusions(
    db: AsyncSession, stations: Sequence[Station], period: Interval
) -> dict[str, list[tuple[int | None, Interval]]]:
    """Declared exclusions touching the period, per station: its own (one port or all)
    and its site's (all ports)."""
    ids = [s.id for s in stations]
    site_ids = sorted({s.site_id for s in stations if s.site_id is not None})
    where: ColumnElement[bool] = OutageExclusion.station_id.in_(ids)
    if site_ids:
        where = or_(where, OutageExclusion.site_id.in_(site_ids))
    rows = (
        await db.scalars(
            select(OutageExclusion).where(
                where,
                OutageExclusion.starts_at < period.end,
                OutageExclusion.ends_at > period.start,
            )
        )
    ).all()
    found: dict[str, list[tuple[int | None, Interval]]] = defaultdict(list)
    for station in stations:
        for e in rows:
            span = Interval(e.starts_at, e.ends_at)
            if e.station_id == station.id:
                found[station.id].append((e.evse_id, span))
            elif e.station_id is None and e.site_id is not None and e.site_id == station.site_id:
                found[station.id].append((None, span))
    return found
