"""``/stations``: every station and how it is doing; one station with its connectors
live, its sessions and what it reported, its site, and (stations:manage) moving it to
another site."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.alerts import subscriptions
from chargeops.core.access import Permission
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.sessions import service as sessions
from chargeops.sessions.models import ChargingSession
from chargeops.stations import service as stations
from chargeops.stations import sites
from chargeops.stations.models import Connector, Site, Station
from chargeops.storage.http import DbSession
from chargeops.storage.writer import Work
from chargeops.web import live, queries
from chargeops.web.auth import Viewer
from chargeops.web.formatting import iso, kw, kwh, path_part, utc
from chargeops.web.frame import (
    NavEntry,
    console_of,
    console_router,
    page,
    render,
    render_fragment,
    sentence,
)
from chargeops.web.views.common import (
    field,
    form_of,
    optional_id,
    see_other,
    visible_id_tags,
    write,
)

router = console_router()
NAV = (NavEntry("Stations", "/stations", Permission.STATIONS_READ),)
PAGE_SIZE = 50
RECENT = 10
Reader = Annotated[Viewer, page(Permission.STATIONS_READ)]
MOVED = "The station was moved. Its past sessions keep where they happened."
NOTICES = {
    "moved": MOVED,
    "subscribed": "You will be told when the station is back in service, on your "
    "notification channels.",
    "unsubscribed": "You will not be told when the station is back in service.",
}


@dataclass(frozen=True, slots=True)
class StationSummary:
    station: Station
    whole: Connector | None  # the station itself (EVSE 0): 1.6 connector 0
    statuses: list[tuple[str, int]]  # of its connectors: how many in each status
    faulted: bool


def summarize(station: Station, connectors: Sequence[Connector]) -> StationSummary:
    whole = next((c for c in connectors if c.evse_id == 0), None)
    counted = Counter(c.status for c in connectors if c.evse_id > 0)
    return StationSummary(
        station,
        whole,
        sorted(counted.items()),
        any(c.status == queries.FAULTED for c in connectors),
    )


@router.get("/stations")
async def station_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    q: str = "",
    state: str = "",
    after: str = "",
) -> Response:
    q = q.strip()
    if state not in ("", *queries.STATION_STATES):
        raise InvalidInput(f"state must be one of {', '.join(queries.STATION_STATES)}")
    rows = await queries.find_stations(
        db, text=q, state=state, after=after or None, limit=PAGE_SIZE + 1
    )
    shown = rows[:PAGE_SIZE]
    connectors = await queries.connectors_of(db, [s.id for s in shown])
    return render(
        request,
        "stations.html",
        title="Stations",
        stations=[summarize(s, connectors.get(s.id, [])) for s in shown],
        q=q,
        state=state,
        states=queries.STATION_STATES,
        paged=bool(after),
        next_after=shown[-1].id if len(rows) > PAGE_SIZE else None,
    )


async def _recent_sessions(
    request: Request, db: AsyncSession, viewer: Viewer, station_id: str
) -> dict[str, Any]:
    tags = await visible_id_tags(request, db, viewer)
    rows = await sessions.list_sessions(db, station_id=station_id, limit=RECENT, id_tags=tags)
    running = [r.id for r in rows if r.status == sessions.ACTIVE]
    readings = await queries.latest_readings(db, running)
    return {
        "station_id": station_id,
        "recent": [(r, queries.energy_so_far(r, readings.get(r.id))) for r in rows],
        "stamp": await queries.sessions_stamp(db, station_id, tags),
        "scoped": tags is not None,
    }


@router.get("/stations/{station_id}")
async def station_page(
    station_id: str, request: Request, db: DbSession, viewer: Reader, done: str = ""
) -> Response:
    return await _station_page(request, db, viewer, station_id, notice=NOTICES.get(done))


async def _station_page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    station_id: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    http_status: int = 200,
) -> Response:
    station, connectors = await stations.get_station(db, station_id)
    principal = viewer.principal
    context: dict[str, Any] = {"recent": None, "events": None, "site_choices": None}
    if principal.may(Permission.SESSIONS_READ):
        context.update(await _recent_sessions(request, db, viewer, station_id))
    if principal.may(Permission.STATIONS_CONTROL):
        context["events"] = await stations.list_events(db, station_id, limit=RECENT)
    if principal.may(Permission.STATIONS_MANAGE):
        context["site_choices"] = [s.site for s in await sites.list_sites(db, limit=1000)]
    waiting = await _waiting_subscription(db, principal.user_id, station_id)
    return render(
        request,
        "station.html",
        title=f"Station {station.id}",
        http_status=http_status,
        summary=summarize(station, connectors),
        connectors=connectors,
        live_available=console_of(request).live.available,
        site=await db.get(Site, station.site_id) if station.site_id is not None else None,
        see_sites=principal.may(Permission.SITES_READ),
        service=await subscriptions.service_state(db, station_id, subscriptions.ANY_EVSE),
        waiting=waiting,
        notice=notice,
        error=error,
        **context,
    )


@router.post("/stations/{station_id}/site")
async def move_station(
    station_id: str,
    request: Request,
    db: DbSession,
    viewer: Annotated[Viewer, page(Permission.STATIONS_MANAGE)],
) -> Response:
    """Put the station at another site (or at none), as PATCH /api/v1/stations/{id} does."""
    await stations.require_station(db, station_id)
    try:
        site_id = optional_id(field(await form_of(request), "site"), "a site")

        async def unit(w: Work) -> None:
            await sites.move_station(w, station_id, site_id)

        await write(request, unit)
    except (InvalidInput, NotFound) as exc:  # a site gone since the page was drawn
        return await _station_page(
            request, db, viewer, station_id, error=sentence(exc.detail), http_status=422
        )
    return see_other(f"/stations/{path_part(station_id)}?done=moved")


async def _waiting_subscription(db: AsyncSession, user_id: int, station_id: str) -> int | None:
    """The viewer's subscription to hear this station is back, if one is waiting."""
    for row in await subscriptions.subscriptions_of(db, user_id, status="waiting"):
        if row.station_id == station_id:
            return row.id
    return None


