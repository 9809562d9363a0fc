"""``/tokens``: charging cards and other id tokens, who they belong to, where and until
when they charge.

Staff see every token, a fleet manager their organization's, a driver their own ("My
cards"); a token outside that is not found. Those with tokens:manage register, block,
change and delete them through the tokens service, whose rules decide (a fleet manager's
tokens stay in their fleet). After a change, the stations holding a local list are sent
it at once, as the API does, and the page names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from chargeops.api.tokens import carry_token_change
from chargeops.commands.models import Command
from chargeops.core.access import Permission, Principal, Scope
from chargeops.core.charging import AuthorizationStatus
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, Forbidden, InvalidInput
from chargeops.sessions import service as sessions
from chargeops.stations import sites
from chargeops.storage.http import DbSession
from chargeops.storage.writer import Work
from chargeops.users import accounts, tokens
from chargeops.users.models import Organization, User
from chargeops.web import queries
from chargeops.web.auth import Viewer
from chargeops.web.frame import NavEntry, console_router, page, render, sentence
from chargeops.web.views.common import (
    field as form_field,
)
from chargeops.web.views.common import (
    fields,
    form_of,
    ids_of,
    notice,
    optional_id,
    see_other,
    visible_id_tags,
    write,
)

router = console_router()
NAV = (NavEntry("Tokens", "/tokens", Permission.TOKENS_READ, own_label="My cards"),)
PAGE_SIZE = 50
RECENT = 10
Reader = Annotated[Viewer, page(Permission.TOKENS_READ)]
Manager = Annotated[Viewer, page(Permission.TOKENS_MANAGE)]
Refusal = (InvalidInput, Forbidden, Conflict)
NOTICES = {
    "created": "The token was registered.",
    "saved": "Your changes were saved.",
    "blocked": "The token is blocked: it is refused from its next authorization.",
    "unblocked": "The token is accepted again from its next authorization.",
}
EXPIRY_FORMAT = "%Y-%m-%dT%H:%M:%S"  # what <input type="datetime-local" step="1"> shows


def _title(principal: Principal) -> str:
    scope = principal.scope(Permission.TOKENS_READ)
    if scope is Scope.OWN:
        return "My cards"
    if scope is Scope.ORGANIZATION:
        return "Your organization's tokens"
    return "Tokens"


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A token as a page shows it: what it is judged now, and the names it refers to."""

    view: tokens.TokenView
    owner: User | None
    organization: str | None
    sites: list[tuple[int, str]] | None  # None: every site
    state: str  # Accepted, Blocked, Expired
    why: str | None  # when the state is not simply the token's own status

    @property
    def token(self) -> Any:
        return self.view.token


def _judged(token: Any, owner: User | None, now: datetime) -> tuple[str, str | None]:
    status = tokens.effective_status(token, owner.status if owner else None, now)
    if status.value.lower() == token.status:
        return status.value, None
    if status is AuthorizationStatus.BLOCKED:
        return status.value, "its owner is disabled"
    if status is AuthorizationStatus.EXPIRED:
        return status.value, "its expiry has passed"
    return status.value, None


async def token_rows(db: AsyncSession, views: Sequence[tokens.TokenView]) -> list[TokenRow]:
    owners = await queries.users_by_id(db, [v.token.user_id for v in views])
    orgs = await queries.organization_names(db, [v.token.organization_id for v in views])
    names = await queries.site_names(db, [s for v in views for s in v.site_ids or ()])
    now = utcnow()
    rows = []
    for v in views:
        owner = owners.get(v.token.user_id) if v.token.user_id is not None else None
        state, why = _judged(v.token, owner, now)
        rows.append(
            TokenRow(
                v,
                owner,
                orgs.get(v.token.organization_id) if v.token.organization_id else None,
                None if v.site_ids is None else [(s, names.get(s, f"#{s}")) for s in v.site_ids],
                state,
                why,
            )
        )
    return rows


async def _updates(db: AsyncSession, sent: str, id_tag: str) -> list[Command]:
    return await queries.list_updates_of(db, ids_of(sent), id_tag)


def _sent(commands: Sequence[Command]) -> str:
    return ",".join(str(c.id) for c in commands)


# --- the list ---------------------------------------------------------------------------


