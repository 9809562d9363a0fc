"""``/api/v1/stations/{id}/commands`` and ``/api/v1/commands/{id}``: remote control."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request

from chargeops.commands import service
from chargeops.commands.schemas import CommandIn, CommandOut
from chargeops.core.access import Permission
from chargeops.core.errors import InvalidInput
from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, before_id, newest_first
from chargeops.storage.http import DbSession, requires

router = APIRouter(tags=["commands"], dependencies=[requires(Permission.STATIONS_CONTROL)])

DEFAULT_WAIT_S = 5.0  # long enough for most chargers to answer, short for an HTTP call
MAX_WAIT_S = 60.0


@router.post(
    "/stations/{station_id}/commands",
    response_model=CommandOut,
    status_code=201,
    summary="Send a command to a station; answers once the station answered, or after "
    "`wait` seconds with status `sent` (then poll GET /commands/{id})",
)
async def send_command(
    station_id: str,
    body: CommandIn,
    request: Request,
    db: DbSession,
    wait: Annotated[
        str | None,
        Query(description="true: until the station answers or the call times out; or seconds"),
    ] = None,
) -> CommandOut:
    commands: service.Commands = request.app.state.commands
    command_request = service.parse_request(body.name, body.arguments)
    record, task = await commands.issue(
        db,
        station_id,
        command_request,
        requested_by=_caller(request),
        base_url=str(request.base_url),
    )
    if task is None:
        return CommandOut.of(record)
    await asyncio.wait({task}, timeout=_wait_seconds(wait))
    return await _shown(db, record.id)


async def _shown(db: DbSession, command_id: int) -> CommandOut:
    row = await service.get_command(db, command_id)
    progress = await service.progress_of(db, [row.id])
    return CommandOut.of(row, progress.get(row.id))


def _caller(request: Request) -> str:
    """Who asked, for the audit record (the API's authentication names the caller)."""
    principal = getattr(request.state, "principal", None)
    return str(getattr(principal, "name", "?"))[:100]


def _wait_seconds(wait: str | None) -> float:
    if wait is None:
        return DEFAULT_WAIT_S
    if wait.lower() in ("true", "yes"):
        return MAX_WAIT_S
    if wait.lower() in ("false", "no"):
        return 0.0
    try:
        seconds = float(wait)
    except ValueError:
        raise InvalidInput("wait is true, false or a number of seconds") from None
    return min(max(seconds, 0.0), MAX_WAIT_S)


@router.get("/commands/{command_id}", response_model=CommandOut, summary="One command")
async def get_command(command_id: int, db: DbSession) -> CommandOut:
    return await _shown(db, command_id)


@router.get(
    "/stations/{station_id}/commands",
    response_model=Page[CommandOut],
    summary="A station's commands, newest first",
)
async def list_commands(
    station_id: str,
    db: DbSession,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[CommandOut]:
    rows = await service.list_commands(db, station_id, before_id=before_id(cursor), limit=limit + 1)
    progress = await service.progress_of(db, [r.id for r in rows[:limit]])
    return newest_first(rows, limit, lambda r: CommandOut.of(r, progress.get(r.id)), lambda r: r.id)
