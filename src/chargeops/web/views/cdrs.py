"""``/cdrs``: charge detail records, what each session was charged, newest first.

Scoped exactly as the API scopes them (:func:`chargeops.billing.cdrs.visible`): staff
see every CDR, a fleet manager their organization's, a driver their own ("My charges");
a CDR outside that is not found. Times are shown where the session happened (the CDR's
time zone) and say so. Tariff managers cancel a CDR with a credit CDR and a reason, once.

The CSV comes from ``/cdrs.csv`` here rather than the API's ``/api/v1/cdrs.csv``: the
API takes a bearer token, and a browser signed in to the console holds cookies, so a
plain link to the API would be refused. Both export the same rows with the same filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.billing import cdrs
from chargeops.billing.models import Cdr
from chargeops.core.access import Permission, Principal, Scope
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.storage.http import DbSession
from chargeops.storage.writer import Work
from chargeops.web import queries
from chargeops.web.auth import Viewer
from chargeops.web.frame import NavEntry, console_router, page, render, sentence
from chargeops.web.views.common import field, form_of, notice, see_other, write
from chargeops.web.views.tariffs import LINE_WORDS, PERIOD_WORDS, seconds_words

router = console_router()
NAV = (NavEntry("CDRs", "/cdrs", Permission.CDRS_READ, own_label="My charges"),)
PAGE_SIZE = 25
Reader = Annotated[Viewer, page(Permission.CDRS_READ)]
Manager = Annotated[Viewer, page(Permission.TARIFFS_MANAGE)]
NOTICES = {"credited": "The credit CDR was issued: it cancels the original, which is kept."}
KINDS = {"": "All", "original": "Originals", "credit": "Credits"}


def title_for(principal: Principal) -> str:
    scope = principal.scope(Permission.CDRS_READ)
    if scope is Scope.OWN:
        return "My charges"
    if scope is Scope.ORGANIZATION:
        return "Your organization's charges"
    return "Charge detail records"


@dataclass(frozen=True, slots=True)
class Filters:
    """The list's filters as the form sent them; days are UTC days, both included."""

    station: str = ""
    since: str = ""
    until: str = ""
    kind: str = ""

    def window(self) -> tuple[datetime | None, datetime | None]:
        first = _day(self.since, "from")
        last = _day(self.until, "to")
        if first is not None and last is not None and last < first:
            raise InvalidInput("to: the last day is before the first")
        if self.kind not in KINDS:
            raise InvalidInput("kind: all, originals or credits")
        start = None if first is None else datetime.combine(first, time(0), tzinfo=UTC)
        if last is None:
            return start, None
        return start, datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)

    @property
    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.as_dict().items() if v}

    def as_dict(self) -> dict[str, str]:
        return {
            "station": self.station,
            "since": self.since,
            "until": self.until,
            "kind": self.kind,
        }

    @property
    def any(self) -> bool:
        return bool(self.query)


def _day(text: str, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


@router.get("/cdrs")
async def cdr_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    station: str = "",
    since: str = "",
    until: str = "",
    kind: str = "",
    before: int | None = None,
) -> Response:
    filters = Filters(station.strip(), since.strip(), until.strip(), kind.strip())
    principal = viewer.principal
    error = None
    rows: list[Cdr] = []
    try:
        start, end = filters.window()
        found = await cdrs.list_cdrs(
            db,
            principal,
            station_id=filters.station or None,
            since=start,
            until=end,
            kind=filters.kind or None,
            before_id=before,
            limit=PAGE_SIZE + 1,
        )
        rows = list(found)
    except InvalidInput as exc:
        error = sentence(exc.detail)
    shown = rows[:PAGE_SIZE]
    return render(
        request,
        "cdrs.html",
        title=title_for(principal),
        http_status=422 if error else 200,
        rows=shown,
        filters=filters,
        kinds=KINDS,
        error=error,
        paged=before is not None,
        next_before=shown[-1].id if len(rows) > PAGE_SIZE else None,
        csv_link="/cdrs.csv" + (f"?{urlencode(filters.query)}" if filters.any else ""),
        own=principal.scope(Permission.CDRS_READ) is Scope.OWN,
    )


