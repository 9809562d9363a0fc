"""Who may use the API (API keys), and which token records a caller may see."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.access import Permission, Principal, Scope
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput
from chargeops.users.models import ApiKey, IdToken, User

API_KEY_PREFIX = "co_"


# --- API keys ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewApiKey:
    id: int
    name: str
    key: str


def hash_api_key(key: str) -> str:
    # Keys are 256 random bits: a fast digest is enough, and keeps each request cheap.
    return hashlib.sha256(key.encode()).hexdigest()


async def create_api_key(session: AsyncSession, name: str) -> NewApiKey:
    name = name.strip()
    if not name:
        raise InvalidInput("an API key needs a name (who or what uses it)")
    existing = await session.scalar(
        select(ApiKey.id).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    )
    if existing is not None:
        raise Conflict(f"an API key named {name!r} already exists")
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=key[:8], key_hash=hash_api_key(key), created_at=utcnow())
    session.add(row)
    await session.flush()
    return NewApiKey(row.id, name, key)


async def verify_api_key(session: AsyncSession, key: str) -> ApiKey | None:
    stmt = select(ApiKey).where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None))
    return (await session.execute(stmt)).scalar_one_or_none()


async def touch_api_key(session: AsyncSession, key_id: int, *, at: datetime) -> None:
    """Note when a key was last used (the caller commits)."""
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))


async def delete_api_key(session: AsyncSession, key_id: int) -> bool:
    """Remove a key outright, so the CLI's one-command keys leave nothing behind; False if
    it was already gone. The caller commits."""
    result = await session.execute(delete(ApiKey).where(ApiKey.id == key_id))
    return bool(getattr(result, "rowcount", 0))


# --- who sees which tokens --------------------------------------------------------------


async def visible_id_tags(
    session: AsyncSession, principal: Principal, permission: Permission
) -> frozenset[str] | None:
    """The id tags (lower case) whose records ``principal`` may see under ``permission``:
    None for all of them (staff), a fleet's tokens for its manager, a driver's own."""
    scope = principal.scope(permission)
    if scope is Scope.ALL:
        return None
    if scope is None:
        return frozenset()
    stmt = select(func.lower(IdToken.id_tag))
    if scope is Scope.OWN:
        stmt = stmt.where(IdToken.user_id == principal.user_id)
    else:
        members = select(User.id).where(User.organization_id == principal.organization_id)
        stmt = stmt.where(
            (IdToken.organization_id == principal.organization_id) | IdToken.user_id.in_(members)
        )
    if principal.organization_id is None and scope is Scope.ORGANIZATION:
        return frozenset()
    return frozenset((await session.execute(stmt)).scalars())
