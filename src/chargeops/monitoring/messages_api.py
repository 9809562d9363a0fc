"""``/api/v1/messages`` and ``/api/v1/stations/{id}/messages``: the OCPP message log.

Staff only (messages:read): frames carry card ids and whatever else stations send.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from chargeops.core.access import Permission
from chargeops.core.clock import as_utc
from chargeops.core.errors import InvalidInput
from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, before_id, newest_first
from chargeops.monitoring import message_log
from chargeops.monitoring.message_schemas import MessageOut
from chargeops.stations.service import require_station
from chargeops.storage.http import DbSession, requires

router = APIRouter(tags=["monitoring"], dependencies=[requires(Permission.MESSAGES_READ)])

_Action = Annotated[
    str | None, Query(max_length=64, description="e.g. BootNotification; finds its answers too")
]
_UniqueId = Annotated[str | None, Query(max_length=64, description="the OCPP-J unique id")]
_Direction = Annotated[
    Literal["in", "out"] | None, Query(description="in: from the station; out: to it")
]
_Since = Annotated[datetime | None, Query(description="at or after (ISO 8601; no offset: UTC)")]
_Until = Annotated[datetime | None, Query(description="before (ISO 8601; no offset: UTC)")]
_Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _blank(value: str | None) -> str | None:
    """An empty filter (as a form sends it) filters nothing."""
    return value.strip() or None if value is not None else None


async def _page(
    db: DbSession,
    station_id: str | None,
    action: str | None,
    unique_id: str | None,
    direction: Literal["in", "out"] | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[MessageOut]:
    since, until = as_utc(since), as_utc(until)
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until must be later than since")
    rows = await message_log.search(
        db,
        station_id=station_id,
        action=_blank(action),
        unique_id=_blank(unique_id),
        direction=direction,
        since=since,
        until=until,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return newest_first(rows, limit, MessageOut.of, lambda r: r.id)


@router.get(
    "/messages",
    response_model=Page[MessageOut],
    summary="OCPP frames in and out, newest first (every station, or one by station_id)",
)
async def list_messages(
    db: DbSession,
    station_id: str | None = None,
    action: _Action = None,
    unique_id: _UniqueId = None,
    direction: _Direction = None,
    since: _Since = None,
    until: _Until = None,
    cursor: str | None = None,
    limit: _Limit = DEFAULT_LIMIT,
) -> Page[MessageOut]:
    return await _page(
        db, _blank(station_id), action, unique_id, direction, since, until, cursor, limit
    )


@router.get(
    "/stations/{station_id}/messages",
    response_model=Page[MessageOut],
    summary="One station's OCPP frames in and out, newest first (404: no such station)",
)
async def list_station_messages(
    station_id: str,
    db: DbSession,
    action: _Action = None,
    unique_id: _UniqueId = None,
    direction: _Direction = None,
    since: _Since = None,
    until: _Until = None,
    cursor: str | None = None,
    limit: _Limit = DEFAULT_LIMIT,
) -> Page[MessageOut]:
    await require_station(db, station_id)
    return await _page(db, station_id, action, unique_id, direction, since, until, cursor, limit)
