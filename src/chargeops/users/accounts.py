"""User accounts and organizations: creating and changing them, who may change whom,
and checking a password without helping a guesser.

Users are never deleted (their logins, keys and what they did stay attributable): they
are disabled, which ends their logins and makes their API keys refused.

Passwords are hashed with argon2id (memory-hard; about 0.15 s of CPU each on a small
box, so hashing runs on a thread, off the event loop). Failed logins are counted per
account: from the third in a row each answer waits longer, and after ten the account is
locked for a while. A login for an unknown email costs the same hash, so timing does not
tell which emails exist.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, func, literal, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.access import GRANTS, Permission, Principal, Role, Scope, parse_roles
from chargeops.core.clock import utcnow
from chargeops.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    Unauthorized,
)
from chargeops.storage.writer import GroupCommitWriter, Work
from chargeops.users.models import ApiKey, LoginSession, Organization, User

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Checked against when there is no stored hash, so that an unknown email takes as
    long as a wrong password; made on first use (hashing costs ~0.1 s: not at import)."""
    return _hasher.hash("not a password anyone has")


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10
SLOW_DOWN_AFTER = 3  # failed logins in a row before answers are delayed
LOCK_AFTER = 10
LOCK_FOR = timedelta(minutes=15)
DELAY_UNIT_S = 1.0  # the first delayed answer waits this long, each next one twice as long
MAX_DELAY_S = 8.0
USER_STATUSES = ("active", "disabled")


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
    email, granted = check_new_user(email, roles)
    org_id = None
    if organization is not None:
        org_id = (await ensure_organization(db, organization)).id
    password_hash = await hash_password(password) if password is not None else None
    return await add_user(
        db, email, name=name, roles=granted, organization_id=org_id, password_hash=password_hash
    )


def check_new_user(email: str, roles: str | list[str]) -> tuple[str, frozenset[Role]]:
    """The email (stripped) and roles of a new user, or InvalidInput saying what is wrong."""
    email = email.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput(f"{email!r} is not an email address")
    return email, check_roles(roles)


def check_roles(roles: str | list[str]) -> frozenset[Role]:
    try:
        granted = parse_roles(roles)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if not granted:
        raise InvalidInput("a user needs at least one role")
    return granted


async def add_user(
    db: AsyncSession,
    email: str,
    *,
    name: str | None,
    roles: frozenset[Role],
    organization_id: int | None,
    password_hash: str | None,
    actor: Principal | None = None,
) -> User:
    """Insert a user checked by :func:`check_new_user` (the password already hashed, so
    a writer's transaction does not wait on argon2). ``actor``: who asks, held to the
    rules of :func:`check_may_grant` (None: the command line, which may do anything)."""
    if actor is not None:
        check_may_grant(actor, roles)
        check_may_place(actor, organization_id)
    if await find_user(db, email) is not None:
        raise Conflict(f"a user with email {email} already exists")
    if organization_id is not None:
        await require_organization(db, organization_id, as_input=True)
    now = utcnow()
    user = User(
        email=email,
        name=_name(name, email),
        password_hash=password_hash,
        status="active",
        roles=_joined(roles),
        organization_id=organization_id,
        failed_logins=0,
        created_at=now,
        updated_at=now,
    )
    db.add(user)
    await db.flush()
    return user


def _name(name: str | None, email: str) -> str:
    return (name or "").strip()[:200] or email.split("@")[0]


def _joined(roles: frozenset[Role]) -> str:
    return ",".join(sorted(r.value for r in roles))


async def ensure_organization(db: AsyncSession, name: str) -> Organization:
    """The organization of this name (ignoring case), created if new."""
    name = _organization_name(name)
    org = await find_organization(db, name)
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
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
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


# --- who may change whom ----------------------------------------------------------------
#
# Nobody hands out more than they have: a caller who is not an admin may give only roles
# that grant nothing beyond what the caller's own roles grant (each permission at the same
# or a narrower scope), and may change only users whose roles meet the same test. The
# admin role grants everything, so only an admin gives it, takes it away, or changes an
# admin. The command line (run on the server, with the database's credentials) is not
# held to these rules.


def reach(roles: Iterable[Role]) -> dict[Permission, Scope]:
    """What ``roles`` grant together: each permission at the widest scope any grants."""
    granted: dict[Permission, Scope] = {}
    for role in roles:
        for permission, scope in GRANTS[role].items():
            granted[permission] = max(scope, granted.get(permission, scope))
    return granted


