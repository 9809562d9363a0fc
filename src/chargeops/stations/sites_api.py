"""``/api/v1/sites``, and moving a station between sites (``PATCH /api/v1/stations/{id}``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from chargeops.core.access import Permission
from chargeops.core.errors import InvalidInput
from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, encode_cursor
from chargeops.stations import service, sites
from chargeops.stations.schemas import SiteChanges, SiteIn, SiteOut, StationChanges, StationOut
from chargeops.storage.http import DbSession, requires, writer_of
from chargeops.storage.writer import Work

router = APIRouter(tags=["sites"])
_READ = [requires(Permission.SITES_READ)]
_MANAGE = [requires(Permission.SITES_MANAGE)]


def _values(body: SiteChanges) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    if body.opening_hours is not None:
        values["opening_hours"] = body.opening_hours.model_dump()
    return values


@router.get("/sites", response_model=Page[SiteOut], summary="List sites, by id", dependencies=_READ)
async def list_sites(
    db: DbSession,
    q: Annotated[str | None, Query(description="part of the name, city or address")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[SiteOut]:
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, int):
        raise InvalidInput("invalid cursor: pass back next_cursor as it was given")
    found = await sites.list_sites(db, q=q, after=after, limit=limit + 1)
    items = [SiteOut.of(s.site, s.station_count) for s in found[:limit]]
    more = len(found) > limit
    return Page(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


@router.get(
    "/sites/{site_id}",
    response_model=SiteOut,
    summary="One site, with its stations",
    dependencies=_READ,
)
async def get_site(site_id: int, db: DbSession) -> SiteOut:
    site = await sites.require_site(db, site_id)
    station_ids = await sites.stations_at(db, site_id)
    return SiteOut.of(site, len(station_ids), station_ids)


@router.post(
    "/sites",
    response_model=SiteOut,
    status_code=201,
    summary="Create a site (409 if the name is taken)",
    dependencies=_MANAGE,
)
async def create_site(body: SiteIn, request: Request) -> SiteOut:
    values = _values(body)

    async def unit(w: Work) -> SiteOut:
        return SiteOut.of(await sites.create_site(w.session, values), 0, [])

    return await writer_of(request).submit(unit)


@router.patch(
    "/sites/{site_id}", response_model=SiteOut, summary="Change a site", dependencies=_MANAGE
)
async def update_site(site_id: int, body: SiteChanges, request: Request) -> SiteOut:
    values = _values(body)

    async def unit(w: Work) -> SiteOut:
        site = await sites.update_site(w.session, site_id, values)
        station_ids = await sites.stations_at(w.session, site_id)
        return SiteOut.of(site, len(station_ids), station_ids)

    return await writer_of(request).submit(unit)


@router.delete(
    "/sites/{site_id}",
    status_code=204,
    summary="Delete an empty site (409 while stations stand there: move them first)",
    dependencies=_MANAGE,
)
async def delete_site(site_id: int, request: Request) -> Response:
    async def unit(w: Work) -> None:
        await sites.delete_site(w.session, site_id)

    await writer_of(request).submit(unit)
    return Response(status_code=204)


@router.patch(
    "/stations/{station_id}",
    response_model=StationOut,
    summary="Move a station to another site (site_id null: to none)",
    dependencies=[requires(Permission.STATIONS_MANAGE)],
)
async def update_station(
    station_id: str, body: StationChanges, request: Request, db: DbSession
) -> StationOut:
    site_id = body.site_id

    async def unit(w: Work) -> None:
        await sites.move_station(w, station_id, site_id)

    await writer_of(request).submit(unit)
    row, connectors = await service.get_station(db, station_id)
    return StationOut.of(row, connectors)
