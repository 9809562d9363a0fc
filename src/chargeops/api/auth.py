"""Who is calling: ``Authorization: Bearer`` with an API key (integrations) or an access
token from ``/api/v1/auth/login`` (people). Either way the request gets a
:class:`Principal`; each route then checks the permission it needs (storage/http.py)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.core.access import Principal, parse_roles
from chargeops.core.clock import utcnow
from chargeops.core.errors import Unauthorized
from chargeops.storage.writer import GroupCommitWriter
from chargeops.users import login
from chargeops.users import service as users
from chargeops.users.models import ApiKey, User

_bearer = HTTPBearer(
    auto_error=False,
    description="an access token from /api/v1/auth/login, or an API key "
    "(`chargeops apikey create`)",
)

# A verified credential is trusted for this long before it is looked up again: a revoked
# key or a disabled user stops working within this many seconds (a logout in this
# process at once), and a busy API does not query per request.
CACHE_SECONDS = 30.0


class PrincipalCache:
    """Verified credentials (a key's digest, or ``session:{id}``) and who they are."""

    def __init__(self) -> None:
        self._until: dict[str, tuple[float, Principal]] = {}

    def get(self, key: str) -> Principal | None:
        hit = self._until.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: str, principal: Principal) -> None:
        if len(self._until) > 10_000:
            self._until.clear()
        self._until[key] = (time.monotonic() + CACHE_SECONDS, principal)

    def drop(self, key: str) -> None:
        self._until.pop(key, None)


def session_key(session_id: int) -> str:
    return login.cache_key(session_id)


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("log in, or send an API key as 'Authorization: Bearer KEY'")
    token = credentials.credentials
    if token.startswith(users.API_KEY_PREFIX):
        principal = await _by_api_key(request, token)
    else:
        principal = await _by_access_token(request, token)
    request.state.principal = principal
    return principal


async def _by_access_token(request: Request, token: str) -> Principal:
    claims = login.read_access_token(request.app.state.secret_key, token)
    request.state.login_session_id = claims.session_id  # what logging out ends
    cache: PrincipalCache = request.app.state.principal_cache
    principal = cache.get(session_key(claims.session_id))
    if principal is not None:
        return principal
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as db:
        user = await login.live_session_user(db, claims)
    principal = _of_user(user, user.email)
    cache.put(session_key(claims.session_id), principal)
    return principal


async def _by_api_key(request: Request, key: str) -> Principal:
    cache: PrincipalCache = request.app.state.principal_cache
    digest = users.hash_api_key(key)
    principal = cache.get(digest)
    if principal is not None:
        return principal
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as db:
        row = await users.verify_api_key(db, key)
        owner = await db.get(User, row.user_id) if row and row.user_id else None
    if row is None or (row.user_id is not None and (owner is None or owner.status != "active")):
        raise Unauthorized("this API key is not valid")
    principal = _of_key(row, owner)
    # a cache miss happens at most every CACHE_SECONDS per key: cheap to record use. The
    # write goes through the writer when there is one: on SQLite a second writer in the
    # process could make the gateway's inline writer wait on the event loop it holds.
    key_id, at = row.id, utcnow()
    writer: GroupCommitWriter | None = getattr(request.app.state, "writer", None)
    if writer is not None:
        await writer.submit(lambda w: users.touch_api_key(w.session, key_id, at=at))
    else:
        async with sessions() as db:
            await users.touch_api_key(db, key_id, at=at)
            await db.commit()
    cache.put(digest, principal)
    return principal


def _of_user(user: User, name: str) -> Principal:
    return Principal(user.id, user.organization_id, parse_roles(user.roles), name)


def _of_key(key: ApiKey, owner: User | None) -> Principal:
    """A key acts with its roles, narrowed to its owner's when it has one."""
    name = f"{key.name} (api key {key.id})"
    roles = parse_roles(key.roles)
    if owner is None:
        return Principal(0, None, roles, name)
    user = _of_user(owner, name)
    return Principal(user.user_id, user.organization_id, roles & user.roles, name)
