"""``/users``: the people who use chargeops, their roles and organizations.

Staff with users:read see everyone; a fleet manager sees their organization's people
(anyone else is not found). Those with users:manage create people and change their
roles, status and organization, held to the accounts service's rules: nobody gives
roles that reach further than their own, only an admin makes or changes an admin, and
the last active admin stays. A refusal is shown on the form, in the service's words.
Changes go through the server's writer, and a change of someone's access drops their
verified credentials from this process's cache (as the API does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.api.auth import PrincipalCache
from chargeops.core.access import Permission, Principal, Role, Scope, parse_roles
from chargeops.core.clock import utcnow
from chargeops.core.errors import ChargeOpsError, Conflict, Forbidden, InvalidInput
from chargeops.storage.http import DbSession
from chargeops.storage.writer import Work
from chargeops.users import accounts, login, tokens
from chargeops.users.models import Organization, User
from chargeops.web import queries
from chargeops.web.auth import Viewer
from chargeops.web.frame import NavEntry, console_of, console_router, page, render, sentence
from chargeops.web.views.common import (
    field,
    fields,
    form_of,
    notice,
    optional_id,
    see_other,
    write,
)
from chargeops.web.views.tokens import token_rows

router = console_router()
NAV = (NavEntry("Users", "/users", Permission.USERS_READ),)
PAGE_SIZE = 50
Reader = Annotated[Viewer, page(Permission.USERS_READ)]
Manager = Annotated[Viewer, page(Permission.USERS_MANAGE)]
Refusal = (InvalidInput, Forbidden, Conflict)

ROLE_HINTS = {
    Role.ADMIN: "everything",
    Role.OPERATOR: "stations, sessions, tokens, users, sites",
    Role.TECHNICIAN: "stations (commands, events, configuration), sessions",
    Role.SUPPORT: "stations (commands), sessions, tokens, users (read)",
    Role.FLEET_MANAGER: "their organization's sessions and tokens",
    Role.DRIVER: "their own sessions and cards",
}
NOTICES = {
    "created": "The user was created.",
    "saved": "Your changes were saved.",
    "disabled": "The user was disabled: their logins ended, and their API keys are "
    "refused until they are active again.",
    "enabled": "The user is active again.",
    "organization": "The organization was added.",
}


def role_label(role: Role | str) -> str:
    return str(role).replace("_", " ")


@dataclass(frozen=True, slots=True)
class RoleChoice:
    role: Role
    label: str
    hint: str


def _choices(roles: Iterable[Role]) -> list[RoleChoice]:
    wanted = set(roles)
    return [RoleChoice(r, role_label(r), ROLE_HINTS.get(r, "")) for r in Role if r in wanted]


def grantable(principal: Principal) -> list[Role]:
    """The roles the viewer may give (the service's rule: no further than their own)."""
    return [r for r in Role if accounts.covers(principal, [r])]


async def _placeable(db: AsyncSession, principal: Principal) -> Sequence[Organization]:
    """The organizations the viewer may put people in."""
    if principal.scope(Permission.USERS_MANAGE) is Scope.ALL:
        return await _all_organizations(db)
    if principal.organization_id is None:
        return []
    return await accounts.list_organizations(db, only_id=principal.organization_id)


async def _all_organizations(db: AsyncSession) -> list[Organization]:
    rows = await accounts.list_organizations(db, limit=1000)
    return sorted(rows, key=lambda o: o.name.lower())


def _cache_forget(request: Request, update: accounts.UserUpdate) -> None:
    cache: PrincipalCache | None = getattr(request.app.state, "principal_cache", None)
    if cache is not None:
        for session_id in update.changed_logins:
            cache.drop(login.cache_key(session_id))
        for digest in update.changed_keys:
            cache.drop(digest)
    console_of(request).signins.remember_name(update.user)


# --- the list ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    q: str = ""
    role: str = ""
    status: str = ""
    organization: str = ""

    def query(self, **more: Any) -> dict[str, Any]:
        shown = {"q": self.q, "role": self.role, "status": self.status}
        return {**shown, "organization": self.organization, **more}

    @property
    def any(self) -> bool:
        return bool(self.q or self.role or self.status or self.organization)


@router.get("/users")
async def user_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    q: str = "",
    role: str = "",
    status: str = "",
    organization: str = "",
    before: int | None = None,
    done: str = "",
) -> Response:
    filters = Filters(q.strip(), role, status, organization)
    return await _list_page(request, db, viewer, filters, before, notice(done, NOTICES))


