"""``/sessions``: charging sessions, newest first, and one session with its meter
values. Scoped as the API scopes them: a driver sees their own tokens' sessions, a fleet
manager their organization's, and a session outside that is not found."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response

from chargeops.core.access import Permission, Scope
from chargeops.core.errors import InvalidInput
from chargeops.sessions import service as sessions
from chargeops.storage.http import DbSession
from chargeops.web import charts, queries
from chargeops.web.auth import Viewer
from chargeops.web.frame import NavEntry, console_router, page, render
from chargeops.web.views.common import visible_id_tags

router = console_router()
NAV = (NavEntry("Sessions", "/sessions", Permission.SESSIONS_READ),)
PAGE_SIZE = 25
Reader = Annotated[Viewer, page(Permission.SESSIONS_READ)]


def _whose(viewer: Viewer) -> str:
    scope = viewer.principal.scope(Permission.SESSIONS_READ)
    if scope is Scope.OWN:
        return "Your sessions"
    if scope is Scope.ORGANIZATION:
        return "Your organization's sessions"
    return "Sessions"


@router.get("/sessions")
async def session_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    station: str = "",
    status: str = "",
    before: int | None = None,
) -> Response:
    station = station.strip()
    if status not in ("", *sessions.STATUSES):
        raise InvalidInput(f"status must be one of {', '.join(sessions.STATUSES)}")
    tags = await visible_id_tags(request, db, viewer)
    rows = await sessions.list_sessions(
        db,
        station_id=station or None,
        status=status or None,
        before_id=before,
        limit=PAGE_SIZE + 1,
        id_tags=tags,
    )
    shown = rows[:PAGE_SIZE]
    readings = await queries.latest_readings(
        db, [r.id for r in shown if r.status == sessions.ACTIVE]
    )
    return render(
        request,
        "sessions.html",
        title=_whose(viewer),
        rows=[(r, queries.energy_so_far(r, readings.get(r.id))) for r in shown],
        station=station,
        status=status,
        statuses=sessions.STATUSES,
        paged=before is not None,
        next_before=shown[-1].id if len(rows) > PAGE_SIZE else None,
        scoped=tags is not None,
    )


@router.get("/sessions/{session_id}")
async def session_page(
    session_id: int, request: Request, db: DbSession, viewer: Reader
) -> Response:
    tags = await visible_id_tags(request, db, viewer)
    row, values = await sessions.get_session(db, session_id, id_tags=tags)
    reading = None
    if row.status == sessions.ACTIVE:
        reading = (await queries.latest_readings(db, [row.id])).get(row.id)
    return render(
        request,
        "session.html",
        title=f"Session {row.id}",
        session=row,
        energy_wh=queries.energy_so_far(row, reading),
        reading=reading,
        values=values,
        charts=[
            c
            for c in (charts.energy_chart(row, values), charts.power_chart(values))
            if c is not None
        ],
    )
