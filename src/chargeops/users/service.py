"""Who may charge (id tokens) and who may use the API (API keys)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.access import Permission, Principal, Scope
from chargeops.core.charging import Authorization, AuthorizationStatus
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput
from chargeops.users.models import ApiKey, IdToken, User

TOKEN_STATUSES = ("accepted", "blocked", "expired")
# OCPP 2.0.1 IdTokenEnumType
TOKEN_TYPES = (
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
)
_STATUS_MAP = {
    "accepted": AuthorizationStatus.ACCEPTED,
    "blocked": AuthorizationStatus.BLOCKED,
    "expired": AuthorizationStatus.EXPIRED,
}
API_KEY_PREFIX = "co_"


# --- id tokens --------------------------------------------------------------------------


async def find_token(session: AsyncSession, id_tag: str) -> IdToken | None:
    stmt = select(IdToken).where(func.lower(IdToken.id_tag) == id_tag.lower())
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_token(
    session: AsyncSession,
    id_tag: str,
    *,
    status: str = "accepted",
    expires_at: datetime | None = None,
    parent_id_tag: str | None = None,
    token_type: str | None = None,
) -> tuple[IdToken, bool]:
    """Register a token, or update the one already registered. Returns (token, created).

    ``token_type`` None lets the token be presented as any type (what a 1.6 card is)."""
    id_tag = id_tag.strip()
    if not id_tag or len(id_tag) > 64:
        raise InvalidInput("an id tag is 1 to 64 characters (OCPP 1.6 cards use up to 20)")
    if status not in TOKEN_STATUSES:
        raise InvalidInput(f"token status must be one of {', '.join(TOKEN_STATUSES)}")
    if token_type is not None and token_type not in TOKEN_TYPES:
        raise InvalidInput(f"token type must be one of {', '.join(TOKEN_TYPES)}")
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidInput("the expiry needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    now = utcnow()
    token = await find_token(session, id_tag)
    created = token is None
    if token is None:
        token = IdToken(id_tag=id_tag, created_at=now)
        session.add(token)
    token.status = status
    token.type = token_type
    token.expires_at = expires_at
    token.parent_id_tag = parent_id_tag
    token.updated_at = now
    await session.flush()
    return token, created


async def authorize(
    session: AsyncSession,
    id_tag: str,
    *,
    token_type: str | None = None,
    at: datetime | None = None,
) -> Authorization:
    """The idTagInfo for a token: unknown tokens are Invalid, lapsed ones Expired.

    A token registered with a type matches only when presented as that type (an RFID
    UID and an eMAID may share a value). A 2.0.1 NoAuthorization token means the
    station charges without asking anyone: there is nothing to refuse.
    """
    if token_type == "NoAuthorization":
        return Authorization(AuthorizationStatus.ACCEPTED)
    token = await find_token(session, id_tag)
    if token is None or (token.type and token_type and token.type != token_type):
        return Authorization(AuthorizationStatus.INVALID)
    status = _STATUS_MAP.get(token.status, AuthorizationStatus.INVALID)
    if (
        status is AuthorizationStatus.ACCEPTED
        and token.expires_at is not None
        and token.expires_at <= (at or utcnow())
    ):
        status = AuthorizationStatus.EXPIRED
    return Authorization(
        status,
        expires_at=token.expires_at if status is AuthorizationStatus.ACCEPTED else None,
        parent_id_tag=token.parent_id_tag,
    )


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
