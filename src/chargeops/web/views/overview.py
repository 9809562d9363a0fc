"""``/``: the network at a glance for staff; a driver's own charging for a driver."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response

from chargeops.core.access import Permission, Scope
from chargeops.core.clock import utcnow
from chargeops.sessions import service as sessions
from chargeops.storage.http import DbSession
from chargeops.web import queries
from chargeops.web.auth import Viewer
from chargeops.web.frame import NavEntry, console_router, page, render
from chargeops.web.views.common import visible_id_tags

router = console_router()
NAV = (NavEntry("Home", "/"),)


@router.get("/")
async def home(request: Request, db: DbSession, viewer: Annotated[Viewer, page()]) -> Response:
    principal = viewer.principal
    if principal.scope(Permission.SESSIONS_READ) is Scope.OWN:
        return await _driver_home(request, db, viewer)
    now = utcnow()
    counts = faulted = None
    if principal.may(Permission.STATIONS_READ):
        counts = await queries.network_counts(db)
        faulted = await queries.faulted_connectors(db)
    active = energy = None
    scope = principal.scope(Permission.SESSIONS_READ)
    if scope is not None:
        tags = await visible_id_tags(request, db, viewer)
        active = await queries.active_session_count(db, tags)
        energy = await queries.energy_today(db, tags, now)
    return render(
        request,
        "overview.html",
        title="Overview",
        counts=counts,
        faulted=faulted,
        active=active,
        energy_wh=energy,
        organization_only=scope is Scope.ORGANIZATION,
        since=queries.midnight_utc(now),
    )


async def _driver_home(request: Request, db: DbSession, viewer: Viewer) -> Response:
    tags = await visible_id_tags(request, db, viewer)
    charging = await sessions.list_sessions(db, status="active", limit=20, id_tags=tags)
    recent = await sessions.list_sessions(db, status="completed", limit=10, id_tags=tags)
    readings = await queries.latest_readings(db, [s.id for s in charging])
    return render(
        request,
        "driver_home.html",
        title="Your charging",
        charging=[(s, readings.get(s.id)) for s in charging],
        recent=[(s, s.energy_wh) for s in recent],
        energy_so_far=queries.energy_so_far,
        has_tokens=bool(tags),
    )