def covers(actor: Principal, roles: Iterable[Role]) -> bool:
    """Whether ``roles`` grant nothing the actor's roles do not (admins cover all)."""
    roles = frozenset(roles)
    if Role.ADMIN in actor.roles:
        return True
    if Role.ADMIN in roles:
        return False
    for permission, scope in reach(roles).items():
        mine = actor.scope(permission)
        if mine is None or mine < scope:
            return False
    return True


def check_may_grant(actor: Principal, roles: Iterable[Role]) -> None:
    """Forbidden unless ``actor`` may give someone ``roles``."""
    roles = frozenset(roles)
    if Role.ADMIN in roles and Role.ADMIN not in actor.roles:
        raise Forbidden("only an admin may give the admin role")
    if not covers(actor, roles):
        beyond = sorted(r.value for r in roles if not covers(actor, [r]))
        raise Forbidden(
            f"you may not give roles that reach further than yours: {', '.join(beyond)}"
        )


def check_may_change(actor: Principal, user: User) -> None:
    """Forbidden unless ``actor`` may change ``user`` (who must be visible to them)."""
    roles = parse_roles(user.roles)
    if Role.ADMIN in roles and Role.ADMIN not in actor.roles:
        raise Forbidden("only an admin may change an admin")
    if not covers(actor, roles):
        raise Forbidden(f"you may not change {user.email}: their roles reach further than yours")


def sees_user(actor: Principal, permission: Permission, user: User) -> bool:
    """Whether ``user`` is within the scope ``actor`` has for ``permission``."""
    scope = actor.scope(permission)
    if scope is Scope.ALL:
        return True
    if scope is Scope.ORGANIZATION:
        return actor.organization_id is not None and user.organization_id == actor.organization_id
    if scope is Scope.OWN:
        return user.id == actor.user_id
    return False


def check_may_place(actor: Principal, organization_id: int | None) -> None:
    """A manager of one organization's users keeps them in that organization."""
    scope = actor.scope(Permission.USERS_MANAGE)
    if scope is Scope.ALL:
        return
    if scope is None:
        raise Forbidden(f"{Permission.USERS_MANAGE} is not allowed for you")
    if organization_id is None or organization_id != actor.organization_id:
        raise Forbidden("you may place users only in your own organization")


def _visible(actor: Principal | None, permission: Permission) -> ColumnElement[bool]:
    """The users ``actor`` may see under ``permission``, as a condition."""
    if actor is None:
        return true()
    scope = actor.scope(permission)
    if scope is Scope.ALL:
        return true()
    if scope is Scope.ORGANIZATION and actor.organization_id is not None:
        return User.organization_id == actor.organization_id
    if scope is Scope.OWN:
        return User.id == actor.user_id
    return User.id.is_(None)  # nobody


# --- reading users ----------------------------------------------------------------------


def _has_role(role: Role) -> ColumnElement[bool]:
    # roles are kept comma-separated; the commas around both sides match whole names
    return (literal(",") + User.roles + literal(",")).contains(f",{role.value},", autoescape=True)