@router.post("/stations/{station_id}/subscription")
async def subscribe(station_id: str, request: Request, db: DbSession, viewer: Reader) -> Response:
    """Ask to be told once when the station is back in service (as POST
    /api/v1/stations/{id}/subscriptions); refused while it is in service."""
    await stations.require_station(db, station_id)
    user_id = viewer.principal.user_id

    async def unit(w: Work) -> None:
        await subscriptions.subscribe(w, user_id, station_id, None, now=utcnow())

    try:
        await write(request, unit)
    except IntegrityError:
        pass  # a double click: the first request's subscription is waiting
    except Conflict as exc:  # back in service since the page was drawn
        return await _station_page(
            request, db, viewer, station_id, error=sentence(exc.detail), http_status=409
        )
    return see_other(f"/stations/{path_part(station_id)}?done=subscribed")


@router.post("/stations/{station_id}/subscription/cancel")
async def unsubscribe(station_id: str, request: Request, db: DbSession, viewer: Reader) -> Response:
    await stations.require_station(db, station_id)
    user_id = viewer.principal.user_id
    waiting = await _waiting_subscription(db, user_id, station_id)
    if waiting is not None:

        async def unit(w: Work) -> None:
            await subscriptions.cancel(w, user_id, waiting)

        await write(request, unit)
    return see_other(f"/stations/{path_part(station_id)}?done=unsubscribed")


@router.get("/stations/{station_id}/recent-sessions")
async def recent_sessions_fragment(
    station_id: str,
    request: Request,
    db: DbSession,
    viewer: Annotated[Viewer, page(Permission.SESSIONS_READ)],
) -> Response:
    """The station page's sessions section, for its live updates to reload."""
    await stations.require_station(db, station_id)
    context = await _recent_sessions(request, db, viewer, station_id)
    return render_fragment(request, "_station_sessions.html", **context)


