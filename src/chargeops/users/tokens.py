"""Id tokens (RFID cards, app tokens, eMAIDs): who may charge, where and until when.

The gateway asks :func:`authorize` for every Authorize, StartTransaction and
TransactionEvent, so a token blocked here is refused at its next authorization.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.access import Permission, Principal, Scope
from chargeops.core.charging import Authorization, AuthorizationStatus
from chargeops.core.clock import parse_timestamp, utcnow
from chargeops.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from chargeops.stations import sites
from chargeops.stations.models import Site
from chargeops.storage import search
from chargeops.users.models import IdToken, IdTokenSite, Organization, User

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
    station_id: str | None = None,
) -> Authorization:
    """The idTagInfo for a token presented at ``station_id``: unknown tokens are Invalid,
    lapsed ones Expired, a disabled owner's Blocked, and a token kept to other sites
    NotAtThisLocation (Invalid in OCPP 1.6, which has no such word).

    A token registered with a type matches only when presented as that type (an RFID
    UID and an eMAID may share a value). A 2.0.1 NoAuthorization token means the
    station charges without asking anyone: there is nothing to refuse.
    """
    if token_type == "NoAuthorization":
        return Authorization(AuthorizationStatus.ACCEPTED)
    stmt = (
        select(IdToken, User.status)
        .outerjoin(User, User.id == IdToken.user_id)
        .where(func.lower(IdToken.id_tag) == id_tag.lower())
    )
    found = (await session.execute(stmt)).one_or_none()
    if found is None:
        return Authorization(AuthorizationStatus.INVALID)
    token, owner_status = found
    if token.type and token_type and token.type != token_type:
        return Authorization(AuthorizationStatus.INVALID)
    status = effective_status(token, owner_status, at or utcnow())
    if status is AuthorizationStatus.ACCEPTED and station_id is not None:
        allowed = await _sites_of(session, token.id)
        if allowed and await sites.site_of_station(session, station_id) not in allowed:
            status = AuthorizationStatus.NOT_AT_THIS_LOCATION
    return Authorization(
        status,
        expires_at=token.expires_at if status is AuthorizationStatus.ACCEPTED else None,
        parent_id_tag=token.parent_id_tag,
    )


def effective_status(token: IdToken, owner_status: str | None, at: datetime) -> AuthorizationStatus:
    """What the token's own state says at ``at``, before where it is presented: a
    disabled owner's card is blocked, a lapsed one expired."""
    status = _STATUS_MAP.get(token.status, AuthorizationStatus.INVALID)
    if status is AuthorizationStatus.ACCEPTED and owner_status not in (None, "active"):
        return AuthorizationStatus.BLOCKED
    if (
        status is AuthorizationStatus.ACCEPTED
        and token.expires_at is not None
        and token.expires_at <= at
    ):
        return AuthorizationStatus.EXPIRED
    return status


async def _sites_of(session: AsyncSession, token_id: int) -> set[int]:
    stmt = select(IdTokenSite.site_id).where(IdTokenSite.token_id == token_id)
    return set((await session.execute(stmt)).scalars())


# --- managing tokens (the API and console) ---------------------------------------------


# what a token has besides its id tag; every one of them may be changed later
FIELDS = (
    "id_tag",
    "type",
    "status",
    "expires_at",
    "parent_id_tag",
    "user_id",
    "organization_id",
    "site_ids",
)


@dataclass(frozen=True, slots=True)
class TokenView:
    token: IdToken
    site_ids: list[int] | None  # None: it may charge at every site


def visible(principal: Principal, permission: Permission) -> ColumnElement[bool]:
    """Which tokens ``principal`` may see (or change) under ``permission``: every token
    for staff, a fleet's (its own, and its members') for its manager, a driver's own."""
    scope = principal.scope(permission)
    if scope is Scope.ALL:
        return true()
    if scope is Scope.OWN and principal.user_id:
        return IdToken.user_id == principal.user_id
    if scope is Scope.ORGANIZATION and principal.organization_id is not None:
        members = select(User.id).where(User.organization_id == principal.organization_id)
        return (IdToken.organization_id == principal.organization_id) | IdToken.user_id.in_(members)
    return false()