async def _list_page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    filters: Filters,
    before: int | None = None,
    done: str | None = None,
    *,
    org_error: str | None = None,
    org_name: str = "",
    http_status: int = 200,
) -> Response:
    principal = viewer.principal
    if filters.role and filters.role not in {r.value for r in Role}:
        raise InvalidInput(f"role must be one of {', '.join(r.value for r in Role)}")
    if filters.status not in ("", *accounts.USER_STATUSES):
        raise InvalidInput(f"status must be one of {', '.join(accounts.USER_STATUSES)}")
    everyone = principal.scope(Permission.USERS_READ) is Scope.ALL
    rows = await accounts.list_users(
        db,
        actor=principal,
        role=Role(filters.role) if filters.role else None,
        status=filters.status or None,
        organization_id=optional_id(filters.organization, "an organization") if everyone else None,
        q=filters.q or None,
        before_id=before,
        limit=PAGE_SIZE + 1,
    )
    shown = rows[:PAGE_SIZE]
    organizations = await _all_organizations(db) if everyone else []
    return render(
        request,
        "users.html",
        title="Users" if everyone else "Your organization's people",
        http_status=http_status,
        users=shown,
        organization_names=await queries.organization_names(db, [u.organization_id for u in shown]),
        filters=filters,
        roles=[(r.value, role_label(r)) for r in Role],
        statuses=accounts.USER_STATUSES,
        organizations=organizations,
        everyone=everyone,
        paged=before is not None,
        next_before=shown[-1].id if len(rows) > PAGE_SIZE else None,
        may_manage=principal.may(Permission.USERS_MANAGE),
        may_add_organization=principal.may(Permission.ORGANIZATIONS_MANAGE),
        notice=done,
        org_error=org_error,
        org_name=org_name,
        role_label=role_label,
    )


@router.post("/organizations")
async def add_organization(
    request: Request,
    db: DbSession,
    viewer: Annotated[Viewer, page(Permission.ORGANIZATIONS_MANAGE)],
) -> Response:
    name = field(await form_of(request), "name")
    try:
        if await accounts.find_organization(db, name) is not None:
            raise Conflict(f"an organization named {name!r} already exists")

        async def unit(work: Work) -> None:
            await accounts.create_organization(work.session, name)

        try:
            await write(request, unit)
        except IntegrityError:  # named so by someone else since we looked
            raise Conflict(f"an organization named {name!r} already exists") from None
    except Refusal as exc:
        return await _list_page(
            request,
            db,
            viewer,
            Filters(),
            org_error=sentence(exc.detail),
            org_name=name,
            http_status=exc.status,
        )
    return see_other("/users?done=organization")


# --- a new user -------------------------------------------------------------------------


@dataclass(slots=True)
class UserForm:
    """What the form showed or was sent back with."""

    email: str = ""
    name: str = ""
    roles: tuple[str, ...] = ()
    organization: str = ""

    @classmethod
    def of(cls, user: User) -> UserForm:
        return cls(
            user.email,
            user.name,
            tuple(sorted(r.value for r in parse_roles(user.roles))),
            str(user.organization_id or ""),
        )


async def _new_form(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    form: UserForm,
    *,
    error: str | None = None,
    http_status: int = 200,
) -> Response:
    principal = viewer.principal
    return render(
        request,
        "user_new.html",
        title="New user",
        http_status=http_status,
        form=form,
        error=error,
        role_choices=_choices(grantable(principal)),
        organizations=await _placeable(db, principal),
        no_organization=principal.scope(Permission.USERS_MANAGE) is Scope.ALL,
        min_password=accounts.MIN_PASSWORD_LENGTH,
    )


@router.get("/users/new")
async def new_user(request: Request, db: DbSession, viewer: Manager) -> Response:
    return await _new_form(request, db, viewer, UserForm())


@router.post("/users")
async def create_user(request: Request, db: DbSession, viewer: Manager) -> Response:
    posted = await form_of(request)
    form = UserForm(
        field(posted, "email"),
        field(posted, "name"),
        tuple(fields(posted, "roles")),
        field(posted, "organization"),
    )
    password = posted.get("password")
    principal = viewer.principal
    try:
        email, roles = accounts.check_new_user(form.email, list(form.roles))
        accounts.check_may_grant(principal, roles)
        org_id = optional_id(form.organization, "an organization")
        accounts.check_may_place(principal, org_id)
        if await accounts.find_user(db, email) is not None:
            raise Conflict(f"a user with email {email} already exists")
        if org_id is not None:
            await accounts.require_organization(db, org_id, as_input=True)
        password_hash = None
        if isinstance(password, str) and password:
            password_hash = await accounts.hash_password(password)

        async def unit(work: Work) -> int:
            user = await accounts.add_user(
                work.session,
                email,
                name=form.name or None,
                roles=roles,
                organization_id=org_id,
                password_hash=password_hash,
                actor=principal,
            )
            return user.id

        try:
            user_id = await write(request, unit)
        except IntegrityError:  # created by someone else since we looked
            raise Conflict(f"a user with email {email} already exists") from None
    except Refusal as exc:
        return await _new_form(
            request, db, viewer, form, error=sentence(exc.detail), http_status=exc.status
        )
    return see_other(f"/users/{user_id}?done=created")


