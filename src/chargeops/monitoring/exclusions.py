"""Outage time the operator does not answer for under 23 CFR 680.116(b): declared
maintenance windows (ahead of time) and outages marked afterwards as caused by the grid,
a vehicle, vandalism, a natural disaster, or falling outside posted opening hours."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.errors import InvalidInput, NotFound
from chargeops.monitoring.models import OutageExclusion
from chargeops.stations.models import Site, Station
from chargeops.storage.writer import Work

CAUSES = {
    "maintenance": "scheduled maintenance",
    "utility": "electric utility service interruption",
    "vehicle": "a fault of the vehicle",
    "vandalism": "vandalism",
    "natural_disaster": "a natural disaster",
    "outside_hours": "outside the posted hours of operation",
}
NOTE_MAX = 2000


async def declare(
    work: Work,
    *,
    station_id: str | None,
    site_id: int | None,
    evse_id: int | None,
    starts_at: datetime,
    ends_at: datetime,
    cause: str,
    note: str | None,
    by: str,
    at: datetime,
) -> OutageExclusion:
    if (station_id is None) == (site_id is None):
        raise InvalidInput("name either a station or a site")
    if evse_id is not None and station_id is None:
        raise InvalidInput("a port (evse_id) belongs to a station: name the station")
    if evse_id is not None and evse_id < 1:
        raise InvalidInput("ports (evse_id) are numbered from 1; for the whole station give none")
    if ends_at <= starts_at:
        raise InvalidInput("the exclusion must end after it starts")
    if cause not in CAUSES:
        raise InvalidInput(f"cause must be one of: {', '.join(CAUSES)}")
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidInput(f"the note is longer than {NOTE_MAX} characters")
    if station_id is not None and await work.session.get(Station, station_id) is None:
        raise NotFound(f"station {station_id} is not registered")
    if site_id is not None and await work.session.get(Site, site_id) is None:
        raise NotFound(f"site {site_id} does not exist")
    row = OutageExclusion(
        station_id=station_id,
        site_id=site_id,
        evse_id=evse_id,
        starts_at=starts_at,
        ends_at=ends_at,
        cause=cause,
        note=note,
        created_by=by,
        created_at=at,
    )
    work.session.add(row)
    await work.session.flush()
    return row


async def withdraw(work: Work, exclusion_id: int) -> None:
    row = await work.session.get(OutageExclusion, exclusion_id)
    if row is None:
        raise NotFound(f"exclusion {exclusion_id} does not exist")
    await work.session.delete(row)


async def listed(
    db: AsyncSession,
    *,
    station_id: str | None = None,
    site_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[OutageExclusion]:
    """Newest first; a station's list includes its site's."""
    stmt = select(OutageExclusion).order_by(OutageExclusion.starts_at.desc()).limit(500)
    if station_id is not None:
        station = await db.get(Station, station_id)
        if station is None:
            raise NotFound(f"station {station_id} is not registered")
        where = OutageExclusion.station_id == station_id
        if station.site_id is not None:
            where = or_(where, OutageExclusion.site_id == station.site_id)
        stmt = stmt.where(where)
    if site_id is not None:
        stmt = stmt.where(OutageExclusion.site_id == site_id)
    if since is not None:
        stmt = stmt.where(OutageExclusion.ends_at > since)
    if until is not None:
        stmt = stmt.where(OutageExclusion.starts_at < until)
    return list((await db.scalars(stmt)).all())
