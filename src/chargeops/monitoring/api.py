"""``/api/v1/monitoring/...`` and ``/api/v1/stations/{id}/health|uptime|timeline``: what
is broken, since when, what happened, and how available each port has been."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from chargeops.core.access import Permission, Principal
from chargeops.core.clock import as_utc, utcnow
from chargeops.core.errors import InvalidInput, NotFound
from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, before_id, newest_first
from chargeops.monitoring import availability, exclusions, faults, health, timeline
from chargeops.monitoring.schemas import (
    AnomalyOut,
    ExclusionIn,
    ExclusionOut,
    FaultOut,
    OverviewOut,
    SiteUptimeOut,
    StationHealthOut,
    StationUptimeOut,
    TimelineOut,
    UptimeOut,
)
from chargeops.monitoring.uptime import Interval
from chargeops.stations.models import Site
from chargeops.storage.http import DbSession, requires, writer_of
from chargeops.storage.writer import Work

router = APIRouter(tags=["monitoring"])

Reader = Annotated[Principal, requires(Permission.MONITORING_READ)]
Manager = Annotated[Principal, requires(Permission.MONITORING_MANAGE)]
_Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
_Since = Annotated[datetime | None, Query(description="from (ISO 8601; default 30 days ago)")]
_Until = Annotated[datetime | None, Query(description="until (ISO 8601; default now)")]
TIMELINE_DAYS = timedelta(days=7)


def _period(since: datetime | None, until: datetime | None) -> Interval:
    now = utcnow()
    end = as_utc(until) or now
    start = as_utc(since) or end - timedelta(days=30)
    if end > now:
        end = max(now, start + timedelta(microseconds=1))
    return availability.period_of(start, end, now=now)


@router.get(
    "/monitoring/overview",
    response_model=OverviewOut,
    summary="The network at a glance: stations online and offline, connectors by status, "
    "open faults and anomalies",
)
async def get_overview(
    db: DbSession,
    principal: Reader,
    site_id: Annotated[int | None, Query(description="only the stations of this site")] = None,
) -> OverviewOut:
    if site_id is not None and await db.get(Site, site_id) is None:
        raise NotFound(f"site {site_id} does not exist")
    return OverviewOut.of(await health.overview(db, site_id=site_id))


@router.get(
    "/stations/{station_id}/health",
    response_model=StationHealthOut,
    summary="A station's state, open faults, last message, uptime 24h/7d/30d, and recent anomalies",
)
async def get_station_health(station_id: str, db: DbSession, principal: Reader) -> StationHealthOut:
    return StationHealthOut.of(await health.station_health(db, station_id, now=utcnow()))


@router.get(
    "/stations/{station_id}/uptime",
    response_model=StationUptimeOut,
    summary="Uptime of each port and of the station over a period (23 CFR 680.116(b))",
)
async def get_station_uptime(
    station_id: str,
    db: DbSession,
    principal: Reader,
    since: _Since = None,
    until: _Until = None,
) -> StationUptimeOut:
    period = _period(since, until)
    return StationUptimeOut.of(await availability.station_uptime(db, station_id, period))


@router.get(
    "/sites/{site_id}/uptime",
    response_model=SiteUptimeOut,
    summary="Uptime of every port of a site, as one figure and per station",
)
async def get_site_uptime(
    site_id: int,
    db: DbSession,
    principal: Reader,
    since: _Since = None,
    until: _Until = None,
) -> SiteUptimeOut:
    if await db.get(Site, site_id) is None:
        raise NotFound(f"site {site_id} does not exist")
    overall, stations = await availability.site_uptime(db, site_id, _period(since, until))
    return SiteUptimeOut(
        site_id=site_id,
        overall=UptimeOut.of(overall) if overall else None,
        stations=[StationUptimeOut.of(s) for s in stations],
    )


@router.get(
    "/stations/{station_id}/timeline",
    response_model=TimelineOut,
    summary="What happened at a station, newest first: connectivity, connector status, "
    "faults, anomalies and declared outages",
)
async def get_station_timeline(
    station_id: str,
    db: DbSession,
    principal: Reader,
    since: Annotated[
        datetime | None, Query(description="from (ISO 8601; default 7 days ago)")
    ] = None,
    until: _Until = None,
    kind: Annotated[
        list[str] | None, Query(description=f"only these: {', '.join(timeline.KINDS)}")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=timeline.MAX_LIMIT)] = 200,
) -> TimelineOut:
    end = as_utc(until) or utcnow()
    start = as_utc(since) or end - TIMELINE_DAYS
    found = await timeline.station_timeline(
        db, station_id, since=start, until=end, kinds=kind or (), limit=limit
    )
    return TimelineOut.of(found)


@router.get("/monitoring/faults", response_model=Page[FaultOut], summary="Faults, newest first")
async def list_faults(
    db: DbSession,
    principal: Reader,
    station_id: str | None = None,
    open: Annotated[bool, Query(description="only those not cleared")] = False,
    cleared: Annotated[bool, Query(description="only those cleared")] = False,
    code: Annotated[str | None, Query(description="part of the code, any case")] = None,
    since: Annotated[datetime | None, Query(description="raised at or after")] = None,
    limit: _Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[FaultOut]:
    rows = await health.faults_of(
        db,
        station_id=station_id,
        open_only=open,
        cleared_only=cleared,
        code=code,
        since=as_utc(since),
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return newest_first(rows, limit, FaultOut.of, lambda r: r.id)


@router.post(
    "/monitoring/faults/{fault_id}/clear",
    response_model=FaultOut,
    summary="Close a fault by hand (when the station will not say it is over)",
)
async def clear_fault(fault_id: int, request: Request, principal: Manager) -> FaultOut:
    async def unit(w: Work) -> FaultOut:
        row = await faults.clear_by_operator(w, fault_id, by=principal.name, at=utcnow())
        if row is None:
            raise NotFound(f"fault {fault_id} does not exist")
        return FaultOut.of(row)

    return await writer_of(request).submit(unit)


@router.get(
    "/monitoring/anomalies", response_model=Page[AnomalyOut], summary="Anomalies, newest first"
)
async def list_anomalies(
    db: DbSession,
    principal: Reader,
    station_id: str | None = None,
    detector: str | None = None,
    open: Annotated[bool, Query(description="only those still present")] = False,
    limit: _Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[AnomalyOut]:
    rows = await health.anomalies_of(
        db,
        station_id=station_id,
        detector=detector,
        open_only=open,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return newest_first(rows, limit, AnomalyOut.of, lambda r: r.id)


@router.get(
    "/monitoring/exclusions",
    response_model=list[ExclusionOut],
    summary="Maintenance windows and outages excluded from uptime, newest first",
)
async def list_exclusions(
    db: DbSession,
    principal: Reader,
    station_id: str | None = None,
    site_id: int | None = None,
    since: _Since = None,
    until: _Until = None,
) -> list[ExclusionOut]:
    rows = await exclusions.listed(
        db, station_id=station_id, site_id=site_id, since=as_utc(since), until=as_utc(until)
    )
    return [ExclusionOut.of(r) for r in rows]


@router.post(
    "/monitoring/exclusions",
    response_model=ExclusionOut,
    status_code=201,
    summary="Declare a maintenance window, or mark an outage as not the operator's doing "
    "(utility, vehicle, vandalism, natural disaster, outside posted hours)",
)
async def declare_exclusion(
    body: ExclusionIn, request: Request, principal: Manager
) -> ExclusionOut:
    starts_at, ends_at = as_utc(body.starts_at), as_utc(body.ends_at)
    if starts_at is None or ends_at is None:
        raise InvalidInput("starts_at and ends_at are required")

    async def unit(w: Work) -> ExclusionOut:
        row = await exclusions.declare(
            w,
            station_id=body.station_id,
            site_id=body.site_id,
            evse_id=body.evse_id,
            starts_at=starts_at,
            ends_at=ends_at,
            cause=body.cause,
            note=body.note,
            by=principal.name,
            at=utcnow(),
        )
        return ExclusionOut.of(row)

    return await writer_of(request).submit(unit)


@router.delete(
    "/monitoring/exclusions/{exclusion_id}",
    status_code=204,
    response_class=Response,
    summary="Withdraw an exclusion: its time counts against uptime again",
)
async def withdraw_exclusion(exclusion_id: int, request: Request, principal: Manager) -> Response:
    await writer_of(request).submit(lambda w: exclusions.withdraw(w, exclusion_id))
    return Response(status_code=204)
