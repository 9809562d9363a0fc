"""Who may use the API (API keys), and which token records a caller may see."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.access import Permission, Principal, Role, Scope, parse_roles
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.users.models import ApiKey, IdToken, User

API_KEY_PREFIX = "co_"


# --- API keys ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewApiKey:
    id: int
    name: str
    key: str  # shown once: only its digest is kept
    roles: frozenset[Role] = frozenset({Role.ADMIN})
    user_id: int | None = None


def hash_api_key(key: str) -> str:
    # Keys are 256 random bits: a fast digest is enough, and keeps each request cheap.
    return hashlib.sha256(key.encode()).hexdigest()


class Everyone:
    """Keys of every owner (what :func:`list_api_keys` lists by default)."""

    def __repr__(self) -> str:
        return "EVERYONE"


EVERYONE = Everyone()


async def create_api_key(
    session: AsyncSession,
    name: str,
    *,
    user_id: int | None = None,
    roles: Iterable[Role] | None = None,
) -> NewApiKey:
    """A new key for ``user_id`` acting with ``roles`` (default: all of the user's), or,
    with no user, a key acting with ``roles`` alone (default: admin, as before users
    existed). A user's key may carry only roles the user holds: InvalidInput otherwise.
    Names are unique among the live keys of one owner. The caller commits."""
    name = name.strip()
    if not name:
        raise InvalidInput("an API key needs a name (who or what uses it)")
    if len(name) > 100:
        raise InvalidInput("an API key's name is at most 100 characters")
    wanted = None if roles is None else frozenset(roles)
    if wanted is not None and not wanted:
        raise InvalidInput("an API key needs at least one role")
    if user_id is None:
        granted = wanted if wanted is not None else frozenset({Role.ADMIN})
    else:
        owner = await session.get(User, user_id)
        if owner is None:
            raise InvalidInput(f"no user with id {user_id}")
        if owner.status != "active":
            raise InvalidInput(f"{owner.email} is disabled: their keys would not work")
        held = parse_roles(owner.roles)
        granted = wanted if wanted is not None else held
        if not granted <= held:
            missing = ", ".join(sorted(r.value for r in granted - held))
            raise InvalidInput(f"{owner.email} does not hold the role {missing}")
    owned = ApiKey.user_id.is_(None) if user_id is None else ApiKey.user_id == user_id
    existing = await session.scalar(
        select(ApiKey.id).where(ApiKey.name == name, owned, ApiKey.revoked_at.is_(None))
    )
    if existing is not None:
        raise Conflict(f"an API key named {name!r} already exists")
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        prefix=key[:8],
        key_hash=hash_api_key(key),
        created_at=utcnow(),
        user_id=user_id,
        roles=",".join(sorted(r.value for r in granted)),
    )
    session.add(row)
    await session.flush()
    return NewApiKey(row.id, name, key, granted, user_id)


async def list_api_keys(
    session: AsyncSession,
    *,
    user_id: int | Everyone | None = EVERYONE,
    include_revoked: bool = False,
    before_id: int | None = None,
    limit: int | None = None,
) -> Sequence[tuple[ApiKey, str | None]]:
    """Keys, newest first, each with its owner's email: of one user (None: keys of no
    user), or of everyone."""
    stmt = (
        select(ApiKey, User.email)
        .outerjoin(User, User.id == ApiKey.user_id)
        .order_by(ApiKey.id.desc())
    )
    if user_id is None:
        stmt = stmt.where(ApiKey.user_id.is_(None))
    elif not isinstance(user_id, Everyone):
        stmt = stmt.where(ApiKey.user_id == user_id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    if before_id is not None:
        stmt = stmt.where(ApiKey.id < before_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [(key, email) for key, email in (await session.execute(stmt)).all()]


async def get_api_key(session: AsyncSession, key_id: int) -> tuple[ApiKey, str | None]:
    stmt = (
        select(ApiKey, User.email)
        .outerjoin(User, User.id == ApiKey.user_id)
        .where(ApiKey.id == key_id)
    )
    found = (await session.execute(stmt)).one_or_none()
    if found is None:
        raise NotFound(f"no API key with id {key_id}")
    return found[0], found[1]


async def revoke_api_key(session: AsyncSession, key_id: int) -> ApiKey:
    """Stop a key working; it is kept, revoked, so what it did stays attributable.
    Revoking a revoked key changes nothing. The caller commits."""
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key with id {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    return key


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
