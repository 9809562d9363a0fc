"""``/api/v1/tariffs``, prices and quotes at a station, ``/api/v1/cdrs`` and
``/api/v1/revenue``.

Everyone may read tariffs and prices (a driver must see the price before charging) and
preview what a draft tariff would charge; tariff managers (admin, operator) change them
and credit CDRs. CDRs, and the revenue they add up to, are scoped like sessions: staff
see all, a fleet manager their organization's, a driver their own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.billing import cdrs, rating, revenue, service
from chargeops.billing.models import Tariff, TariffVersion
from chargeops.billing.rating import RatedSession
from chargeops.billing.rating import quote as rate_quote
from chargeops.billing.rating import zone as time_zone
from chargeops.billing.schemas import (
    AssignmentIn,
    AssignmentOut,
    CdrDetail,
    CdrOut,
    ComponentOut,
    CreditIn,
    PreviewIn,
    PreviewOut,
    PriceOut,
    QuoteIn,
    QuoteOut,
    RevenueDayOut,
    RevenueOut,
    RevenueTotalOut,
    TariffChanges,
    TariffIn,
    TariffOut,
    TariffRef,
    TotalOut,
    VersionIn,
    VersionOut,
    money,
    unit_of,
)
from chargeops.billing.tariffs import DayOfWeek, describe_tariff, minor_unit
from chargeops.billing.tariffs import Tariff as TariffValue
from chargeops.core.access import Permission, Principal
from chargeops.core.clock import as_utc, utcnow
from chargeops.core.errors import Forbidden, InvalidInput, NotFound
from chargeops.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    before_id,
    decode_cursor,
    encode_cursor,
    newest_first,
)
from chargeops.stations.service import require_station
from chargeops.storage.http import DbSession, requires, writer_of
from chargeops.storage.writer import Work

router = APIRouter(tags=["billing"])
Reader = Annotated[Principal, requires(Permission.TARIFFS_READ)]
Manager = Annotated[Principal, requires(Permission.TARIFFS_MANAGE)]
CdrReader = Annotated[Principal, requires(Permission.CDRS_READ)]


async def _shown(db: AsyncSession, tariff: Tariff) -> TariffOut:
    count = await db.scalar(select(func.count()).where(TariffVersion.tariff_id == tariff.id))
    in_force = await service.version_in_force(db, tariff.id, utcnow())
    assignments = await service.list_assignments(db, tariff.id)
    return TariffOut.of(tariff, int(count or 0), in_force, list(assignments))


# --------------------------------------------------------------------------- tariffs


@router.get("/tariffs", response_model=Page[TariffOut], summary="List tariffs, by id")
async def list_tariffs(
    db: DbSession,
    principal: Reader,
    q: Annotated[str | None, Query(description="part of the name")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[TariffOut]:
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, int):
        raise InvalidInput("invalid cursor: pass back next_cursor as it was given")
    rows = await service.list_tariffs(db, q=q, after=after, limit=limit + 1)
    items = [await _shown(db, t) for t in rows[:limit]]
    more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


@router.post(
    "/tariffs",
    response_model=TariffOut,
    status_code=201,
    summary="Create a tariff, with its first version when a document is given "
    "(409 if the name is taken)",
)
async def create_tariff(body: TariffIn, request: Request, principal: Manager) -> TariffOut:
    async def unit(w: Work) -> TariffOut:
        tariff = await service.create_tariff(
            w.session,
            body.name,
            currency=body.currency,
            document=body.document,
            valid_from=as_utc(body.valid_from),
        )
        return await _shown(w.session, tariff)

    return await writer_of(request).submit(unit)


@router.get("/tariffs/{tariff_id}", response_model=TariffOut, summary="One tariff")
async def get_tariff(tariff_id: int, db: DbSession, principal: Reader) -> TariffOut:
    return await _shown(db, await service.require_tariff(db, tariff_id))


@router.patch("/tariffs/{tariff_id}", response_model=TariffOut, summary="Rename a tariff")
async def rename_tariff(
    tariff_id: int, body: TariffChanges, request: Request, principal: Manager
) -> TariffOut:
    async def unit(w: Work) -> TariffOut:
        return await _shown(w.session, await service.rename_tariff(w.session, tariff_id, body.name))

    return await writer_of(request).submit(unit)


@router.delete(
    "/tariffs/{tariff_id}",
    status_code=204,
    summary="Delete a tariff no CDR used (409 once one did: unassign it instead)",
)
async def delete_tariff(tariff_id: int, request: Request, principal: Manager) -> Response:
    async def unit(w: Work) -> None:
        await service.delete_tariff(w.session, tariff_id)

    await writer_of(request).submit(unit)
    return Response(status_code=204)


@router.get(
    "/tariffs/{tariff_id}/versions",
    response_model=list[VersionOut],
    summary="Every version of a tariff, oldest first",
)
async def list_versions(tariff_id: int, db: DbSession, principal: Reader) -> list[VersionOut]:
    return [VersionOut.of(v) for v in await service.list_versions(db, tariff_id)]


@router.post(
    "/tariffs/{tariff_id}/versions",
    response_model=VersionOut,
    status_code=201,
    summary="Add a version (an OCPI 2.2.1 Tariff), in force from valid_from (default now). "
    "Sessions already started keep the version in force at their start",
)
async def add_version(
    tariff_id: int, body: VersionIn, request: Request, principal: Manager
) -> VersionOut:
    async def unit(w: Work) -> VersionOut:
        version = await service.add_version(
            w.session, tariff_id, body.document, valid_from=as_utc(body.valid_from)
        )
        return VersionOut.of(version)

    return await writer_of(request).submit(unit)


@router.get(
    "/tariffs/{tariff_id}/assignments",
    response_model=list[AssignmentOut],
    summary="Where a tariff is assigned (include_removed: also where it was)",
)
async def list_assignments(
    tariff_id: int, db: DbSession, principal: Reader, include_removed: bool = False
) -> list[AssignmentOut]:
    rows = await service.list_assignments(db, tariff_id, include_removed=include_removed)
    return [AssignmentOut.of(a) for a in rows]


@router.post(
    "/tariffs/{tariff_id}/assignments",
    response_model=AssignmentOut,
    status_code=201,
    summary="Assign a tariff to a connector, station, site or the network, optionally for "
    "one organization or plan (409 if another tariff holds that place)",
)
async def assign_tariff(
    tariff_id: int, body: AssignmentIn, request: Request, principal: Manager
) -> AssignmentOut:
    target = service.check_target(body.model_dump())
    valid_from = as_utc(body.valid_from)

    async def unit(w: Work) -> AssignmentOut:
        row = await service.assign(w.session, tariff_id, target, valid_from=valid_from)
        return AssignmentOut.of(row)

    return await writer_of(request).submit(unit)


@router.delete(
    "/tariffs/{tariff_id}/assignments",
    status_code=204,
    summary="End an assignment now; the query names it as the assignment's body did",
)
async def unassign_tariff(
    tariff_id: int,
    request: Request,
    principal: Manager,
    scope: Literal["connector", "station", "site", "default"],
    site_id: int | None = None,
    station_id: str | None = None,
    evse_id: int | None = None,
    organization_id: int | None = None,
    plan: str | None = None,
) -> Response:
    target = service.check_target(
        {
            "scope": scope,
            "site_id": site_id,
            "station_id": station_id,
            "evse_id": evse_id,
            "organization_id": organization_id,
            "plan": plan,
        }
    )

    async def unit(w: Work) -> None:
        await service.unassign(w.session, tariff_id, target)

    await writer_of(request).submit(unit)
    return Response(status_code=204)


# --------------------------------------------------------------------------- prices


def _whose(principal: Principal, organization_id: int | None) -> int | None:
    """The organization whose price is asked for: the caller's own, or, for a tariff
    manager, any."""
    if organization_id is None or organization_id == principal.organization_id:
        return principal.organization_id
    if not principal.may(Permission.TARIFFS_MANAGE):
        raise Forbidden("only tariff managers see another organization's prices")
    return organization_id


def _tariff_ref(resolved: service.Resolved) -> TariffRef:
    return TariffRef(
        id=resolved.tariff.id,
        name=resolved.tariff.name,
        currency=resolved.tariff.currency,
        version=resolved.version.version,
        version_id=resolved.version.id,
        valid_from=resolved.version.valid_from,
    )


def _figure(value: Decimal, places: int) -> Decimal:
    """A figure as people write it: no trailing zeros beyond ``places`` decimals, and
    never in exponent form (0.2975, 7.14, 12.00 for places=2; 11 and 7.4 for 0)."""
    figure = value.normalize()
    exponent = figure.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -places:
        figure = figure.quantize(Decimal(1).scaleb(-places))
    return figure


def _components(value: TariffValue) -> list[ComponentOut]:
    out = []
    written = service.stored_document(value)["elements"]
    for index, element in enumerate(value.elements):
        restrictions = written[index].get("restrictions")
        for c in element.price_components:
            incl = c.price if c.vat is None else c.price * (1 + c.vat / 100)
            out.append(
                ComponentOut(
                    element=index,
                    type=c.type.value,
                    unit=unit_of(c.type),
                    price_excl_vat=c.price,
                    price_incl_vat=_figure(incl, minor_unit(value.currency)),
                    vat=c.vat,
                    step_size=c.step_size,
                    restrictions=restrictions,
                )
            )
    return out


async def _resolve(
    db: AsyncSession,
    station_id: str,
    evse_id: int | None,
    organization_id: int | None,
    at: datetime,
) -> service.Resolved:
    await require_station(db, station_id)
    resolved = await service.tariff_for(db, station_id, evse_id, organization_id, at)
    if resolved is None:
        where = f"EVSE {evse_id} of station {station_id}" if evse_id else f"station {station_id}"
        raise NotFound(f"no tariff applies at {where}")
    return resolved


@router.get(
    "/stations/{station_id}/price",
    response_model=PriceOut,
    summary="The price in force now at a station (or EVSE) for the caller: the tariff, "
    "in words and in figures incl. and excl. VAT",
)
async def price(
    station_id: str,
    db: DbSession,
    principal: Reader,
    evse_id: Annotated[int | None, Query(ge=1)] = None,
    organization_id: Annotated[
        int | None, Query(description="another organization's price (tariff managers)")
    ] = None,
) -> PriceOut:
    whose = _whose(principal, organization_id)
    now = utcnow()
    resolved = await _resolve(db, station_id, evse_id, whose, now)
    value = resolved.value
    return PriceOut(
        station_id=station_id,
        evse_id=evse_id,
        organization_id=whose,
        at=now,
        tariff=_tariff_ref(resolved),
        assigned=AssignmentOut.of(resolved.assignment),
        description=describe_tariff(value),
        description_excl_vat=describe_tariff(value, incl_vat=False),
        components=_components(value),
        min_price=money(value.min_price),
        max_price=money(value.max_price),
        document=resolved.version.document,
    )


@router.post(
    "/stations/{station_id}/quote",
    response_model=QuoteOut,
    summary="What charging this much energy would cost, starting now (or at start), at the "
    "EVSE's power: the same rating as a real session",
)
async def quote(station_id: str, body: QuoteIn, db: DbSession, principal: Reader) -> QuoteOut:
    whose = _whose(principal, body.organization_id)
    zone = await cdrs.time_zone_of(db, station_id)
    start = body.start or utcnow()
    # a start without an offset is wall-clock time at the site
    instant = start if start.tzinfo is not None else start.replace(tzinfo=time_zone(zone))
    resolved = await _resolve(db, station_id, body.evse_id, whose, instant.astimezone(UTC))
    if body.power_kw is not None:
        power_w, source = body.power_kw * 1000, "request"
    else:
        known = await service.evse_max_power_w(db, station_id, body.evse_id)
        power_w, source = (known, "station") if known else (service.DEFAULT_POWER_W, "default")
    energy_wh = int((body.energy_kwh * 1000).to_integral_value())
    rated = rate_quote(
        resolved.value,
        start=start,
        time_zone=zone,
        energy_wh=energy_wh,
        power_w=power_w,
        idle=timedelta(minutes=body.idle_minutes),
    )
    excl = rated.total.excl_vat
    incl = rated.total.incl_vat if rated.total.incl_vat is not None else excl
    return QuoteOut(
        station_id=station_id,
        evse_id=body.evse_id,
        organization_id=whose,
        tariff=_tariff_ref(resolved),
        time_zone=zone,
        start=rated.start,
        end=rated.end,
        energy_wh=rated.energy_wh,
        power_kw=_figure(power_w / 1000, 0),
        power_source=source,
        charging_s=rated.charging_s,
        parking_s=rated.parking_s,
        currency=rated.currency,
        total=TotalOut(excl_vat=excl, vat=incl - excl, incl_vat=incl),
        min_price_applied=rated.min_price_applied,
        max_price_applied=rated.max_price_applied,
        lines=cdrs.lines_json(rated),
        periods=cdrs.periods_json(rated, priced=True),
        dimensions=cdrs.summary_json(rated, priced=True)["dimensions"],
        description=describe_tariff(resolved.value),
    )


# --------------------------------------------------------------------------- previews


def preview_start(
    time_zone: str,
    now: datetime,
    *,
    start: datetime | None = None,
    weekday: DayOfWeek | None = None,
    at: time | None = None,
) -> datetime:
    """When a previewed session starts: ``start`` as given (without an offset it is
    wall-clock time in ``time_zone``), else the coming ``weekday`` (today if it is that
    day; no weekday: today) at the local time ``at``, else ``now``. The result is a
    naive wall-clock time in ``time_zone`` or an aware instant, as rating takes it."""
    if start is not None and (weekday is not None or at is not None):
        raise InvalidInput("start: give start, or weekday and time, not both")
    if start is not None:
        return start
    if weekday is not None and at is None:
        raise InvalidInput("time: a weekday needs a time of day (HH:MM)")
    if at is None:
        return now
    today = now.astimezone(rating.zone(time_zone)).date()
    ahead = 0 if weekday is None else (weekday.weekday - today.weekday()) % 7
    return datetime.combine(today + timedelta(days=ahead), at)


def rate_preview(
    value: TariffValue,
    *,
    start: datetime,
    time_zone: str,
    energy_kwh: Decimal,
    charging_minutes: int,
    idle_minutes: int = 0,
) -> RatedSession:
    """A made-up session priced by a tariff exactly as a real one would be: the energy
    charged evenly over the charging minutes (so power restrictions see the mean power),
    then the idle minutes connected but not charging."""
    energy_wh = int((energy_kwh * 1000).to_integral_value(rounding=ROUND_HALF_UP))
    if energy_wh < 0:
        raise InvalidInput("energy_kwh: must not be negative")
    if charging_minutes < 0 or idle_minutes < 0:
        raise InvalidInput("charging_minutes and idle_minutes: must not be negative")
    if energy_wh > 0 and charging_minutes == 0:
        raise InvalidInput(
            "charging_minutes: charging takes time; give at least 1 minute for "
            f"{_figure(energy_kwh, 0)} kWh"
        )
    return rate_quote(
        value,
        start=start,
        time_zone=time_zone,
        energy_wh=energy_wh,
        duration=timedelta(minutes=charging_minutes),
        idle=timedelta(minutes=idle_minutes),
    )


def mean_power_kw(energy_wh: int, charging_minutes: int) -> Decimal:
    """The mean charging power, in kW to the watt: what a preview's power restrictions
    see (the rating itself uses the exact value)."""
    if charging_minutes <= 0:
        return Decimal(0)
    power = Decimal(energy_wh * 60) / Decimal(charging_minutes * 1000)
    return _figure(power.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP), 0)


@router.post(
    "/tariffs/preview",
    response_model=PreviewOut,
    summary="What a session would cost by a draft tariff (an OCPI 2.2.1 document, saved or "
    "not): the same rating as a real session. 422 names what is wrong with the document",
)
async def preview_tariff(body: PreviewIn, principal: Reader) -> PreviewOut:
    value = service.read_document(body.document)
    start = preview_start(
        body.time_zone, utcnow(), start=body.start, weekday=body.weekday, at=body.time
    )
    rated = rate_preview(
        value,
        start=start,
        time_zone=body.time_zone,
        energy_kwh=body.energy_kwh,
        charging_minutes=body.charging_minutes,
        idle_minutes=body.idle_minutes,
    )
    excl = rated.total.excl_vat
    incl = rated.total.incl_vat if rated.total.incl_vat is not None else excl
    return PreviewOut(
        time_zone=body.time_zone,
        start=rated.start,
        end=rated.end,
        energy_wh=rated.energy_wh,
        power_kw=mean_power_kw(rated.energy_wh, body.charging_minutes),
        charging_s=rated.charging_s,
        parking_s=rated.parking_s,
        currency=rated.currency,
        total=TotalOut(excl_vat=excl, vat=incl - excl, incl_vat=incl),
        min_price_applied=rated.min_price_applied,
        max_price_applied=rated.max_price_applied,
        lines=cdrs.lines_json(rated),
        periods=cdrs.periods_json(rated, priced=True),
        dimensions=cdrs.summary_json(rated, priced=True)["dimensions"],
        description=describe_tariff(value),
    )


# --------------------------------------------------------------------------- CDRs


def _window(since: datetime | None, until: datetime | None) -> tuple[datetime | None, ...]:
    since, until = as_utc(since), as_utc(until)
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until must be later than since")
    return since, until


_Since = Annotated[datetime | None, Query(description="ended at or after (ISO 8601)")]
_Until = Annotated[datetime | None, Query(description="ended before (ISO 8601)")]
_Kind = Annotated[Literal["original", "credit"] | None, Query()]


@router.get("/cdrs", response_model=Page[CdrOut], summary="List CDRs, newest first")
async def list_cdrs(
    db: DbSession,
    principal: CdrReader,
    station_id: str | None = None,
    since: _Since = None,
    until: _Until = None,
    kind: _Kind = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[CdrOut]:
    start, end = _window(since, until)
    rows = await cdrs.list_cdrs(
        db,
        principal,
        station_id=station_id,
        since=start,
        until=end,
        kind=kind,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return newest_first(rows, limit, CdrOut.of, lambda r: r.id)


@router.get(
    "/cdrs.csv",
    summary="The CDRs the list would show, as CSV (one row per CDR, newest first)",
    response_class=StreamingResponse,
)
async def export_cdrs(
    request: Request,
    principal: CdrReader,
    station_id: str | None = None,
    since: _Since = None,
    until: _Until = None,
    kind: _Kind = None,
) -> StreamingResponse:
    start, end = _window(since, until)
    chunks = await cdrs.csv_export(
        request.app.state.sessions,
        principal,
        station_id=station_id,
        since=start,
        until=end,
        kind=kind,
    )
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cdrs.csv"'},
    )


@router.get("/cdrs/{cdr_id}", response_model=CdrDetail, summary="One CDR, with its rating")
async def get_cdr(cdr_id: int, db: DbSession, principal: CdrReader) -> CdrDetail:
    return CdrDetail.of(await cdrs.get_cdr(db, principal, cdr_id))


@router.post(
    "/cdrs/{cdr_id}/credit",
    response_model=CdrDetail,
    status_code=201,
    summary="Cancel a CDR with a credit CDR (every amount negated); the original stays "
    "as it was. 409 if it was credited already",
)
async def credit_cdr(
    cdr_id: int, body: CreditIn, request: Request, principal: Manager
) -> CdrDetail:
    async def unit(w: Work) -> CdrDetail:
        return CdrDetail.of(await cdrs.credit_cdr(w, cdr_id, body.reason))

    return await writer_of(request).submit(unit)


# --------------------------------------------------------------------------- revenue


@router.get(
    "/revenue/daily",
    response_model=RevenueOut,
    summary="Revenue per local day and currency over the CDRs the caller sees (a fleet "
    "manager: their organization's spend): excl. VAT, VAT, incl. VAT, net of credits, "
    "with sessions and energy",
)
async def daily_revenue(
    db: DbSession,
    principal: CdrReader,
    since: Annotated[
        date | None, Query(description="first day, included (default: 29 days before until)")
    ] = None,
    until: Annotated[date | None, Query(description="last day, included (default: today)")] = None,
    time_zone: Annotated[
        str, Query(description="IANA zone whose days are counted (default UTC)")
    ] = "UTC",
) -> RevenueOut:
    first, last = revenue.default_range(time_zone, utcnow())
    if until is not None:
        last = until
        if since is None:
            first = until - timedelta(days=29)
    if since is not None:
        first = since
    rows = await revenue.daily_revenue(db, principal, first, last, time_zone)
    return RevenueOut(
        since=first,
        until=last,
        time_zone=time_zone,
        days=[RevenueDayOut.of(r) for r in rows],
        totals=[RevenueTotalOut.of(t) for t in revenue.totals(rows)],
    )
