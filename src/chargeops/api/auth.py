"""API keys: ``Authorization: Bearer KEY`` on every ``/api/v1`` route."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.core.clock import utcnow
from chargeops.core.errors import Unauthorized
from chargeops.storage.writer import GroupCommitWriter
from chargeops.users import service as users

_bearer = HTTPBearer(auto_error=False, description="an API key from `chargeops apikey create`")

# A verified key is trusted for this long before it is looked up again: a revoked key
# stops working within this many seconds, and a busy API does not query per request.
CACHE_SECONDS = 30.0


class ApiKeyCache:
    """Verified keys by digest: (key id, the name people gave it)."""

    def __init__(self) -> None:
        self._until: dict[str, tuple[float, int, str]] = {}

    def get(self, digest: str) -> tuple[int, str] | None:
        hit = self._until.get(digest)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1], hit[2]

    def put(self, digest: str, key_id: int, name: str) -> None:
        if len(self._until) > 10_000:
            self._until.clear()
        self._until[digest] = (time.monotonic() + CACHE_SECONDS, key_id, name)


async def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> int:
    """The id of the calling API key, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("send an API key as 'Authorization: Bearer KEY'")
    key = credentials.credentials
    cache: ApiKeyCache = request.app.state.api_key_cache
    digest = users.hash_api_key(key)
    hit = cache.get(digest)
    if hit is not None:
        request.state.api_key_id, request.state.api_key_name = hit  # who asked, for audits
        return hit[0]
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        row = await users.verify_api_key(session, key)
    if row is None:
        raise Unauthorized("this API key is not valid")
    # a cache miss happens at most every CACHE_SECONDS per key: cheap to record use. The
    # write goes through the writer when there is one: on SQLite a second writer in the
    # process could make the gateway's inline writer wait on the event loop it holds.
    key_id, at = row.id, utcnow()
    writer: GroupCommitWriter | None = getattr(request.app.state, "writer", None)
    if writer is not None:
        await writer.submit(lambda w: users.touch_api_key(w.session, key_id, at=at))
    else:
        async with sessions() as session:
            await users.touch_api_key(session, key_id, at=at)
            await session.commit()
    cache.put(digest, row.id, row.name)
    request.state.api_key_id, request.state.api_key_name = row.id, row.name
    return row.id