@router.get("/tokens")
async def token_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    q: str = "",
    status: str = "",
    organization: str = "",
    after: int | None = None,
    deleted: str = "",
    sent: str = "",
) -> Response:
    principal = viewer.principal
    q = q.strip()
    if status not in ("", *tokens.TOKEN_STATUSES):
        raise InvalidInput(f"status must be one of {', '.join(tokens.TOKEN_STATUSES)}")
    everyone = principal.scope(Permission.TOKENS_READ) is Scope.ALL
    views = await tokens.list_tokens(
        db,
        principal,
        q=q or None,
        status=status or None,
        organization_id=optional_id(organization, "an organization") if everyone else None,
        after=after,
        limit=PAGE_SIZE + 1,
    )
    shown = views[:PAGE_SIZE]
    gone = None
    if deleted and await tokens.find_token(db, deleted) is None:
        gone = (deleted, await _updates(db, sent, deleted))
    filters = {"q": q, "status": status, "organization": organization}
    return render(
        request,
        "tokens.html",
        title=_title(principal),
        rows=await token_rows(db, shown),
        filters=filters,
        filtered=any(filters.values()),
        statuses=tokens.TOKEN_STATUSES,
        organizations=await _organizations(db) if everyone else [],
        own=principal.scope(Permission.TOKENS_READ) is Scope.OWN,
        paged=after is not None,
        next_after=shown[-1].token.id if len(views) > PAGE_SIZE else None,
        may_manage=principal.may(Permission.TOKENS_MANAGE),
        see_users=principal.may(Permission.USERS_READ),
        gone=gone,
    )


async def _organizations(db: AsyncSession) -> list[Organization]:
    rows = await accounts.list_organizations(db, limit=1000)
    return sorted(rows, key=lambda o: o.name.lower())


# --- the form ---------------------------------------------------------------------------


@dataclass(slots=True)
class TokenForm:
    """What the form showed, or was sent back with."""

    id_tag: str = ""
    type: str = ""
    status: str = "accepted"
    expires: str = ""
    owner: str = ""  # email
    organization: str = ""
    group: str = ""
    site_ids: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, row: TokenRow) -> TokenForm:
        t = row.token
        return cls(
            t.id_tag,
            t.type or "",
            t.status,
            t.expires_at.astimezone(UTC).strftime(EXPIRY_FORMAT) if t.expires_at else "",
            row.owner.email if row.owner else "",
            str(t.organization_id or ""),
            t.parent_id_tag or "",
            [str(s) for s in row.view.site_ids or ()],
        )

    @classmethod
    def posted(cls, form: FormData) -> TokenForm:
        return cls(
            form_field(form, "id_tag"),
            form_field(form, "type"),
            form_field(form, "status") or "accepted",
            form_field(form, "expires"),
            form_field(form, "owner"),
            form_field(form, "organization"),
            form_field(form, "group"),
            fields(form, "sites"),
        )


