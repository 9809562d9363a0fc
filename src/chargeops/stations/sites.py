"""Sites: where stations stand, with the address, position, time zone and opening hours
drivers and reports need. Every write runs in a group-commit unit (the caller's
``Work``); a bad value raises InvalidInput before anything changes."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.core.events import StationMoved
from chargeops.stations.models import Site, Station
from chargeops.storage import search
from chargeops.storage.writer import Work

# what a site has besides its name; every one of them may be changed later
FIELDS = (
    "name",
    "address",
    "city",
    "postal_code",
    "country",
    "latitude",
    "longitude",
    "time_zone",
    "opening_hours",
)
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, slots=True)
class SiteSummary:
    site: Site
    station_count: int


def _text(value: Any, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{field} is at most {limit} characters")
    return value or None


def _coordinate(value: Any, field: str, bound: int) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"{field} must be a number of degrees") from None
    if not number.is_finite() or not -bound <= number <= bound:
        raise InvalidInput(f"{field} must be between -{bound} and {bound} degrees")
    return number


def _time_zone(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("time_zone must be an IANA time zone, e.g. Europe/Berlin")
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {value!r}: use an IANA name, e.g. Europe/Berlin"
        ) from None
    return value.strip()


def _opening_hours(value: Any) -> dict[str, Any] | None:
    """OCPI's Hours: open all the time, or regular hours per ISO weekday (1 Monday)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput("opening_hours must be an object")
    unknown = set(value) - {"twentyfourseven", "regular_hours"}
    if unknown:
        raise InvalidInput(f"opening_hours: unknown field {', '.join(sorted(unknown))}")
    always = value.get("twentyfourseven", False)
    if not isinstance(always, bool):
        raise InvalidInput("opening_hours.twentyfourseven must be true or false")
    periods = value.get("regular_hours") or []
    if always and periods:
        raise InvalidInput("opening_hours: open twentyfourseven has no regular_hours")
    if not always and not periods:
        raise InvalidInput("opening_hours: give twentyfourseven true, or regular_hours")
    hours = []
    for period in periods:
        if not isinstance(period, Mapping):
            raise InvalidInput("opening_hours.regular_hours holds {weekday, begin, end}")
        weekday, begin, end = period.get("weekday"), period.get("begin"), period.get("end")
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 1 <= weekday <= 7:
            raise InvalidInput("opening_hours: weekday is 1 (Monday) to 7 (Sunday)")
        if not (isinstance(begin, str) and _HHMM.match(begin)) or not (
            isinstance(end, str) and _HHMM.match(end)
        ):
            raise InvalidInput("opening_hours: begin and end are HH:MM, e.g. 07:00 and 22:30")
        if begin == end:
            raise InvalidInput(f"opening_hours: {begin} to {end} is no time at all")
        # end before begin is allowed: open over midnight (22:00 to 06:00)
        hours.append({"weekday": weekday, "begin": begin, "end": end})
    if always:
        return {"twentyfourseven": True}
    hours.sort(key=lambda p: (p["weekday"], p["begin"]))
    return {"twentyfourseven": False, "regular_hours": hours}


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """The given fields, checked and normalized; InvalidInput names the first bad one."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"unknown site field {', '.join(sorted(unknown))}")
    clean: dict[str, Any] = {}
    for field, value in values.items():
        if field == "name":
            name = _text(value, "name", 200)
            if name is None:
                raise InvalidInput("a site needs a name")
            clean[field] = name
        elif field == "address":
            clean[field] = _text(value, field, 255)
        elif field == "city":
            clean[field] = _text(value, field, 100)
        elif field == "postal_code":
            clean[field] = _text(value, field, 20)
        elif field == "country":
            country = _text(value, "country", 2)
            if country is not None and not _COUNTRY.match(country.upper()):
                raise InvalidInput("country is an ISO 3166-1 alpha-2 code, e.g. DE")
            clean[field] = country.upper() if country else None
        elif field == "latitude":
            clean[field] = _coordinate(value, field, 90)
        elif field == "longitude":
            clean[field] = _coordinate(value, field, 180)
        elif field == "time_zone":
            clean[field] = _time_zone(value)
        else:
            clean[field] = _opening_hours(value)
    return clean


async def _name_taken(db: AsyncSession, name: str, *, other_than: int | None = None) -> bool:
    stmt = select(Site.id).where(func.lower(Site.name) == name.lower())
    if other_than is not None:
        stmt = stmt.where(Site.id != other_than)
    return (await db.scalar(stmt)) is not None


async def create_site(db: AsyncSession, values: Mapping[str, Any]) -> Site:
    """A new site; Conflict if another has the name (names ignore case)."""
    clean = _clean({"time_zone": "UTC", **values})
    if "name" not in clean:
        raise InvalidInput("a site needs a name")
    if (clean.get("latitude") is None) != (clean.get("longitude") is None):
        raise InvalidInput("give both latitude and longitude, or neither")
    if await _name_taken(db, clean["name"]):
        raise Conflict(f"a site named {clean['name']!r} already exists")
    now = utcnow()
    site = Site(**clean, created_at=now, updated_at=now)
    db.add(site)
    await db.flush()
    return site


async def update_site(db: AsyncSession, site_id: int, changes: Mapping[str, Any]) -> Site:
    site = await require_site(db, site_id)
    clean = _clean(changes)
    if "time_zone" in changes and changes["time_zone"] is None:
        raise InvalidInput("time_zone cannot be removed; UTC is a time zone too")
    if "name" in clean and await _name_taken(db, clean["name"], other_than=site_id):
        raise Conflict(f"a site named {clean['name']!r} already exists")
    for field, value in clean.items():
        setattr(site, field, value)
    site.updated_at = utcnow()
    await db.flush()
    return site


async def delete_site(db: AsyncSession, site_id: int) -> None:
    """Remove an empty site; Conflict while stations still belong to it."""
    site = await require_site(db, site_id)
    count = await db.scalar(select(func.count()).where(Station.site_id == site_id))
    if count:
        raise Conflict(
            f"site {site.name!r} still has {count} station(s): move them to another site first"
        )
    try:
        async with db.begin_nested():  # a refusal rolls back only this
            await db.delete(site)
            await db.flush()
    except IntegrityError:
        raise Conflict(
            f"site {site.name!r} is still in use (tokens kept to it, tariffs assigned to "
            "it): change those first"
        ) from None


async def require_site(db: AsyncSession, site_id: int) -> Site:
    site = await db.get(Site, site_id)
    if site is None:
        raise NotFound(f"no site {site_id}")
    return site


async def move_station(work: Work, station_id: str, site_id: int | None) -> Station:
    """Put a station at a site (or at none). Its sessions keep where they happened: only
    what comes next is counted at the new site. Subscribers hear of it (a local list
    made for the old site is sent again)."""
    db = work.session
    station = await db.get(Station, station_id)
    if station is None:
        raise NotFound(f"no station {station_id!r}")
    if site_id is not None:
        await require_site(db, site_id)
    moved = station.site_id != site_id
    station.site_id = site_id
    await db.flush()
    if moved:
        work.emit(StationMoved(station_id, utcnow(), site_id))
    return station


async def list_sites(
    db: AsyncSession, *, q: str | None = None, after: int | None = None, limit: int = 50
) -> Sequence[SiteSummary]:
    counts = (
        select(Station.site_id, func.count().label("n"))
        .where(Station.site_id.is_not(None))
        .group_by(Station.site_id)
        .subquery()
    )
    stmt = (
        select(Site, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.site_id == Site.id)
        .order_by(Site.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(Site.id > after)
    if q:
        like = search.contains(q)
        stmt = stmt.where(
            Site.name.ilike(like, escape=search.ESCAPE)
            | func.coalesce(Site.city, "").ilike(like, escape=search.ESCAPE)
            | func.coalesce(Site.address, "").ilike(like, escape=search.ESCAPE)
        )
    return [SiteSummary(site, int(n)) for site, n in (await db.execute(stmt)).all()]


async def stations_at(db: AsyncSession, site_id: int) -> list[str]:
    stmt = select(Station.id).where(Station.site_id == site_id).order_by(Station.id)
    return list((await db.execute(stmt)).scalars())


async def site_of_station(db: AsyncSession, station_id: str) -> int | None:
    return await db.scalar(select(Station.site_id).where(Station.id == station_id))
