"""What domain routers need from HTTP without knowing the API package: a database
session (read side; writes commit at the boundary) and the permission a route needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.core.access import Permission, Principal
from chargeops.core.errors import Forbidden, Unauthorized
from chargeops.storage.writer import GroupCommitWriter


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(db_session)]


def writer_of(request: Request) -> GroupCommitWriter:
    """The server's group-commit writer: the one way a request writes (on SQLite a
    second writer in the process would stall the gateway's)."""
    writer: GroupCommitWriter = request.app.state.writer
    return writer


def requires(permission: Permission) -> Any:
    """A route's declaration of what it needs: ``dependencies=[requires(P.X)]``, or a
    parameter ``principal: Annotated[Principal, requires(P.X)]`` when the route narrows
    what it shows to the caller's scope. The API's authentication sets the principal."""

    async def check(request: Request) -> Principal:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            raise Unauthorized("log in, or send an API key as 'Authorization: Bearer KEY'")
        if not principal.may(permission):
            roles = ", ".join(sorted(principal.roles)) or "no roles"
            raise Forbidden(f"{permission} is not allowed for {roles}")
        return principal

    return Depends(check)