def _expiry(text: str) -> datetime | None:
    """The form's expiry, a time in UTC (the console's time) unless it names its zone."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date and time: use e.g. 2027-12-31 23:59 (UTC)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def _owner_id(db: AsyncSession, principal: Principal, email: str) -> int | None:
    """The user an email names, if the viewer may see them (a fleet manager does not
    learn who exists in other organizations)."""
    if not email:
        return None
    user = await accounts.find_user(db, email)
    if user is None or not accounts.sees_user(principal, Permission.USERS_READ, user):
        raise InvalidInput(f"no user with email {email}")
    return user.id


async def _values(
    db: AsyncSession, principal: Principal, form: TokenForm, *, new: bool
) -> dict[str, Any]:
    """What the tokens service is given; it checks the rest."""
    values: dict[str, Any] = {
        "type": form.type or None,
        "expires_at": _expiry(form.expires),
        "parent_id_tag": form.group or None,
        "user_id": await _owner_id(db, principal, form.owner),
        "site_ids": [i for i in (optional_id(s, "a site") for s in form.site_ids) if i is not None]
        or None,
    }
    if principal.scope(Permission.TOKENS_MANAGE) is Scope.ALL:
        values["organization_id"] = optional_id(form.organization, "an organization")
    if new:
        values["id_tag"] = form.id_tag
        values["status"] = form.status
    return values


async def _form_context(db: AsyncSession, principal: Principal) -> dict[str, Any]:
    everyone = principal.scope(Permission.TOKENS_MANAGE) is Scope.ALL
    fleet = None
    if not everyone and principal.organization_id is not None:
        fleet = await db.get(Organization, principal.organization_id)
    return {
        "types": tokens.TOKEN_TYPES,
        "statuses": tokens.TOKEN_STATUSES,
        "organizations": await _organizations(db) if everyone else [],
        "fleet": fleet,
        "all_sites": [s.site for s in await sites.list_sites(db, limit=500)],
    }


# --- a new token ------------------------------------------------------------------------


async def _new_form(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    form: TokenForm,
    *,
    error: str | None = None,
    http_status: int = 200,
) -> Response:
    return render(
        request,
        "token_new.html",
        title="Register a token",
        http_status=http_status,
        form=form,
        error=error,
        **await _form_context(db, viewer.principal),
    )


@router.get("/tokens/new")
async def new_token(request: Request, db: DbSession, viewer: Manager) -> Response:
    return await _new_form(request, db, viewer, TokenForm())


@router.post("/tokens")
async def create_token(request: Request, db: DbSession, viewer: Manager) -> Response:
    form = TokenForm.posted(await form_of(request))
    principal = viewer.principal
    try:
        values = await _values(db, principal, form, new=True)

        async def unit(w: Work) -> tuple[int, str]:
            view = await tokens.create_token(w.session, principal, values)
            return view.token.id, view.token.id_tag

        try:
            token_id, id_tag = await write(request, unit)
        except IntegrityError:  # registered by someone else since we looked
            raise Conflict(f"the id tag {form.id_tag!r} is registered already") from None
    except Refusal as exc:
        return await _new_form(
            request, db, viewer, form, error=sentence(exc.detail), http_status=exc.status
        )
    sent = await carry_token_change(request, id_tag, principal)
    return see_other(f"/tokens/{token_id}?done=created&sent={_sent(sent)}")


# --- one token --------------------------------------------------------------------------


@router.get("/tokens/{token_id}")
async def token_page(
    token_id: int,
    request: Request,
    db: DbSession,
    viewer: Reader,
    done: str = "",
    sent: str = "",
) -> Response:
    return await _token_page(request, db, viewer, token_id, done=done, sent=sent)


async def _token_page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    token_id: int,
    *,
    done: str = "",
    sent: str = "",
    form: TokenForm | None = None,
    error: str | None = None,
    http_status: int = 200,
) -> Response:
    principal = viewer.principal
    row = (await token_rows(db, [await tokens.get_token(db, principal, token_id)]))[0]
    recent = None
    if principal.may(Permission.SESSIONS_READ):
        visible = await visible_id_tags(request, db, viewer)
        tag = row.token.id_tag.lower()
        found = await sessions.list_sessions(
            db, limit=RECENT, id_tags={tag} if visible is None else {tag} & visible
        )
        readings = await queries.latest_readings(
            db, [s.id for s in found if s.status == sessions.ACTIVE]
        )
        recent = [(s, queries.energy_so_far(s, readings.get(s.id))) for s in found]
    manages = principal.may(Permission.TOKENS_MANAGE)
    return render(
        request,
        "token.html",
        title=f"Token {row.token.id_tag}",
        list_title=_title(principal),
        http_status=http_status,
        row=row,
        recent=recent,
        notice=notice(done, NOTICES),
        updates=await _updates(db, sent, row.token.id_tag) if done in NOTICES else None,
        error=error,
        may_manage=manages,
        see_users=principal.may(Permission.USERS_READ),
        form=form or TokenForm.of(row),
        **(await _form_context(db, principal) if manages else {}),
    )


async def _change(
    request: Request, viewer: Viewer, token_id: int, changes: dict[str, Any]
) -> tuple[str, list[Command]]:
    principal = viewer.principal

    async def unit(w: Work) -> str:
        _, after = await tokens.update_token(w.session, principal, token_id, changes)
        return after.token.id_tag

    id_tag = await write(request, unit)
    return id_tag, await carry_token_change(request, id_tag, principal)


@router.post("/tokens/{token_id}")
async def update_token(token_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    form = TokenForm.posted(await form_of(request))
    try:
        changes = await _values(db, viewer.principal, form, new=False)
        _, sent = await _change(request, viewer, token_id, changes)
    except Refusal as exc:
        return await _token_page(
            request,
            db,
            viewer,
            token_id,
            form=form,
            error=sentence(exc.detail),
            http_status=exc.status,
        )
    return see_other(f"/tokens/{token_id}?done=saved&sent={_sent(sent)}")


@router.post("/tokens/{token_id}/status")
async def set_status(token_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    status = form_field(await form_of(request), "status")
    try:
        if status not in ("accepted", "blocked"):
            raise InvalidInput("a token is blocked, or accepted again")
        _, sent = await _change(request, viewer, token_id, {"status": status})
    except Refusal as exc:
        return await _token_page(
            request, db, viewer, token_id, error=sentence(exc.detail), http_status=exc.status
        )
    done = "blocked" if status == "blocked" else "unblocked"
    return see_other(f"/tokens/{token_id}?done={done}&sent={_sent(sent)}")


@router.get("/tokens/{token_id}/delete")
async def confirm_delete(
    token_id: int, request: Request, db: DbSession, viewer: Manager
) -> Response:
    view = await tokens.get_token(db, viewer.principal, token_id, Permission.TOKENS_MANAGE)
    return render(
        request, "token_delete.html", title=f"Delete {view.token.id_tag}?", token=view.token
    )


@router.post("/tokens/{token_id}/delete")
async def delete_token(token_id: int, request: Request, viewer: Manager) -> Response:
    principal = viewer.principal

    async def unit(w: Work) -> str:
        return (await tokens.delete_token(w.session, principal, token_id)).id_tag

    id_tag = await write(request, unit)
    sent = await carry_token_change(request, id_tag, principal)
    return see_other(f"/tokens?{urlencode({'deleted': id_tag, 'sent': _sent(sent)})}")