async def list_users(
    db: AsyncSession,
    *,
    actor: Principal | None = None,
    role: Role | None = None,
    status: str | None = None,
    organization_id: int | None = None,
    q: str | None = None,
    before_id: int | None = None,
    limit: int | None = None,
) -> Sequence[User]:
    """Users, newest first, that ``actor`` may see (None: all of them); ``q`` matches a
    part of the email or name, ignoring case."""
    stmt = select(User).where(_visible(actor, Permission.USERS_READ)).order_by(User.id.desc())
    if role is not None:
        stmt = stmt.where(_has_role(role))
    if status is not None:
        stmt = stmt.where(User.status == status)
    if organization_id is not None:
        stmt = stmt.where(User.organization_id == organization_id)
    if q is not None and q.strip():
        text = q.strip().lower()
        stmt = stmt.where(
            func.lower(User.email).contains(text, autoescape=True)
            | func.lower(User.name).contains(text, autoescape=True)
        )
    if before_id is not None:
        stmt = stmt.where(User.id < before_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return (await db.execute(stmt)).scalars().all()


async def get_user(db: AsyncSession, user_id: int, *, actor: Principal | None = None) -> User:
    """One user ``actor`` may see; NotFound otherwise (a user out of the caller's reach
    is not found, so ids do not tell who exists in other organizations)."""
    user = await db.get(User, user_id)
    if user is None or (actor is not None and not sees_user(actor, Permission.USERS_READ, user)):
        raise NotFound(f"no user with id {user_id}")
    return user


async def require_user(db: AsyncSession, email: str) -> User:
    user = await find_user(db, email)
    if user is None:
        raise NotFound(f"no user with email {email.strip()}")
    return user


# --- changing users ---------------------------------------------------------------------


class Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset()


@dataclass(frozen=True, slots=True)
class UserChanges:
    """What to change; None (and UNSET for the organization) leaves it as it is."""

    name: str | None = None
    roles: frozenset[Role] | None = None
    status: str | None = None
    organization_id: int | Unset | None = UNSET  # None: no organization
    password_hash: str | None = None  # already hashed (see hash_password)

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in USER_STATUSES:
            raise InvalidInput(f"a user's status is one of {', '.join(USER_STATUSES)}")
        if self.roles is not None and not self.roles:
            raise InvalidInput("a user needs at least one role")
        if self.name is not None and not self.name.strip():
            raise InvalidInput("a name cannot be empty")

    @property
    def empty(self) -> bool:
        return (
            self.name is None
            and self.roles is None
            and self.status is None
            and isinstance(self.organization_id, Unset)
            and self.password_hash is None
        )


@dataclass(slots=True)
class UserUpdate:
    """A changed user, and the credentials whose access the change ended or changed, so
    that whoever caches verified credentials can forget them."""

    user: User
    ended_logins: list[int] = field(default_factory=list)  # LoginSession ids
    changed_logins: list[int] = field(default_factory=list)  # ended or given new rights
    changed_keys: list[str] = field(default_factory=list)  # digests of the user's API keys


async def update_user(
    db: AsyncSession, user_id: int, changes: UserChanges, *, actor: Principal | None = None
) -> UserUpdate:
    """Apply ``changes``: Forbidden beyond the actor's rights (None: the command line),
    NotFound for a user out of their reach, Conflict for taking the last active admin.

    Disabling a user, or setting their password, ends their logins; a disabled user's
    API keys are refused until they are active again (their keys are not revoked)."""
    user = await db.get(User, user_id)
    if user is None or (actor is not None and not sees_user(actor, Permission.USERS_READ, user)):
        raise NotFound(f"no user with id {user_id}")
    new_org = changes.organization_id
    if actor is not None:
        check_update(actor, user, changes)
    if not isinstance(new_org, Unset) and new_org is not None:
        await require_organization(db, new_org, as_input=True)
    roles = changes.roles if changes.roles is not None else parse_roles(user.roles)
    status = changes.status or user.status
    if _is_active_admin(user) and (status != "active" or Role.ADMIN not in roles):
        await _keep_an_admin(db, user)
    access_changed = (
        roles != parse_roles(user.roles)
        or status != user.status
        or (not isinstance(new_org, Unset) and new_org != user.organization_id)
    )
    now = utcnow()
    result = UserUpdate(user)
    if access_changed:
        live = select(LoginSession.id).where(
            LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None)
        )
        result.changed_logins = list((await db.execute(live)).scalars())
        keys = select(ApiKey.key_hash).where(ApiKey.user_id == user.id)
        result.changed_keys = list((await db.execute(keys)).scalars())
    if changes.name is not None:
        user.name = _name(changes.name, user.email)
    user.roles, user.status = _joined(roles), status
    if not isinstance(new_org, Unset):
        user.organization_id = new_org
    if changes.password_hash is not None:
        user.password_hash = changes.password_hash
        user.failed_logins, user.locked_until = 0, None  # a reset also unlocks
    if status != "active" or changes.password_hash is not None:
        result.ended_logins = await end_logins(db, user.id, at=now)
        result.changed_logins = sorted({*result.changed_logins, *result.ended_logins})
    user.updated_at = now
    await db.flush()
    return result


def check_update(actor: Principal, user: User, changes: UserChanges) -> None:
    """Forbidden unless ``actor`` may make ``changes`` to ``user``."""
    if not sees_user(actor, Permission.USERS_MANAGE, user):
        raise Forbidden(f"{Permission.USERS_MANAGE} is not allowed for you over {user.email}")
    check_may_change(actor, user)
    if changes.roles is not None:
        old = parse_roles(user.roles)
        check_may_grant(actor, changes.roles - old)
        if (Role.ADMIN in old) != (Role.ADMIN in changes.roles):
            check_may_grant(actor, {Role.ADMIN})
    if not isinstance(changes.organization_id, Unset):
        check_may_place(actor, changes.organization_id)


