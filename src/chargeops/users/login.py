"""Logins: short-lived access tokens (signed JWTs) and refresh tokens (random, stored
as digests, replaced on every refresh). An access token names its login session, so
logging out ends the access tokens already handed out, not only the refresh token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.clock import utcnow
from chargeops.core.errors import Unauthorized
from chargeops.storage.writer import GroupCommitWriter, Work
from chargeops.users.models import LoginSession, User

ACCESS_LIFETIME = timedelta(minutes=15)
REFRESH_LIFETIME = timedelta(days=30)
_ALGORITHM = "HS256"
REFRESH_PREFIX = "cor_"


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token is good for
    session_id: int


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    session_id: int


def cache_key(session_id: int) -> str:
    """How a login's verified principal is cached (an API key's is its digest)."""
    return f"session:{session_id}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _access_token(secret: str, user_id: int, session_id: int, now: datetime) -> str:
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "iat": int(now.timestamp()),
        "exp": int((now + ACCESS_LIFETIME).timestamp()),
        "typ": "access",
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_access_token(secret: str, token: str) -> AccessClaims:
    """The claims of a token we signed and that has not expired; Unauthorized else."""
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"require": ["exp"]})
        if claims.get("typ") != "access":
            raise jwt.InvalidTokenError("not an access token")
        return AccessClaims(int(claims["sub"]), int(claims["sid"]))
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the access token has expired: refresh it or log in again") from None
    except (jwt.InvalidTokenError, KeyError, ValueError):
        raise Unauthorized("this token is not valid") from None


async def start(writer: GroupCommitWriter, secret: str, user: User) -> Tokens:
    """A new login session for an authenticated user."""
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    user_id = user.id

    async def unit(work: Work) -> int:
        row = LoginSession(
            user_id=user_id,
            refresh_hash=_digest(refresh),
            created_at=now,
            refreshed_at=now,
            expires_at=now + REFRESH_LIFETIME,
        )
        work.session.add(row)
        await work.session.flush()
        return row.id

    session_id = await writer.submit(unit)
    return Tokens(
        _access_token(secret, user_id, session_id, now),
        refresh,
        int(ACCESS_LIFETIME.total_seconds()),
        session_id,
    )


async def refresh(writer: GroupCommitWriter, secret: str, refresh_token: str) -> Tokens:
    """New tokens for a live session; the refresh token given is used up (a stolen one
    replayed after its owner refreshed no longer works)."""
    new = REFRESH_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()

    async def unit(work: Work) -> tuple[int, int] | None:
        stmt = (
            select(LoginSession, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.refresh_hash == _digest(refresh_token))
        )
        found = (await work.session.execute(stmt)).one_or_none()
        if found is None:
            return None
        row, user = found
        if row.revoked_at is not None or row.expires_at < now or user.status != "active":
            return None
        row.refresh_hash, row.refreshed_at = _digest(new), now
        return user.id, row.id

    found = await writer.submit(unit)
    if found is None:
        raise Unauthorized("this refresh token is not valid (expired, used or logged out)")
    user_id, session_id = found
    return Tokens(
        _access_token(secret, user_id, session_id, now),
        new,
        int(ACCESS_LIFETIME.total_seconds()),
        session_id,
    )


async def end(writer: GroupCommitWriter, session_id: int) -> None:
    """Log out: the session's refresh and access tokens stop working."""
    now = utcnow()

    async def unit(work: Work) -> None:
        row = await work.session.get(LoginSession, session_id)
        if row is not None and row.revoked_at is None:
            row.revoked_at = now

    await writer.submit(unit)


async def live_session_user(db: AsyncSession, claims: AccessClaims) -> User:
    """The user of a live login session; Unauthorized once logged out or disabled."""
    row = await db.get(LoginSession, claims.session_id)
    if row is None or row.revoked_at is not None or row.user_id != claims.user_id:
        raise Unauthorized("this login has ended: log in again")
    user = await db.get(User, claims.user_id)
    if user is None or user.status != "active":
        raise Unauthorized("this account is disabled")
    return user
