"""``/api/v1/users``, ``/api/v1/organizations`` and ``/api/v1/api-keys``.

Reads use the request's database session; every change goes through the server's
group-commit writer (on SQLite a second writer in the process would stall the gateway's).
A change that ends or narrows someone's access also drops their verified credentials from
this process's cache, so it takes effect at once here; other processes of a cluster keep
theirs for up to 30 s (api/auth.py ``CACHE_SECONDS``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.exc import IntegrityError

from chargeops.core.access import Permission, Principal, Role, Scope
from chargeops.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, before_id, newest_first
from chargeops.storage.http import DbSession, requires, writer_of
from chargeops.storage.writer import UnitFn, Work
from chargeops.users import accounts, login
from chargeops.users import service as keys
from chargeops.users.models import ApiKey
from chargeops.users.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    OrganizationIn,
    OrganizationOut,
    UserIn,
    UserOut,
    UserPasswordIn,
    UserPatch,
    UserStatus,
)

router = APIRouter(tags=["users"])
P = Permission


async def _signed_in(request: Request) -> Principal:
    """Any caller the API authenticated (a person by login, or an API key)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthorized("log in, or send an API key as 'Authorization: Bearer KEY'")
    return principal


SignedIn = Annotated[Principal, Depends(_signed_in)]
UsersReader = Annotated[Principal, requires(P.USERS_READ)]
UsersManager = Annotated[Principal, requires(P.USERS_MANAGE)]
OrganizationsManager = Annotated[Principal, requires(P.ORGANIZATIONS_MANAGE)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _forget(request: Request, logins: Iterable[int] = (), key_hashes: Iterable[str] = ()) -> None:
    """Drop credentials from this process's cache of verified ones (by login session, and
    by the key's digest for API keys)."""
    cache = getattr(request.app.state, "principal_cache", None)
    if cache is None:
        return
    for session_id in logins:
        cache.drop(login.cache_key(session_id))
    for digest in key_hashes:
        cache.drop(digest)


def _user_id(principal: Principal) -> int:
    """The caller's user; an API key of no user has none."""
    if not principal.user_id:
        raise Forbidden("this API key belongs to no user: use a user's login or key")
    return principal.user_id


# --- users ------------------------------------------------------------------------------


@router.get(
    "/users",
    response_model=Page[UserOut],
    summary="List users, newest first (a fleet manager: their organization's)",
)
async def list_users(
    db: DbSession,
    principal: UsersReader,
    role: Role | None = None,
    status: UserStatus | None = None,
    organization_id: int | None = None,
    q: Annotated[str | None, Query(max_length=100, description="part of the email or name")] = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[UserOut]:
    rows = await accounts.list_users(
        db,
        actor=principal,
        role=role,
        status=status,
        organization_id=organization_id,
        q=q,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return newest_first(rows, limit, UserOut.of, lambda r: r.id)


@router.post(
    "/users/me/password",
    status_code=204,
    summary="Change your own password (your other logins end)",
)
async def change_own_password(
    body: UserPasswordIn, request: Request, db: DbSession, principal: SignedIn
) -> Response:
    """Any signed-in user, with their current password; a wrong one counts towards the
    lockout like a failed login. The login making the request stays; the others end."""
    ended = await accounts.change_password(
        db,
        writer_of(request),
        _user_id(principal),
        body.current_password,
        body.new_password,
        keep_session=getattr(request.state, "login_session_id", None),
    )
    _forget(request, logins=ended)
    return Response(status_code=204)


@router.get("/users/{user_id}", response_model=UserOut, summary="One user")
async def get_user(user_id: int, db: DbSession, principal: UsersReader) -> UserOut:
    return UserOut.of(await accounts.get_user(db, user_id, actor=principal))


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    summary="Create a user (409 if the email is taken, ignoring case)",
)
async def create_user(
    body: UserIn, request: Request, db: DbSession, principal: UsersManager
) -> UserOut:
    """Roles may reach no further than the caller's own (only an admin makes an admin).
    Without a password the user cannot log in until one is set."""
    email, roles = accounts.check_new_user(body.email, [r.value for r in body.roles])
    accounts.check_may_grant(principal, roles)
    accounts.check_may_place(principal, body.organization_id)
    if await accounts.find_user(db, email) is not None:
        raise Conflict(f"a user with email {email} already exists")
    if body.organization_id is not None:
        await accounts.require_organization(db, body.organization_id, as_input=True)
    password_hash = None
    if body.password is not None:
        password_hash = await accounts.hash_password(body.password)

    async def unit(work: Work) -> UserOut:
        user = await accounts.add_user(
            work.session,
            email,
            name=body.name,
            roles=roles,
            organization_id=body.organization_id,
            password_hash=password_hash,
            actor=principal,
        )
        return UserOut.of(user)

    try:
        return await writer_of(request).submit(unit)
    except IntegrityError:  # created by someone else since we looked
        raise Conflict(f"a user with email {email} already exists") from None


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    summary="Change a user's name, roles, status, organization or password",
)
async def update_user(
    user_id: int, body: UserPatch, request: Request, db: DbSession, principal: UsersManager
) -> UserOut:
    """Only what is sent changes. Disabling a user (``status: disabled``) ends their
    logins and their API keys stop working (until they are active again); setting a
    password ends their logins. Users are never deleted, so that what they did stays
    attributable: disable them instead. Only an admin changes an admin or gives or takes
    the admin role; nobody gives roles that reach further than their own. The last active
    admin cannot be disabled or lose the role (409)."""
    sent = body.model_fields_set
    changes = accounts.UserChanges(
        name=body.name if "name" in sent else None,
        roles=frozenset(body.roles) if body.roles is not None else None,
        status=body.status,
        organization_id=body.organization_id if "organization_id" in sent else accounts.UNSET,
    )
    if changes.empty and body.password is None:
        raise InvalidInput(
            "nothing to change: send name, roles, status, organization_id or password"
        )
    user = await accounts.get_user(db, user_id, actor=principal)
    accounts.check_update(principal, user, changes)
    if body.password is not None:
        changes = accounts.UserChanges(
            name=changes.name,
            roles=changes.roles,
            status=changes.status,
            organization_id=changes.organization_id,
            password_hash=await accounts.hash_password(body.password),
        )

    async def unit(work: Work) -> tuple[UserOut, accounts.UserUpdate]:
        update = await accounts.update_user(work.session, user_id, changes, actor=principal)
        return UserOut.of(update.user), update

    shown, update = await writer_of(request).submit(unit)
    _forget(request, logins=update.changed_logins, key_hashes=update.changed_keys)
    return shown


# --- organizations ----------------------------------------------------------------------


def _own_organization_only(principal: Principal) -> bool:
    """Staff who read all users read all organizations; a fleet manager only theirs."""
    return principal.scope(P.USERS_READ) is not Scope.ALL


@router.get(
    "/organizations",
    response_model=Page[OrganizationOut],
    summary="List organizations, newest first (a fleet manager: their own)",
)
async def list_organizations(
    db: DbSession, principal: UsersReader, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
) -> Page[OrganizationOut]:
    rows = await accounts.list_organizations(
        db,
        only_id=principal.organization_id if _own_organization_only(principal) else accounts.UNSET,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return newest_first(rows, limit, OrganizationOut.of, lambda r: r.id)


@router.get(
    "/organizations/{organization_id}",
    response_model=OrganizationOut,
    summary="One organization (a fleet manager: their own)",
)
async def get_organization(
    organization_id: int, db: DbSession, principal: UsersReader
) -> OrganizationOut:
    """One organization (a fleet manager: only their own; others are not found)."""
    if _own_organization_only(principal) and principal.organization_id != organization_id:
        raise NotFound(f"no organization with id {organization_id}")
    return OrganizationOut.of(await accounts.require_organization(db, organization_id))


@router.post(
    "/organizations",
    response_model=OrganizationOut,
    status_code=201,
    summary="Create an organization (409 if the name is taken, ignoring case)",
)
async def create_organization(
    body: OrganizationIn, request: Request, db: DbSession, principal: OrganizationsManager
) -> OrganizationOut:
    if await accounts.find_organization(db, body.name) is not None:
        raise Conflict(f"an organization named {body.name.strip()!r} already exists")

    async def unit(work: Work) -> OrganizationOut:
        return OrganizationOut.of(await accounts.create_organization(work.session, body.name))

    return await _organization_write(request, unit, body.name)


@router.patch(
    "/organizations/{organization_id}",
    response_model=OrganizationOut,
    summary="Rename an organization (409 if the name is taken, ignoring case)",
)
async def rename_organization(
    organization_id: int,
    body: OrganizationIn,
    request: Request,
    db: DbSession,
    principal: OrganizationsManager,
) -> OrganizationOut:
    await accounts.require_organization(db, organization_id)

    async def unit(work: Work) -> OrganizationOut:
        org = await accounts.rename_organization(work.session, organization_id, body.name)
        return OrganizationOut.of(org)

    return await _organization_write(request, unit, body.name)


async def _organization_write(
    request: Request, unit: UnitFn[OrganizationOut], name: str
) -> OrganizationOut:
    try:
        return await writer_of(request).submit(unit)
    except IntegrityError:  # named so by someone else since we looked
        raise Conflict(f"an organization named {name.strip()!r} already exists") from None


# --- API keys ---------------------------------------------------------------------------


def _manages_keys(principal: Principal) -> bool:
    return principal.may(P.API_KEYS_MANAGE)


@router.get(
    "/api-keys",
    response_model=Page[ApiKeyOut],
    summary="List API keys, newest first: your own, or anyone's with api_keys:manage",
)
async def list_api_keys(
    db: DbSession,
    principal: SignedIn,
    user_id: Annotated[int | None, Query(description="only this user's keys")] = None,
    include_revoked: bool = False,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ApiKeyOut]:
    owner: int | keys.Everyone | None = keys.EVERYONE if user_id is None else user_id
    if not _manages_keys(principal):
        mine = _user_id(principal)
        if user_id is not None and user_id != mine:
            raise Forbidden(f"{P.API_KEYS_MANAGE} is needed to see other users' keys")
        owner = mine
    rows = await keys.list_api_keys(
        db,
        user_id=owner,
        include_revoked=include_revoked,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return newest_first(rows, limit, lambda r: ApiKeyOut.of(*r), lambda r: r[0].id)


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=201,
    summary="Create an API key; the key is in this answer only",
)
async def create_api_key(body: ApiKeyIn, request: Request, principal: SignedIn) -> ApiKeyCreated:
    """A key is owned by a user (by default the caller) and acts with its roles that its
    user also holds. Its roles may not reach beyond the caller's own (default: the
    caller's roles, or, for an admin making a key for someone, that user's roles). Only
    api_keys:manage makes keys for other users."""
    manages = _manages_keys(principal)
    owner = body.user_id if body.user_id is not None else (principal.user_id or None)
    if not manages and owner != _user_id(principal):
        raise Forbidden(f"{P.API_KEYS_MANAGE} is needed to make keys for other users")
    roles: frozenset[Role] | None = frozenset(body.roles) if body.roles is not None else None
    if Role.ADMIN not in principal.roles:
        if roles is not None and not roles <= principal.roles:
            beyond = ", ".join(sorted(r.value for r in roles - principal.roles))
            raise Forbidden(f"a key may carry only roles you hold; you do not hold {beyond}")
        if roles is None:
            roles = principal.roles
    elif roles is None and owner is None:
        roles = principal.roles  # a key of no user acts as its maker does

    async def unit(work: Work) -> ApiKeyCreated:
        new = await keys.create_api_key(work.session, body.name, user_id=owner, roles=roles)
        row, email = await keys.get_api_key(work.session, new.id)
        return ApiKeyCreated(**ApiKeyOut.of(row, email).model_dump(), key=new.key)

    return await writer_of(request).submit(unit)


@router.delete(
    "/api-keys/{key_id}",
    status_code=204,
    summary="Revoke an API key: yours, or anyone's with api_keys:manage",
)
async def revoke_api_key(
    key_id: int, request: Request, db: DbSession, principal: SignedIn
) -> Response:
    """The key stops working at once on this server (within 30 s on other processes of a
    cluster). It is kept, marked revoked, so what it did stays attributable."""
    row, _ = await keys.get_api_key(db, key_id)
    if not _manages_keys(principal) and row.user_id != _user_id(principal):
        raise NotFound(f"no API key with id {key_id}")

    async def unit(work: Work) -> ApiKey:
        return await keys.revoke_api_key(work.session, key_id)

    revoked = await writer_of(request).submit(unit)
    _forget(request, key_hashes=[revoked.key_hash])
    return Response(status_code=204)
