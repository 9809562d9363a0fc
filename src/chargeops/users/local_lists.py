"""Local authorization lists: the tokens a station keeps to authorize while it cannot
reach us (or before asking, with LocalPreAuthorize), and which version of them each
station holds.

A station's list holds the tokens as *we* would judge them there: a disabled owner's
card is blocked, a lapsed one expired, and a token kept to other sites is left out. Each
push takes the next version after the one the station last confirmed, so versions only
grow per station (OCPP compares them to refuse stale differential updates).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.charging import AuthorizationStatus
from chargeops.core.clock import format_timestamp, utcnow
from chargeops.stations import service as stations
from chargeops.stations import sites
from chargeops.storage.upsert import upsert_newer
from chargeops.storage.writer import Work
from chargeops.users.models import IdToken, IdTokenSite, StationLocalList, User
from chargeops.users.tokens import effective_status

# what stations say when their local list is on: 1.6 configuration key, 2.0.1 variable
LOCAL_LIST_SWITCHES = (("OCPP16", "LocalAuthListEnabled"), ("LocalAuthListCtrlr", "Enabled"))
REMOVE = "remove"
_WORDS = {
    AuthorizationStatus.ACCEPTED: "accepted",
    AuthorizationStatus.BLOCKED: "blocked",
    AuthorizationStatus.EXPIRED: "expired",
}


def _entry(token: IdToken, owner_status: str | None, now: datetime) -> dict[str, Any]:
    status = effective_status(token, owner_status, now)
    return {
        "id_tag": token.id_tag,
        "status": _WORDS.get(status, "invalid"),
        "expires_at": format_timestamp(token.expires_at) if token.expires_at else None,
        "parent_id_tag": token.parent_id_tag,
        "type": token.type,
    }


async def entries_for(db: AsyncSession, station_id: str) -> list[dict[str, Any]]:
    """A full list for ``station_id``: every token that may charge at its site, as
    ``send_local_list`` takes them."""
    site_id = await sites.site_of_station(db, station_id)
    elsewhere = select(IdTokenSite.token_id).where(
        IdTokenSite.token_id.not_in(
            select(IdTokenSite.token_id).where(IdTokenSite.site_id == site_id)
        )
        if site_id is not None
        else IdTokenSite.token_id.is_not(None)
    )
    stmt = (
        select(IdToken, User.status)
        .outerjoin(User, User.id == IdToken.user_id)
        .where(IdToken.id.not_in(elsewhere))
        .where((IdToken.type.is_(None)) | (IdToken.type != "NoAuthorization"))
        .order_by(IdToken.id)
    )
    now = utcnow()
    return [_entry(t, owner, now) for t, owner in (await db.execute(stmt)).all()]


async def entry_for(
    db: AsyncSession, station_id: str, id_tag: str, token: IdToken | None
) -> dict[str, Any]:
    """A differential update's entry for one token at ``station_id``: its state there,
    or removal when it is gone or may not charge at that station's site."""
    if token is None:
        return {"id_tag": id_tag, "status": REMOVE}
    allowed = set(
        (
            await db.execute(select(IdTokenSite.site_id).where(IdTokenSite.token_id == token.id))
        ).scalars()
    )
    if allowed and await sites.site_of_station(db, station_id) not in allowed:
        return {"id_tag": id_tag, "status": REMOVE}
    owner = await db.get(User, token.user_id) if token.user_id is not None else None
    return _entry(token, owner.status if owner else None, utcnow())


async def state_of(db: AsyncSession, station_id: str) -> StationLocalList | None:
    return await db.get(StationLocalList, station_id)


async def version_of(db: AsyncSession, station_id: str) -> int:
    """The list version the station last confirmed; 0 when it holds none we know of."""
    row = await db.get(StationLocalList, station_id)
    return row.version if row is not None else 0


async def record_version(
    work: Work,
    station_id: str,
    version: int,
    *,
    entries: int | None,
    at: datetime,
    stale: bool | None,
) -> None:
    """What the station confirmed holding (newest answer wins). ``entries`` None keeps
    the count of the last full list; ``stale`` None keeps what was known."""
    row: dict[str, Any] = {"station_id": station_id, "version": version, "updated_at": at}
    if entries is not None:
        row["entries"] = entries
    if stale is not None:
        row["stale"] = stale
    await upsert_newer(work.session, StationLocalList, row, key=("station_id",), newer="updated_at")


async def mark_stale(work: Work, station_id: str) -> None:
    """A change did not reach the station: it gets a whole list when it next connects."""
    await work.session.execute(
        update(StationLocalList).where(StationLocalList.station_id == station_id).values(stale=True)
    )


async def is_stale(db: AsyncSession, station_id: str) -> bool:
    row = await db.get(StationLocalList, station_id)
    return bool(row is not None and row.stale and row.version > 0)


async def holders(db: AsyncSession) -> list[str]:
    """Stations holding a list we sent (version above 0): the ones a token change must
    reach, or they would go on accepting a blocked card while offline."""
    stmt = select(StationLocalList.station_id).where(StationLocalList.version > 0)
    return sorted((await db.execute(stmt)).scalars())


async def users_of_local_lists(db: AsyncSession) -> list[str]:
    """Stations configured to use a local list, or holding one of ours."""
    found = set(await holders(db))
    for component, variable in LOCAL_LIST_SWITCHES:
        found.update(await stations.stations_where(db, component, variable, "true"))
    return sorted(found)
