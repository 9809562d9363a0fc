"""``/api/v1/stations``: what every station is and how it is doing."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query

from chargeops.core.access import Permission
from chargeops.core.errors import InvalidInput
from chargeops.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    before_id,
    decode_cursor,
    encode_cursor,
    newest_first,
)
from chargeops.stations import service
from chargeops.stations.schemas import StationEventOut, StationOut, VariableOut
from chargeops.storage.http import DbSession, requires

router = APIRouter(prefix="/stations", tags=["stations"])
_READ = [requires(Permission.STATIONS_READ)]
_DIAGNOSE = [requires(Permission.STATIONS_CONTROL)]  # staff who look after stations


@router.get("", response_model=Page[StationOut], summary="List stations, by id", dependencies=_READ)
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


@router.get("/{station_id}", response_model=StationOut, summary="One station", dependencies=_READ)
async def get_station(station_id: str, db: DbSession) -> StationOut:
    row, connectors = await service.get_station(db, station_id)
    return StationOut.of(row, connectors)


@router.get(
    "/{station_id}/events",
    response_model=Page[StationEventOut],
    summary="What the station reported, newest first (security events, NotifyEvent...)",
    dependencies=_DIAGNOSE,
)
async def list_events(
    station_id: str,
    db: DbSession,
    kind: Annotated[str | None, Query(description="e.g. SecurityEvent, NotifyEvent")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[StationEventOut]:
    rows = await service.list_events(
        db, station_id, kind=kind, before_id=before_id(cursor), limit=limit + 1
    )
    return newest_first(rows, limit, StationEventOut.of, lambda r: r.id)


@router.get(
    "/{station_id}/variables",
    response_model=Page[VariableOut],
    summary="The station's device model (OCPP 2.0.1 NotifyReport), by component and variable",
    dependencies=_DIAGNOSE,
)
async def list_variables(
    station_id: str,
    db: DbSession,
    component: Annotated[str | None, Query(description="e.g. EVSE, OCPPCommCtrlr")] = None,
    variable: Annotated[str | None, Query(description="e.g. AvailabilityState")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[VariableOut]:
    after = _variable_cursor(decode_cursor(cursor))
    rows = await service.list_variables(
        db, station_id, component=component, variable=variable, after=after, limit=limit + 1
    )
    items = [VariableOut.of(r) for r in rows[:limit]]
    more = len(rows) > limit
    last = service.variable_key(rows[limit - 1]) if more else None
    return Page(
        items=items, next_cursor=encode_cursor(orjson.dumps(last).decode()) if last else None
    )


def _variable_cursor(key: str | int | None) -> service.VariableKey | None:
    if key is None:
        return None
    try:
        c, ci, e, k, v, vi, a = orjson.loads(str(key))
        return (str(c), str(ci), int(e), int(k), str(v), str(vi), str(a))
    except (ValueError, TypeError):
        raise InvalidInput("invalid cursor: pass back next_cursor as it was given") from None