# --- one user ---------------------------------------------------------------------------


@router.get("/users/{user_id}")
async def user_page(
    user_id: int, request: Request, db: DbSession, viewer: Reader, done: str = ""
) -> Response:
    return await _user_page(request, db, viewer, user_id, done=notice(done, NOTICES))


def _may_change(principal: Principal, user: User) -> str | None:
    """None when the viewer may change ``user``; else why not, in words."""
    if not principal.may(Permission.USERS_MANAGE):
        return None
    try:
        if not accounts.sees_user(principal, Permission.USERS_MANAGE, user):
            raise Forbidden(f"you may not change {user.email}")
        accounts.check_may_change(principal, user)
    except Forbidden as exc:
        return sentence(exc.detail)
    return None


async def _user_page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    user_id: int,
    *,
    form: UserForm | None = None,
    done: str | None = None,
    error: str | None = None,
    http_status: int = 200,
) -> Response:
    principal = viewer.principal
    user = await accounts.get_user(db, user_id, actor=principal)
    organization = None
    if user.organization_id is not None:
        organization = await db.get(Organization, user.organization_id)
    cards = None
    if principal.may(Permission.TOKENS_READ):
        cards = await token_rows(
            db, await tokens.list_tokens(db, principal, user_id=user.id, limit=100)
        )
    manages = principal.may(Permission.USERS_MANAGE)
    refusal = _may_change(principal, user)
    editable = manages and refusal is None
    current = parse_roles(user.roles)
    return render(
        request,
        "user.html",
        title=user.name or user.email,
        http_status=http_status,
        user=user,
        roles=sorted(role_label(r) for r in current),
        organization=organization,
        cards=cards,
        editable=editable,
        refusal=refusal,
        form=form or UserForm.of(user),
        role_choices=_choices({*grantable(principal), *current}) if editable else [],
        organizations=await _placeable(db, principal) if editable else [],
        no_organization=principal.scope(Permission.USERS_MANAGE) is Scope.ALL,
        notice=done,
        error=error,
        is_self=user.id == principal.user_id,
        min_password=accounts.MIN_PASSWORD_LENGTH,
        now_locked=user.locked_until is not None and user.locked_until > utcnow(),
    )


async def _change(
    request: Request, db: AsyncSession, viewer: Viewer, user_id: int, changes: accounts.UserChanges
) -> accounts.UserUpdate:
    principal = viewer.principal
    user = await accounts.get_user(db, user_id, actor=principal)
    accounts.check_update(principal, user, changes)

    async def unit(work: Work) -> accounts.UserUpdate:
        return await accounts.update_user(work.session, user_id, changes, actor=principal)

    update: accounts.UserUpdate = await write(request, unit)
    _cache_forget(request, update)
    return update


@router.post("/users/{user_id}")
async def update_user(user_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    posted = await form_of(request)
    form = UserForm(
        "",
        field(posted, "name"),
        tuple(fields(posted, "roles")),
        field(posted, "organization"),
    )
    password = posted.get("password")
    try:
        changes = accounts.UserChanges(
            name=form.name,
            roles=accounts.check_roles(list(form.roles)),
            organization_id=optional_id(form.organization, "an organization"),
            password_hash=(
                await accounts.hash_password(password)
                if isinstance(password, str) and password
                else None
            ),
        )
        await _change(request, db, viewer, user_id, changes)
    except Refusal as exc:
        return await _refused(request, db, viewer, user_id, exc, form)
    return see_other(f"/users/{user_id}?done=saved")


@router.post("/users/{user_id}/status")
async def set_status(user_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    status = field(await form_of(request), "status")
    try:
        await _change(request, db, viewer, user_id, accounts.UserChanges(status=status))
    except Refusal as exc:
        return await _refused(request, db, viewer, user_id, exc)
    return see_other(f"/users/{user_id}?done={'enabled' if status == 'active' else 'disabled'}")


async def _refused(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    user_id: int,
    exc: ChargeOpsError,
    form: UserForm | None = None,
) -> Response:
    """The user's page again, saying why the change was refused (nothing changed)."""
    return await _user_page(
        request,
        db,
        viewer,
        user_id,
        form=form,
        error=sentence(exc.detail),
        http_status=exc.status,
    )