@router.get("/stations/{station_id}/events")
async def station_events(
    station_id: str,
    request: Request,
    db: DbSession,
    viewer: Annotated[Viewer, page(Permission.STATIONS_CONTROL)],
    kind: str = "",
    before: int | None = None,
) -> Response:
    station = await stations.require_station(db, station_id)
    rows = await stations.list_events(
        db, station_id, kind=kind or None, before_id=before, limit=PAGE_SIZE + 1
    )
    shown = rows[:PAGE_SIZE]
    return render(
        request,
        "station_events.html",
        title=f"Events of {station.id}",
        station=station,
        events=shown,
        kind=kind,
        paged=before is not None,
        next_before=shown[-1].id if len(rows) > PAGE_SIZE else None,
    )


# --- live -------------------------------------------------------------------------------


_PAGE_EVENTS = frozenset({"connector", "presence", "booted", "meter", "sessions"})


@router.get("/stations/{station_id}/live")
async def station_live(station_id: str, request: Request, viewer: Reader) -> Response:
    """Server-Sent Events: a snapshot of the station's connectors, then each change.
    (No request-long database session: a stream would hold its connection.)"""
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    see_sessions = viewer.principal.may(Permission.SESSIONS_READ)
    async with factory() as db:
        await stations.require_station(db, station_id)
        tags = await visible_id_tags(request, db, viewer) if see_sessions else frozenset()
    hub = console_of(request).live
    if not hub.available:
        return Response(status_code=204)  # an EventSource stops trying on 204

    async def stream() -> AsyncIterator[bytes]:
        listener = hub.listen(station_id)  # before the snapshot: no change falls between
        loop = asyncio.get_running_loop()
        try:
            yield live.preamble()
            async with factory() as session:
                yield live.sse(await _snapshot(session, station_id, tags, see_sessions))
            deadline = loop.time() + live.STREAM_SECONDS
            while (message := await listener.next(deadline)) is not None:
                if message["event"] not in _PAGE_EVENTS:
                    continue  # faults, anomalies: the status board's and timeline's
                if message["event"] in ("meter", "sessions") and not see_sessions:
                    continue
                if message["event"] == "meter":
                    async with factory() as session:
                        message = await _meter(session, message, tags)
                    if message is None:
                        continue
                yield live.sse(message)
        finally:
            hub.forget(listener)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def connector_state(c: Connector) -> dict[str, Any]:
    return {
        "evse_id": c.evse_id,
        "connector_id": c.connector_id,
        "status": c.status,
        "error_code": c.error_code,
        "info": c.info,
        "at": iso(c.updated_at),
        "at_text": utc(c.updated_at),
    }


async def _snapshot(
    db: AsyncSession, station_id: str, tags: frozenset[str] | None, see_sessions: bool
) -> live.Message:
    station, connectors = await stations.get_station(db, station_id)
    message: live.Message = {
        "event": "snapshot",
        "online": station.online,
        "last_seen_text": utc(station.last_seen_at),
        "connectors": [connector_state(c) for c in connectors],
    }
    if see_sessions:
        message["sessions_stamp"] = await queries.sessions_stamp(db, station_id, tags)
    return message


async def _meter(
    db: AsyncSession, message: live.Message, tags: frozenset[str] | None
) -> live.Message | None:
    """A meter sample as the energy and power of the session it belongs to, if the
    viewer may see that session."""
    session_id = message.get("session_id")
    if not isinstance(session_id, int):
        return None
    row = await db.get(ChargingSession, session_id)
    if row is None or (tags is not None and (row.id_tag or "").lower() not in tags):
        return None
    reading = (await queries.latest_readings(db, [session_id])).get(session_id)
    return {
        **message,
        "energy": kwh(queries.energy_so_far(row, reading)),
        "power": kw(reading.power_w if reading else None),
        "sample_text": utc(reading.at if reading else None),
    }