@router.get("/cdrs.csv")
async def cdr_csv(
    request: Request,
    viewer: Reader,
    station: str = "",
    since: str = "",
    until: str = "",
    kind: str = "",
) -> Response:
    filters = Filters(station.strip(), since.strip(), until.strip(), kind.strip())
    start, end = filters.window()
    chunks = await cdrs.csv_export(
        request.app.state.sessions,
        viewer.principal,
        station_id=filters.station or None,
        since=start,
        until=end,
        kind=filters.kind or None,
    )
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cdrs.csv"'},
    )


# --- one CDR --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineView:
    what: str
    element: int
    price: str
    vat: str
    measured: str
    billed: str
    excl_vat: Decimal
    incl_vat: Decimal


@dataclass(frozen=True, slots=True)
class PeriodView:
    start: datetime
    end: datetime
    kind: str
    energy_wh: int
    duration: str
    cost_excl_vat: Decimal


def _quantity(kind: str, value: str) -> str:
    amount = Decimal(value)
    if kind == "ENERGY":
        return f"{(amount / 1000).normalize():f} kWh"
    if kind == "FLAT":
        return f"{amount.normalize():f} session"
    return seconds_words(amount)


def line_views(cdr: Cdr) -> list[LineView]:
    out = []
    for line in cdr.lines:
        kind = line["type"]
        out.append(
            LineView(
                what=LINE_WORDS.get(line["dimension"], line["dimension"]),
                element=int(line["element"]) + 1,
                price=line["price"],
                vat="no VAT" if line.get("vat") is None else f"{line['vat']} %",
                measured=_quantity(kind, line["quantity"]),
                billed=_quantity(kind, line["billed"]),
                excl_vat=Decimal(line["cost_excl_vat"]),
                incl_vat=Decimal(line["cost_incl_vat"]),
            )
        )
    return out


def period_views(cdr: Cdr) -> list[PeriodView]:
    return [
        PeriodView(
            start=datetime.fromisoformat(p["start"]),
            end=datetime.fromisoformat(p["end"]),
            kind=PERIOD_WORDS.get(p["kind"], p["kind"]),
            energy_wh=int(p["energy_wh"]),
            duration=seconds_words(Decimal(p["duration_s"])),
            cost_excl_vat=Decimal(p["cost_excl_vat"]),
        )
        for p in cdr.periods
    ]


@router.get("/cdrs/{cdr_id}")
async def cdr_page(
    cdr_id: int, request: Request, db: DbSession, viewer: Reader, done: str = ""
) -> Response:
    return await _cdr_page(request, db, viewer, cdr_id, notice=notice(done, NOTICES))


async def _cdr_page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    cdr_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    reason: str = "",
    http_status: int = 200,
) -> Response:
    principal = viewer.principal
    cdr = await cdrs.get_cdr(db, principal, cdr_id)
    credit = await queries.credit_of(db, cdr.id) if cdr.kind == cdrs.ORIGINAL else None
    return render(
        request,
        "cdr.html",
        title=f"CDR #{cdr.id}",
        list_title=title_for(principal),
        http_status=http_status,
        cdr=cdr,
        credit=credit,
        lines=line_views(cdr),
        periods=period_views(cdr),
        vat=cdr.total_incl_vat - cdr.total_excl_vat,
        summary=cdr.summary or {},
        see_sessions=principal.may(Permission.SESSIONS_READ),
        see_tariffs=principal.may(Permission.TARIFFS_READ),
        may_credit=principal.may(Permission.TARIFFS_MANAGE)
        and cdr.kind == cdrs.ORIGINAL
        and credit is None,
        notice=notice,
        error=error,
        reason=reason,
    )


@router.post("/cdrs/{cdr_id}/credit")
async def credit(cdr_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    reason = field(await form_of(request), "reason")
    await cdrs.get_cdr(db, viewer.principal, cdr_id)  # NotFound outside the viewer's scope

    async def unit(w: Work) -> int:
        return (await cdrs.credit_cdr(w, cdr_id, reason)).id

    try:
        credit_id = await write(request, unit)
    except (InvalidInput, Conflict, NotFound) as exc:
        return await _cdr_page(
            request,
            db,
            viewer,
            cdr_id,
            error=sentence(exc.detail),
            reason=reason,
            http_status=exc.status,
        )
    return see_other(f"/cdrs/{credit_id}?done=credited")
