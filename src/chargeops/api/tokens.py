"""``/api/v1/tokens`` and ``/api/v1/local-lists``: who may charge, and the copies of
that stations keep.

Here rather than in the users domain because a token change is carried on to stations
by the commands domain (a local list update), which sits above users.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.commands.models import Command
from chargeops.commands.schemas import CommandOut
from chargeops.commands.service import Commands
from chargeops.core.access import Permission, Principal
from chargeops.core.errors import InvalidInput
from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, encode_cursor
from chargeops.stations import service as stations
from chargeops.storage.http import DbSession, requires, writer_of
from chargeops.storage.writer import Work
from chargeops.users import local_lists, tokens
from chargeops.users.token_schemas import TokenChanges, TokenIn, TokenOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["tokens"])
Reader = Annotated[Principal, requires(Permission.TOKENS_READ)]
Manager = Annotated[Principal, requires(Permission.TOKENS_MANAGE)]


@router.get("/tokens", response_model=Page[TokenOut], summary="List tokens, by id")
async def list_tokens(
    db: DbSession,
    principal: Reader,
    q: Annotated[str | None, Query(description="part of the id tag")] = None,
    status: str | None = None,
    user_id: int | None = None,
    organization_id: int | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[TokenOut]:
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, int):
        raise InvalidInput("invalid cursor: pass back next_cursor as it was given")
    if status is not None and status not in tokens.TOKEN_STATUSES:
        raise InvalidInput(f"status is one of {', '.join(tokens.TOKEN_STATUSES)}")
    views = await tokens.list_tokens(
        db,
        principal,
        q=q,
        status=status,
        user_id=user_id,
        organization_id=organization_id,
        after=after,
        limit=limit + 1,
    )
    items = [TokenOut.of(v) for v in views[:limit]]
    more = len(views) > limit
    return Page(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


@router.get("/tokens/{token_id}", response_model=TokenOut, summary="One token")
async def get_token(token_id: int, db: DbSession, principal: Reader) -> TokenOut:
    return TokenOut.of(await tokens.get_token(db, principal, token_id))


@router.post(
    "/tokens",
    response_model=TokenOut,
    status_code=201,
    summary="Register a token (409 if its id tag is registered already)",
)
async def create_token(body: TokenIn, request: Request, principal: Manager) -> TokenOut:
    values = body.model_dump(exclude_unset=True)
    values.setdefault("status", "accepted")

    async def unit(w: Work) -> TokenOut:
        return TokenOut.of(await tokens.create_token(w.session, principal, values))

    created = await writer_of(request).submit(unit)
    created.local_list_commands = await _carry(request, created.id_tag, principal)
    return created


@router.patch(
    "/tokens/{token_id}",
    response_model=TokenOut,
    summary="Change a token: block it, change its expiry, owner, group or sites. "
    "It is judged anew at its next authorization; stations holding a local list get "
    "the change as a differential update",
)
async def update_token(
    token_id: int, body: TokenChanges, request: Request, principal: Manager
) -> TokenOut:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("status", "") is None:
        raise InvalidInput("status cannot be null")

    async def unit(w: Work) -> TokenOut:
        _, after = await tokens.update_token(w.session, principal, token_id, changes)
        return TokenOut.of(after)

    changed = await writer_of(request).submit(unit)
    changed.local_list_commands = await _carry(request, changed.id_tag, principal)
    return changed


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    summary="Forget a token (Invalid from its next authorization). Blocking keeps it "
    "visible, which is usually what an operator wants",
)
async def delete_token(token_id: int, request: Request, principal: Manager) -> Response:
    async def unit(w: Work) -> str:
        return (await tokens.delete_token(w.session, principal, token_id)).id_tag

    id_tag = await writer_of(request).submit(unit)
    await _carry(request, id_tag, principal)
    return Response(status_code=204)


async def carry_token_change(request: Request, id_tag: str, principal: Principal) -> list[Command]:
    """Send a committed token change to the stations holding a local list: the
    send_local_list commands that carry it (one per station; none without a commands
    service). The API and the console both call it after a token write."""
    commands: Commands | None = request.app.state.commands
    if commands is None:
        return []
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as db:  # a fresh read: it must see the change just committed
        return await commands.token_changed(
            db, id_tag, requested_by=f"{principal.name} (token change)"[:100]
        )


async def _carry(request: Request, id_tag: str, principal: Principal) -> list[int]:
    return [r.id for r in await carry_token_change(request, id_tag, principal)]


# --- local lists ------------------------------------------------------------------------

Controller = Annotated[Principal, requires(Permission.STATIONS_CONTROL)]


class PushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station_ids: list[str] | None = Field(
        None,
        description="the stations to send their whole list to; null: every station that "
        "uses a local list (LocalAuthListEnabled / LocalAuthListCtrlr.Enabled, or holds "
        "one of ours)",
    )


class LocalListOut(BaseModel):
    station_id: str
    version: int = Field(description="the version the station last confirmed; 0: none")
    entries: int | None = Field(description="tokens in the last whole list it accepted")
    stale: bool = Field(description="it missed a change; it gets a whole list on reconnect")
    updated_at: datetime | None


@router.post(
    "/local-lists/push",
    response_model=list[CommandOut],
    summary="Send stations their whole local authorization list (one send_local_list "
    "command each; follow them at GET /api/v1/commands/{id})",
)
async def push_local_lists(
    body: PushIn, request: Request, db: DbSession, principal: Controller
) -> list[CommandOut]:
    commands: Commands = request.app.state.commands
    for station_id in body.station_ids or ():
        await stations.require_station(db, station_id)
    records = await commands.push_local_lists(
        db, body.station_ids, requested_by=principal.name[:100]
    )
    return [CommandOut.of(r) for r in records]


@router.get(
    "/stations/{station_id}/local-list",
    response_model=LocalListOut,
    summary="The local list version a station holds, as far as chargeops knows",
)
async def get_local_list(station_id: str, db: DbSession, principal: Controller) -> LocalListOut:
    await stations.require_station(db, station_id)
    row = await local_lists.state_of(db, station_id)
    if row is None:
        return LocalListOut(
            station_id=station_id, version=0, entries=None, stale=False, updated_at=None
        )
    return LocalListOut(
        station_id=station_id,
        version=row.version,
        entries=row.entries,
        stale=row.stale and row.version > 0,
        updated_at=row.updated_at,
    )