async def _views(session: AsyncSession, tokens: Sequence[IdToken]) -> list[TokenView]:
    ids = [t.id for t in tokens]
    allowed: dict[int, list[int]] = {}
    if ids:
        stmt = (
            select(IdTokenSite.token_id, IdTokenSite.site_id)
            .where(IdTokenSite.token_id.in_(ids))
            .order_by(IdTokenSite.site_id)
        )
        for token_id, site_id in (await session.execute(stmt)).all():
            allowed.setdefault(token_id, []).append(site_id)
    return [TokenView(t, allowed.get(t.id)) for t in tokens]


async def list_tokens(
    session: AsyncSession,
    principal: Principal,
    *,
    q: str | None = None,
    status: str | None = None,
    user_id: int | None = None,
    organization_id: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[TokenView]:
    stmt = (
        select(IdToken)
        .where(visible(principal, Permission.TOKENS_READ))
        .order_by(IdToken.id)
        .limit(limit)
    )
    if q:
        stmt = stmt.where(IdToken.id_tag.ilike(search.contains(q), escape=search.ESCAPE))
    if status is not None:
        stmt = stmt.where(IdToken.status == status)
    if user_id is not None:
        stmt = stmt.where(IdToken.user_id == user_id)
    if organization_id is not None:
        stmt = stmt.where(IdToken.organization_id == organization_id)
    if after is not None:
        stmt = stmt.where(IdToken.id > after)
    return await _views(session, (await session.execute(stmt)).scalars().all())


async def get_token(
    session: AsyncSession,
    principal: Principal,
    token_id: int,
    permission: Permission = Permission.TOKENS_READ,
) -> TokenView:
    """A token the caller may see; NotFound for one outside their scope, as for one that
    does not exist (a fleet learns nothing of another fleet's cards)."""
    stmt = select(IdToken).where(IdToken.id == token_id, visible(principal, permission))
    token = (await session.execute(stmt)).scalar_one_or_none()
    if token is None:
        raise NotFound(f"no token {token_id}")
    return (await _views(session, [token]))[0]


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"unknown token field {', '.join(sorted(unknown))}")
    clean = dict(values)
    if "id_tag" in clean:
        id_tag = clean["id_tag"].strip() if isinstance(clean["id_tag"], str) else ""
        if not id_tag or len(id_tag) > 64:
            raise InvalidInput("an id tag is 1 to 64 characters (OCPP 1.6 cards use up to 20)")
        clean["id_tag"] = id_tag
    if "status" in clean and clean["status"] not in TOKEN_STATUSES:
        raise InvalidInput(f"token status must be one of {', '.join(TOKEN_STATUSES)}")
    if clean.get("type") is not None and clean["type"] not in TOKEN_TYPES:
        raise InvalidInput(f"token type must be one of {', '.join(TOKEN_TYPES)}")
    expires = clean.get("expires_at")
    if isinstance(expires, str):
        clean["expires_at"] = expires = parse_timestamp(expires)
    if expires is not None and (not isinstance(expires, datetime) or expires.tzinfo is None):
        raise InvalidInput("the expiry needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    if expires is not None:
        clean["expires_at"] = expires.astimezone(UTC)
    parent = clean.get("parent_id_tag")
    if parent is not None:
        if not isinstance(parent, str) or not parent.strip() or len(parent.strip()) > 36:
            raise InvalidInput("a parent (group) id is 1 to 36 characters")
        clean["parent_id_tag"] = parent.strip()
    site_ids = clean.get("site_ids")
    if site_ids is not None:
        if not isinstance(site_ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in site_ids
        ):
            raise InvalidInput("site_ids is a list of site ids, or null for every site")
        if not site_ids:
            raise InvalidInput("site_ids needs at least one site; null means every site")
        clean["site_ids"] = sorted(set(site_ids))
    return clean


async def _check_owner(
    session: AsyncSession, principal: Principal, token: IdToken, clean: dict[str, Any]
) -> None:
    """The owner and sites must exist, and a fleet manager keeps tokens in their fleet."""
    if clean.get("user_id") is not None:
        owner = await session.get(User, clean["user_id"])
        if owner is None:
            raise InvalidInput(f"no user {clean['user_id']}")
    org_id = clean.get("organization_id")
    if org_id is not None and await session.get(Organization, org_id) is None:
        raise InvalidInput(f"no organization {clean['organization_id']}")
    for site_id in clean.get("site_ids") or ():
        if await session.get(Site, site_id) is None:
            raise InvalidInput(f"no site {site_id}")
    if principal.scope(Permission.TOKENS_MANAGE) is Scope.ALL:
        return
    fleet = principal.organization_id
    if token.organization_id != fleet:
        raise Forbidden("a fleet manager's tokens belong to their organization")
    if token.user_id is not None:
        member = await session.scalar(select(User.organization_id).where(User.id == token.user_id))
        if member != fleet:
            raise Forbidden("a fleet manager gives tokens only to their organization's users")


async def _set_sites(session: AsyncSession, token_id: int, site_ids: list[int] | None) -> None:
    await session.execute(delete(IdTokenSite).where(IdTokenSite.token_id == token_id))
    for site_id in site_ids or ():
        session.add(IdTokenSite(token_id=token_id, site_id=site_id))


async def create_token(
    session: AsyncSession, principal: Principal, values: Mapping[str, Any]
) -> TokenView:
    """A new token; Conflict if the id tag is registered already (id tags ignore case).
    A fleet manager's token belongs to their organization whatever they ask."""
    clean = _clean({"status": "accepted", **values})
    if "id_tag" not in clean:
        raise InvalidInput("a token needs an id_tag (the card's UID, an app token, an eMAID)")
    if await find_token(session, clean["id_tag"]) is not None:
        raise Conflict(f"the id tag {clean['id_tag']!r} is registered already")
    if principal.scope(Permission.TOKENS_MANAGE) is not Scope.ALL:
        clean.setdefault("organization_id", principal.organization_id)
    now = utcnow()
    site_ids = clean.pop("site_ids", None)
    token = IdToken(**clean, created_at=now, updated_at=now)
    await _check_owner(session, principal, token, {**clean, "site_ids": site_ids})
    session.add(token)
    await session.flush()
    await _set_sites(session, token.id, site_ids)
    await session.flush()
    return TokenView(token, site_ids)


async def update_token(
    session: AsyncSession, principal: Principal, token_id: int, changes: Mapping[str, Any]
) -> tuple[TokenView, TokenView]:
    """Change a token; returns it (before, after). It is judged by its new state at its
    next authorization; the caller tells stations holding a local list. A refusal raises
    before the unit commits, so it changes nothing."""
    view = await get_token(session, principal, token_id, Permission.TOKENS_MANAGE)
    token = view.token
    before = TokenView(_copy(token), view.site_ids)
    clean = _clean(changes)
    if "id_tag" in clean and clean["id_tag"].lower() != token.id_tag.lower():
        raise InvalidInput("an id tag cannot change: register the new card as a token")
    sites_changed = "site_ids" in clean
    site_ids = clean.pop("site_ids", None)
    for field, value in clean.items():
        setattr(token, field, value)
    await _check_owner(session, principal, token, {**clean, "site_ids": site_ids})
    token.updated_at = utcnow()
    if sites_changed:
        await _set_sites(session, token.id, site_ids)
    await session.flush()
    return before, TokenView(token, site_ids if sites_changed else view.site_ids)


async def delete_token(session: AsyncSession, principal: Principal, token_id: int) -> IdToken:
    """Forget a token: it is Invalid at its next authorization. Sessions it charged keep
    its id tag. Blocking is usually what an operator wants (it stays visible)."""
    view = await get_token(session, principal, token_id, Permission.TOKENS_MANAGE)
    removed = _copy(view.token)
    await session.delete(view.token)
    await session.flush()
    return removed


def _copy(token: IdToken) -> IdToken:
    """A detached copy, to say later what the token was."""
    return IdToken(**{c.key: getattr(token, c.key) for c in IdToken.__table__.columns})
