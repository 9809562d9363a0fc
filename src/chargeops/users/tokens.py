"""Id tokens (RFID cards, app tokens, eMAIDs): who may charge, where and until when.

The gateway asks :func:`authorize` for every Authorize, StartTransaction and
TransactionEvent, so a token blocked here is refused at its next authorization.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.charging import Authorization, AuthorizationStatus
from chargeops.core.clock import utcnow
from chargeops.core.errors import InvalidInput
from chargeops.users.models import IdToken

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
