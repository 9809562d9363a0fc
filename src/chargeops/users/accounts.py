"""User accounts: creating them, and checking a password without helping a guesser.

Passwords are hashed with argon2id (memory-hard; about 50 ms each, so hashing runs on a
thread, off the event loop). Failed logins are counted per account: from the third in a
row each answer waits longer, and after ten the account is locked for a while. A login
for an unknown email costs the same hash, so timing does not tell which emails exist.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.access import parse_roles
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput, TooManyAttempts, Unauthorized
from chargeops.storage.writer import GroupCommitWriter, Work
from chargeops.users.models import Organization, User

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password anyone has")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10
SLOW_DOWN_AFTER = 3  # failed logins in a row before answers are delayed
LOCK_AFTER = 10
LOCK_FOR = timedelta(minutes=15)
DELAY_UNIT_S = 1.0  # the first delayed answer waits this long, each next one twice as long
MAX_DELAY_S = 8.0


async def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return await asyncio.to_thread(_hasher.hash, password)


async def find_user(db: AsyncSession, email: str) -> User | None:
    stmt = select(User).where(func.lower(User.email) == email.strip().lower())
    return (await db.execute(stmt)).scalar_one_or_none()


async def create_user(
    db: AsyncSession,
    email: str,
    *,
    name: str | None = None,
    roles: str | list[str] = "driver",
    password: str | None = None,
    organization: str | None = None,
) -> User:
    """A new active user; Conflict if the email is taken (emails ignore case)."""
    email = email.strip()
    if not _EMAIL.match(email):
        raise InvalidInput(f"{email!r} is not an email address")
    try:
        granted = parse_roles(roles)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if not granted:
        raise InvalidInput("a user needs at least one role")
    if await find_user(db, email) is not None:
        raise Conflict(f"a user with email {email} already exists")
    org_id = None
    if organization is not None:
        org_id = (await ensure_organization(db, organization)).id
    now = utcnow()
    user = User(
        email=email,
        name=(name or email.split("@")[0]).strip()[:200],
        password_hash=await hash_password(password) if password is not None else None,
        status="active",
        roles=",".join(sorted(r.value for r in granted)),
        organization_id=org_id,
        failed_logins=0,
        created_at=now,
        updated_at=now,
    )
    db.add(user)
    await db.flush()
    return user


async def ensure_organization(db: AsyncSession, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise InvalidInput("an organization needs a name")
    stmt = select(Organization).where(func.lower(Organization.name) == name.lower())
    org = (await db.execute(stmt)).scalar_one_or_none()
    if org is None:
        org = Organization(name=name, created_at=utcnow())
        db.add(org)
        await db.flush()
    return org


async def authenticate(
    db: AsyncSession, writer: GroupCommitWriter, email: str, password: str
) -> User:
    """The user whose password this is; Unauthorized otherwise (the same words whether
    the email exists or not), TooManyAttempts while the account is locked. The outcome
    is recorded through the writer (the server's one way to write)."""
    user = await find_user(db, email)
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        raise TooManyAttempts(_locked_message(user.locked_until, now))
    ok = await asyncio.to_thread(_verify, user.password_hash if user else None, password)
    if user is None:
        raise Unauthorized("wrong email or password")
    ok = ok and user.status == "active"
    user_id = user.id
    failures, locked_until = await writer.submit(lambda w: _record_attempt(w, user_id, ok, now))
    if ok:
        return user
    if locked_until is not None:
        raise TooManyAttempts(_locked_message(locked_until, now))
    if failures >= SLOW_DOWN_AFTER:
        await asyncio.sleep(min(DELAY_UNIT_S * 2.0 ** (failures - SLOW_DOWN_AFTER), MAX_DELAY_S))
    raise Unauthorized("wrong email or password")


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def _record_attempt(
    work: Work, user_id: int, ok: bool, now: datetime
) -> tuple[int, datetime | None]:
    """Count a failure (locking the account after LOCK_AFTER), or clear the count."""
    user = await work.session.get(User, user_id)
    assert user is not None
    if ok:
        user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
        return 0, None
    user.failed_logins += 1
    if user.failed_logins >= LOCK_AFTER:
        user.failed_logins, user.locked_until = 0, now + LOCK_FOR
        return LOCK_AFTER, user.locked_until
    return user.failed_logins, None


def _locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, round((until - now).total_seconds() / 60))
    return f"too many failed logins: this account is locked for {minutes} more minutes"