def _is_active_admin(user: User) -> bool:
    return user.status == "active" and Role.ADMIN in parse_roles(user.roles)


async def _keep_an_admin(db: AsyncSession, user: User) -> None:
    others = select(func.count(User.id)).where(
        User.id != user.id, User.status == "active", _has_role(Role.ADMIN)
    )
    if not await db.scalar(others):
        raise Conflict(
            f"{user.email} is the last active admin: make another user admin first, "
            "or nobody could manage users any more"
        )


async def end_logins(
    db: AsyncSession, user_id: int, *, at: datetime, keep: int | None = None
) -> list[int]:
    """End every live login of a user (but ``keep``); the ids of those ended."""
    stmt = select(LoginSession.id).where(
        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
    )
    if keep is not None:
        stmt = stmt.where(LoginSession.id != keep)
    ids = list((await db.execute(stmt)).scalars())
    if ids:
        await db.execute(update(LoginSession).where(LoginSession.id.in_(ids)).values(revoked_at=at))
    return ids


async def change_password(
    db: AsyncSession,
    writer: GroupCommitWriter,
    user_id: int,
    current: str,
    new: str,
    *,
    keep_session: int | None = None,
) -> list[int]:
    """A user sets a new password, proving the current one (a wrong one counts towards
    the lockout, as at login). Every other login of theirs ends: the ids of those ended."""
    new_hash = await hash_password(new)  # InvalidInput before anything else
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        raise TooManyAttempts(_locked_message(user.locked_until, now))
    if not await asyncio.to_thread(_verify, user.password_hash, current):
        _, locked_until = await writer.submit(lambda w: _record_attempt(w, user_id, False, now))
        if locked_until is not None:
            raise TooManyAttempts(_locked_message(locked_until, now))
        raise Unauthorized("the current password is wrong")

    async def unit(work: Work) -> list[int]:
        row = await work.session.get(User, user_id)
        assert row is not None
        row.password_hash, row.updated_at = new_hash, now
        row.failed_logins, row.locked_until = 0, None
        return await end_logins(work.session, user_id, at=now, keep=keep_session)

    return await writer.submit(unit)


# --- organizations ----------------------------------------------------------------------


def _organization_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("an organization needs a name")
    if len(name) > 200:
        raise InvalidInput("an organization's name is at most 200 characters")
    return name


async def find_organization(db: AsyncSession, name: str) -> Organization | None:
    stmt = select(Organization).where(func.lower(Organization.name) == name.strip().lower())
    return (await db.execute(stmt)).scalar_one_or_none()


async def require_organization(
    db: AsyncSession, organization_id: int, *, as_input: bool = False
) -> Organization:
    """The organization; NotFound, or InvalidInput when the id came in a request body."""
    org = await db.get(Organization, organization_id)
    if org is None:
        message = f"no organization with id {organization_id}"
        raise InvalidInput(message) if as_input else NotFound(message)
    return org


async def list_organizations(
    db: AsyncSession,
    *,
    only_id: int | Unset | None = UNSET,
    before_id: int | None = None,
    limit: int | None = None,
) -> Sequence[Organization]:
    """Organizations, newest first; ``only_id`` narrows to one (None: to none)."""
    stmt = select(Organization).order_by(Organization.id.desc())
    if not isinstance(only_id, Unset):
        stmt = stmt.where(Organization.id == only_id)
    if before_id is not None:
        stmt = stmt.where(Organization.id < before_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return (await db.execute(stmt)).scalars().all()


async def create_organization(db: AsyncSession, name: str) -> Organization:
    """A new organization; Conflict if the name is taken (names ignore case)."""
    name = _organization_name(name)
    if await find_organization(db, name) is not None:
        raise Conflict(f"an organization named {name!r} already exists")
    org = Organization(name=name, created_at=utcnow())
    db.add(org)
    await db.flush()
    return org


async def rename_organization(db: AsyncSession, organization_id: int, name: str) -> Organization:
    name = _organization_name(name)
    org = await require_organization(db, organization_id)
    taken = await find_organization(db, name)
    if taken is not None and taken.id != org.id:
        raise Conflict(f"an organization named {name!r} already exists")
    org.name = name
    await db.flush()
    return org
