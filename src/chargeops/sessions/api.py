"""``/api/v1/sessions``: every charging session, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from chargeops.core.access import Permission, Principal
from chargeops.core.clock import as_utc
from chargeops.core.errors import InvalidInput
from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, before_id, newest_first
from chargeops.sessions import service
from chargeops.sessions.schemas import SessionDetail, SessionOut
from chargeops.storage.http import DbSession, requires

router = APIRouter(prefix="/sessions", tags=["sessions"])
Reader = Annotated[Principal, requires(Permission.SESSIONS_READ)]


async def _visible(request: Request, db: DbSession, principal: Principal) -> Any:
    """The tokens whose sessions the caller sees (None: all); the composition root says
    how tokens are owned (the users domain), so sessions need not know."""
    return await request.app.state.visible_id_tags(db, principal, Permission.SESSIONS_READ)


@router.get("", response_model=Page[SessionOut], summary="List sessions, newest first")
async def list_sessions(
    db: DbSession,
    request: Request,
    principal: Reader,
    station_id: str | None = None,
    status: Literal["active", "completed"] | None = None,
    since: Annotated[datetime | None, Query(description="started at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="started before (ISO 8601)")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[SessionOut]:
    before = before_id(cursor)
    since, until = as_utc(since), as_utc(until)
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until must be later than since")
    rows = await service.list_sessions(
        db,
        station_id=station_id,
        status=status,
        since=since,
        until=until,
        before_id=before,
        limit=limit + 1,
        id_tags=await _visible(request, db, principal),
    )
    return newest_first(rows, limit, SessionOut.of, lambda r: r.id)


@router.get(
    "/{session_id}", response_model=SessionDetail, summary="One session with its meter values"
)
async def get_session(
    session_id: int, db: DbSession, request: Request, principal: Reader
) -> SessionDetail:
    row, values = await service.get_session(
        db, session_id, id_tags=await _visible(request, db, principal)
    )
    return SessionDetail.with_values(row, values)
