"""``/api/v1/stations``: what every station is and how it is doing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, encode_cursor
from chargeops.stations import service
from chargeops.stations.schemas import StationOut
from chargeops.storage.http import DbSession

router = APIRouter(prefix="/stations", tags=["stations"])


@router.get("", response_model=Page[StationOut], summary="List stations, by id")
async def list_stations(
    db: DbSession,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[StationOut]:
    after = decode_cursor(cursor)
    rows, connectors = await service.list_stations(
        db, after=None if after is None else str(after), limit=limit + 1
    )
    items = [StationOut.of(r, connectors.get(r.id, [])) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


@router.get("/{station_id}", response_model=StationOut, summary="One station")
async def get_station(station_id: str, db: DbSession) -> StationOut:
    row, connectors = await service.get_station(db, station_id)
    return StationOut.of(row, connectors)
