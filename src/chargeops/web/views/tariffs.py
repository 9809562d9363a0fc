"""``/tariffs``: price lists, their versions and where they apply, and the editor that
makes them.

Everyone who may read prices sees the tariffs (a driver reads the price before
charging); those with tariffs:manage create tariffs, add versions (a price change is a
new version, never an edit: sessions keep the version in force when they started) and
assign them. The editor is a structured form for the common cases with an OCPI JSON
mode for the rest (:mod:`chargeops.web.tariff_editor`), and previews what a session
would cost by the draft, saved or not, through the same rating a real session gets.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from chargeops.billing import cdrs, service
from chargeops.billing.api import mean_power_kw, preview_start, rate_preview
from chargeops.billing.models import Tariff, TariffAssignment, TariffVersion
from chargeops.billing.rating import CostDimension, PeriodKind, RatedSession, zone
from chargeops.billing.tariffs import (
    DayOfWeek,
    DimensionType,
    Restrictions,
    describe_tariff,
    minor_unit,
)
from chargeops.billing.tariffs import Tariff as TariffValue
from chargeops.core.access import Permission
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.stations import sites
from chargeops.storage.http import DbSession
from chargeops.storage.writer import Work
from chargeops.users import accounts
from chargeops.web import queries
from chargeops.web.auth import Viewer
from chargeops.web.formatting import span
from chargeops.web.frame import (
    NavEntry,
    console_router,
    page,
    render,
    render_fragment,
    sentence,
)
from chargeops.web.tariff_editor import (
    DAYS,
    ENERGY_STEPS,
    PRICES,
    TIME_STEPS,
    Draft,
    ElementRow,
    in_form_words,
)
from chargeops.web.views.common import field as form_field
from chargeops.web.views.common import form_of, form_time, notice, optional_id, see_other, write
from chargeops.web.views.sites import time_zones

router = console_router()
NAV = (NavEntry("Tariffs", "/tariffs", Permission.TARIFFS_READ),)
PAGE_SIZE = 50
Reader = Annotated[Viewer, page(Permission.TARIFFS_READ)]
Manager = Annotated[Viewer, page(Permission.TARIFFS_MANAGE)]
Refusal = (InvalidInput, Conflict, NotFound)
NOTICES = {
    "created": "The tariff was created. Assign it below to put it in force somewhere.",
    "version": "The new version was saved.",
    "assigned": "The tariff was assigned.",
    "unassigned": "The assignment was ended; sessions it priced keep their price.",
}
SCOPES = (
    ("default", "The whole network"),
    ("site", "A site"),
    ("station", "A station"),
    ("connector", "One EVSE of a station"),
)
DAY_NAMES = {d.value: d.value.capitalize() for d in DayOfWeek}
KIND_WORDS = {
    DimensionType.ENERGY: "Energy",
    DimensionType.TIME: "Charging time",
    DimensionType.PARKING_TIME: "Parking time",
    DimensionType.FLAT: "Session fee",
}
UNIT_WORDS = {
    DimensionType.ENERGY: "per kWh",
    DimensionType.TIME: "per hour",
    DimensionType.PARKING_TIME: "per hour",
    DimensionType.FLAT: "per session",
}
LINE_WORDS = {
    CostDimension.ENERGY: "Energy",
    CostDimension.TIME: "Charging time",
    CostDimension.PARKING_TIME: "Parking time",
    CostDimension.FLAT: "Session fee",
    CostDimension.RESERVATION: "Reservation",
}
PERIOD_WORDS = {
    PeriodKind.CHARGING: "Charging",
    PeriodKind.IDLE: "Parked, not charging",
    PeriodKind.RESERVATION: "Reserved",
}
INSTANT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> shows


# --- how a tariff reads ---------------------------------------------------------------------


def figure(value: Decimal, places: int) -> str:
    """A price as people write it: at least the currency's decimals, more where the
    price has them (0.3570 is 0.357, 0.30 stays 0.30)."""
    shown = value.normalize()
    exponent = shown.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -places:
        shown = shown.quantize(Decimal(1).scaleb(-places))
    return f"{shown:f}"


def conditions(r: Restrictions | None) -> str:
    """When an element applies, briefly (the tariff in words says it in full)."""
    if r is None:
        return "always"
    words: list[str] = []
    if r.start_time is not None or r.end_time is not None:
        start = r.start_time.strftime("%H:%M") if r.start_time else "00:00"
        end = r.end_time.strftime("%H:%M") if r.end_time else "24:00"
        words.append(f"{start}\u2013{end}")
    if r.day_of_week:
        words.append(", ".join(DAY_NAMES[d.value][:3] for d in r.day_of_week))
    if r.start_date is not None:
        words.append(f"from {r.start_date.isoformat()}")
    if r.end_date is not None:
        words.append(f"before {r.end_date.isoformat()}")
    if r.min_duration:
        words.append(f"after {_duration_words(r.min_duration)}")
    if r.max_duration is not None:
        words.append(f"for the first {_duration_words(r.max_duration)}")
    for low, high, unit in (
        (r.min_kwh, r.max_kwh, "kWh charged"),
        (r.min_power, r.max_power, "kW"),
        (r.min_current, r.max_current, "A"),
    ):
        if low:
            words.append(f"from {low.normalize():f} {unit}")
        if high is not None:
            words.append(f"below {high.normalize():f} {unit}")
    if r.reservation is not None:
        words.append(f"reservations ({r.reservation.value.lower().replace('_', ' ')})")
    return ", ".join(words) or "always"


def _duration_words(seconds: int) -> str:
    if seconds % 60:
        return f"{seconds} s"
    return f"{seconds // 60} min"


def _step_words(kind: DimensionType, step: int) -> str:
    if kind == DimensionType.FLAT or step <= 1:
        return "exactly"
    if kind == DimensionType.ENERGY:
        return f"per started {Decimal(step) / 1000:f} kWh"
    return f"per started {_duration_words(step)}"


@dataclass(frozen=True, slots=True)
class ComponentRow:
    element: int  # 1-based, as the page numbers them
    kind: str
    unit: str
    excl_vat: str
    vat: str  # "19 %", or "no VAT"
    incl_vat: str
    step: str
    when: str


def component_rows(value: TariffValue) -> list[ComponentRow]:
    places = minor_unit(value.currency)
    rows = []
    for index, element in enumerate(value.elements, start=1):
        when = conditions(element.restrictions)
        for c in element.price_components:
            incl = c.price if c.vat is None else c.price * (1 + c.vat / 100)
            rows.append(
                ComponentRow(
                    element=index,
                    kind=KIND_WORDS[c.type],
                    unit=UNIT_WORDS[c.type],
                    excl_vat=figure(c.price, places),
                    vat="no VAT" if c.vat is None else f"{c.vat.normalize():f} %",
                    incl_vat=figure(incl, places),
                    step=_step_words(c.type, c.step_size),
                    when=when,
                )
            )
    return rows


@dataclass(frozen=True, slots=True)
class VersionView:
    row: TariffVersion
    value: TariffValue
    state: str  # in force, upcoming, replaced
    words: str
    words_excl: str
    document: str  # pretty JSON

    @classmethod
    def of(cls, row: TariffVersion, in_force_id: int | None, now: datetime) -> VersionView:
        value = service.tariff_value(row)
        if row.id == in_force_id:
            state = "in force"
        elif row.valid_from > now:
            state = "upcoming"
        else:
            state = "replaced"
        return cls(
            row,
            value,
            state,
            describe_tariff(value),
            describe_tariff(value, incl_vat=False),
            json.dumps(row.document, indent=2, ensure_ascii=False),
        )


@dataclass(frozen=True, slots=True)
class Placement:
    """An assignment as a page shows it: the place with a link, and the audience."""

    assignment: TariffAssignment
    place: str
    href: str | None
    audience: str

    @property
    def text(self) -> str:
        return self.place + (f" ({self.audience})" if self.audience else "")


async def placements(db: AsyncSession, rows: Sequence[TariffAssignment]) -> list[Placement]:
    site_names = await queries.site_names(db, [r.site_id for r in rows])
    org_names = await queries.organization_names(db, [r.organization_id for r in rows])
    out = []
    for r in rows:
        href: str | None = None
        if r.scope == "connector":
            place, href = f"EVSE {r.evse_id} of station {r.station_id}", f"/stations/{r.station_id}"
        elif r.scope == "station":
            place, href = f"Station {r.station_id}", f"/stations/{r.station_id}"
        elif r.scope == "site":
            name = site_names.get(r.site_id or 0, f"#{r.site_id}")
            place, href = f"Site {name}", f"/sites/{r.site_id}"
        else:
            place = "The whole network"
        audience = []
        if r.organization_id is not None:
            audience.append(f"for {org_names.get(r.organization_id, f'#{r.organization_id}')}")
        if r.plan is not None:
            audience.append(f"on plan {r.plan}")
        out.append(Placement(r, place, href, " ".join(audience)))
    return out


# --- the list -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TariffRow:
    tariff: Tariff
    versions: int
    in_force: VersionView | None
    placements: list[Placement]


@router.get("/tariffs")
async def tariff_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    q: str = "",
    after: int | None = None,
) -> Response:
    q = q.strip()
    found = await service.list_tariffs(db, q=q or None, after=after, limit=PAGE_SIZE + 1)
    shown = found[:PAGE_SIZE]
    now = utcnow()
    rows = []
    for tariff in shown:
        versions = await service.list_versions(db, tariff.id)
        current = await service.version_in_force(db, tariff.id, now)
        rows.append(
            TariffRow(
                tariff,
                len(versions),
                VersionView.of(current, current.id, now) if current else None,
                await placements(db, await service.list_assignments(db, tariff.id)),
            )
        )
    return render(
        request,
        "tariffs.html",
        title="Tariffs",
        rows=rows,
        q=q,
        paged=after is not None,
        next_after=shown[-1].id if len(found) > PAGE_SIZE else None,
        may_manage=viewer.principal.may(Permission.TARIFFS_MANAGE),
    )


# --- a new tariff (routed before /tariffs/{tariff_id}, which would take "new" for an id) --


@router.get("/tariffs/new")
async def new_tariff(request: Request, viewer: Manager) -> Response:
    editor = Editor()
    editor.preview.date = utcnow().date().isoformat()
    return _editor_page(request, editor, tariff=None, currency=editor.currency)


@router.post("/tariffs/new")
async def new_tariff_posted(request: Request, viewer: Manager) -> Response:
    editor = Editor.posted(await form_of(request))
    return await _editor_action(request, editor, tariff=None)


# --- one tariff -----------------------------------------------------------------------------


@dataclass(slots=True)
class AssignmentForm:
    scope: str = "site"
    site: str = ""
    station: str = ""
    evse: str = ""
    organization: str = ""
    plan: str = ""
    valid_from: str = ""

    @classmethod
    def posted(cls, form: FormData) -> AssignmentForm:
        return cls(
            form_field(form, "scope"),
            form_field(form, "site"),
            form_field(form, "station"),
            form_field(form, "evse"),
            form_field(form, "organization"),
            form_field(form, "plan"),
            form_field(form, "valid_from"),
        )

    def target(self) -> service.Target:
        """What the billing service is given: only the fields the scope takes."""
        values: dict[str, Any] = {
            "scope": self.scope,
            "organization_id": optional_id(self.organization, "an organization"),
            "plan": self.plan or None,
        }
        if self.scope == "site":
            if not self.site:
                raise InvalidInput("site: choose the site the tariff applies at")
            values["site_id"] = optional_id(self.site, "a site")
        if self.scope in ("station", "connector"):
            if not self.station:
                raise InvalidInput("station: give the station's id")
            values["station_id"] = self.station
        if self.scope == "connector":
            if not self.evse.isdigit():
                raise InvalidInput("EVSE: give the EVSE's number, 1 or more")
            values["evse_id"] = int(self.evse)
        return service.check_target(values)


@router.get("/tariffs/{tariff_id}")
async def tariff_page(
    tariff_id: int, request: Request, db: DbSession, viewer: Reader, done: str = ""
) -> Response:
    return await _tariff_page(request, db, viewer, tariff_id, notice=notice(done, NOTICES))


async def _tariff_page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    tariff_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    form: AssignmentForm | None = None,
    http_status: int = 200,
) -> Response:
    tariff = await service.require_tariff(db, tariff_id)
    now = utcnow()
    current = await service.version_in_force(db, tariff_id, now)
    versions = [
        VersionView.of(v, current.id if current else None, now)
        for v in await service.list_versions(db, tariff_id)
    ]
    in_force = next((v for v in versions if v.state == "in force"), None)
    every = await service.list_assignments(db, tariff_id, include_removed=True)
    placed = await placements(db, every)
    manages = viewer.principal.may(Permission.TARIFFS_MANAGE)
    context: dict[str, Any] = {}
    if manages:
        context = {
            "sites": [s.site for s in await sites.list_sites(db, limit=500)],
            "stations": await queries.station_ids(db),
            "organizations": sorted(
                await accounts.list_organizations(db, limit=1000), key=lambda o: o.name.lower()
            ),
            "scopes": SCOPES,
            "form": form or AssignmentForm(),
        }
    return render(
        request,
        "tariff.html",
        title=tariff.name,
        http_status=http_status,
        tariff=tariff,
        versions=list(reversed(versions)),
        in_force=in_force,
        components=component_rows(in_force.value) if in_force else [],
        upcoming=[v for v in versions if v.state == "upcoming"],
        current=[p for p in placed if p.assignment.removed_at is None],
        ended=[p for p in placed if p.assignment.removed_at is not None],
        places=minor_unit(tariff.currency),
        may_manage=manages,
        notice=notice,
        error=error,
        **context,
    )


@router.post("/tariffs/{tariff_id}/assignments")
async def assign(tariff_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    form = AssignmentForm.posted(await form_of(request))
    try:
        target = form.target()
        valid_from = form_time(form.valid_from, "from")

        async def unit(w: Work) -> None:
            await service.assign(w.session, tariff_id, target, valid_from=valid_from)

        await write(request, unit)
    except Refusal as exc:
        return await _tariff_page(
            request,
            db,
            viewer,
            tariff_id,
            error=sentence(exc.detail),
            form=form,
            http_status=exc.status,
        )
    return see_other(f"/tariffs/{tariff_id}?done=assigned#assignments")


@router.post("/tariffs/{tariff_id}/assignments/remove")
async def unassign(tariff_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    chosen = optional_id(form_field(await form_of(request), "assignment"), "an assignment")
    rows = await service.list_assignments(db, tariff_id)
    row = next((r for r in rows if r.id == chosen), None)
    if row is None:
        return await _tariff_page(
            request,
            db,
            viewer,
            tariff_id,
            error="That assignment has ended already: the page now shows where the tariff applies.",
            http_status=409,
        )
    target = service.Target(
        row.scope, row.site_id, row.station_id, row.evse_id, row.organization_id, row.plan
    )

    async def unit(w: Work) -> None:
        await service.unassign(w.session, tariff_id, target)

    try:
        await write(request, unit)
    except Refusal as exc:
        return await _tariff_page(
            request, db, viewer, tariff_id, error=sentence(exc.detail), http_status=exc.status
        )
    return see_other(f"/tariffs/{tariff_id}?done=unassigned#assignments")


# --- the editor -----------------------------------------------------------------------------


@dataclass(slots=True)
class PreviewForm:
    """The session the editor prices: "45 minutes, 22 kWh, at 18:00 on a Saturday"."""

    day: str = ""  # "": the date below; else a weekday (the coming one)
    date: str = ""
    time: str = "18:00"
    minutes: str = "45"
    kwh: str = "22"
    idle: str = "0"
    zone: str = "UTC"

    @classmethod
    def posted(cls, form: FormData) -> PreviewForm:
        return cls(
            form_field(form, "p_day"),
            form_field(form, "p_date"),
            form_field(form, "p_time")[:5],
            form_field(form, "p_minutes"),
            form_field(form, "p_kwh"),
            form_field(form, "p_idle") or "0",
            form_field(form, "p_zone") or "UTC",
        )

    def start(self, now: datetime) -> datetime:
        zone(self.zone)  # "unknown time zone" before anything else about the time
        try:
            at = time.fromisoformat(self.time)
        except ValueError:
            raise InvalidInput(f"time: {self.time!r} is not a time of day (HH:MM)") from None
        if self.day:
            if self.day not in DAY_NAMES:
                raise InvalidInput("day: choose a day of the week, or the date")
            return preview_start(self.zone, now, weekday=DayOfWeek(self.day), at=at)
        if not self.date:
            return preview_start(self.zone, now, at=at)
        try:
            day = date.fromisoformat(self.date)
        except ValueError:
            raise InvalidInput(f"date: {self.date!r} is not a date (YYYY-MM-DD)") from None
        return preview_start(self.zone, now, start=datetime.combine(day, at))

    def numbers(self) -> tuple[int, Decimal, int]:
        """Charging minutes, kWh and idle minutes, or InvalidInput naming the field."""
        try:
            kwh = Decimal(self.kwh.replace(",", "."))
        except InvalidOperation:
            raise InvalidInput(f"kWh: {self.kwh!r} is not a number") from None
        if not kwh.is_finite() or kwh < 0 or kwh > 1000:
            raise InvalidInput("kWh: a number from 0 to 1000")
        counts = []
        for text, what in ((self.minutes, "charging minutes"), (self.idle, "idle minutes")):
            if not text.isdigit() or int(text) > 10080:
                raise InvalidInput(f"{what}: a whole number of minutes, at most a week (10080)")
            counts.append(int(text))
        return counts[0], kwh, counts[1]


@dataclass(frozen=True, slots=True)
class PreviewView:
    """A previewed session and what it costs, as the editor shows it."""

    rated: RatedSession
    minutes: int
    kwh: Decimal
    idle: int
    power_kw: Decimal
    zone: str
    rows: list[int]  # the form's row number of each document element

    @property
    def start_local(self) -> datetime:
        return self.rated.start.astimezone(zone(self.zone))

    @property
    def start_text(self) -> str:
        """``Saturday 2025-06-07 18:00 CEST``: the wall-clock start, with its day."""
        return self.start_local.strftime("%A %Y-%m-%d %H:%M %Z")

    @property
    def kwh_text(self) -> str:
        return f"{self.kwh.normalize():f}"

    def local(self, instant: datetime) -> str:
        """A period's bound as a local clock time (with the date when not the start's)."""
        there = instant.astimezone(zone(self.zone))
        if there.date() == self.start_local.date():
            return there.strftime("%H:%M:%S")
        return there.strftime("%Y-%m-%d %H:%M:%S")

    @property
    def excl(self) -> Decimal:
        return self.rated.total.excl_vat

    @property
    def incl(self) -> Decimal:
        incl = self.rated.total.incl_vat
        return self.excl if incl is None else incl

    def row(self, element: int | None) -> str:
        if element is None:
            return "—"
        return str(self.rows[element] if element < len(self.rows) else element + 1)


def line_quantity(kind: DimensionType, quantity: Decimal) -> str:
    if kind == DimensionType.ENERGY:
        return f"{(quantity / 1000).normalize():f} kWh"
    if kind == DimensionType.FLAT:
        return "1 session"
    return seconds_words(quantity)


def seconds_words(seconds: Decimal) -> str:
    return span(seconds)


@dataclass(slots=True)
class Editor:
    """Everything the editor page showed, or was sent back with."""

    name: str = ""
    currency: str = "EUR"
    valid_from: str = ""
    mode: str = "form"  # form | json
    document_text: str = ""
    draft: Draft = field(default_factory=Draft)
    preview: PreviewForm = field(default_factory=PreviewForm)

    @classmethod
    def posted(cls, form: FormData) -> Editor:
        text = form.get("document")
        return cls(
            name=form_field(form, "name"),
            currency=form_field(form, "currency").upper(),
            valid_from=form_field(form, "valid_from"),
            mode="json" if form_field(form, "mode") == "json" else "form",
            document_text=text[:200_000] if isinstance(text, str) else "",
            draft=Draft.posted(form),
            preview=PreviewForm.posted(form),
        )

    def document(self, currency: str) -> dict[str, Any]:
        """The OCPI document the editor holds, from the form or from the JSON."""
        if self.mode == "form":
            return self.draft.document(currency)
        if not self.document_text.strip():
            raise InvalidInput("the OCPI document is empty: paste a tariff object, or use the form")
        try:
            data = json.loads(self.document_text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"the OCPI document is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
        if not isinstance(data, dict):
            raise InvalidInput("the OCPI document must be a JSON object ({...})")
        return data

    def message(self, detail: str) -> str:
        """A refusal in the words of the mode it came from."""
        if self.mode == "form":
            return sentence(in_form_words(detail, self.draft.positions()))
        return sentence(detail.replace("time_zone:", "time zone:"))

    def rows_of_elements(self) -> list[int]:
        if self.mode == "form":
            return self.draft.positions()
        return []

    def refresh_json(self, currency: str) -> None:
        """In form mode, the JSON mode shows what the form makes (when it makes one)."""
        if self.mode != "form":
            return
        with contextlib.suppress(InvalidInput):
            self.document_text = _pretty(self.draft.document(currency))


def _pretty(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=str)


async def _default_zone(db: AsyncSession, tariff_id: int) -> str:
    """Where a tariff is used, the zone its local times are read in: the first site
    (or station at a site) it is assigned to; UTC otherwise."""
    for row in await service.list_assignments(db, tariff_id):
        if row.scope == "site" and row.site_id is not None:
            found = await queries.site_time_zone(db, row.site_id)
            if found:
                return found
        if row.station_id is not None:
            return await cdrs.time_zone_of(db, row.station_id)
    return "UTC"


def _editor_page(
    request: Request,
    editor: Editor,
    *,
    tariff: Tariff | None,
    currency: str,
    preview: PreviewView | None = None,
    preview_error: str | None = None,
    error: str | None = None,
    note: str | None = None,
    http_status: int = 200,
) -> Response:
    editor.refresh_json(currency)
    return render(
        request,
        "tariff_editor.html",
        title=f"New version of {tariff.name}" if tariff else "New tariff",
        http_status=http_status,
        tariff=tariff,
        editor=editor,
        draft=editor.draft,
        blank_row=ElementRow("__key__"),
        prices=PRICES,
        days=DAYS,
        day_names=DAY_NAMES,
        energy_steps=ENERGY_STEPS,
        time_steps=TIME_STEPS,
        time_zones=time_zones(),
        preview=preview,
        preview_error=preview_error,
        error=error,
        note=note,
        action=f"/tariffs/{tariff.id}/versions/new" if tariff else "/tariffs/new",
        **_preview_words(),
    )


def _preview_words() -> dict[str, Any]:
    return {
        "line_words": LINE_WORDS,
        "unit_words": UNIT_WORDS,
        "period_words": PERIOD_WORDS,
        "line_quantity": line_quantity,
        "seconds_words": seconds_words,
    }


@router.get("/tariffs/{tariff_id}/versions/new")
async def new_version(tariff_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    tariff = await service.require_tariff(db, tariff_id)
    editor = Editor()
    editor.preview.zone = await _default_zone(db, tariff_id)
    editor.preview.date = utcnow().astimezone(zone(editor.preview.zone)).date().isoformat()
    note = None
    now = utcnow()
    latest = await service.version_in_force(db, tariff_id, now)
    if latest is None:
        every = await service.list_versions(db, tariff_id)
        latest = every[-1] if every else None
    if latest is not None:
        draft, reasons = Draft.of_document(latest.document)
        if draft is not None:
            editor.draft = draft
        else:
            editor.mode = "json"
            editor.document_text = _pretty(latest.document)
            note = (
                f"The form cannot show version {latest.version} exactly ({'; '.join(reasons)}): "
                "it opens as OCPI JSON. Change the prices there, or switch to the form to "
                "start from blank prices."
            )
        if note is None:
            note = f"The form starts from version {latest.version}: change what changes."
    return _editor_page(request, editor, tariff=tariff, currency=tariff.currency, note=note)


@router.post("/tariffs/{tariff_id}/versions/new")
async def new_version_posted(
    tariff_id: int, request: Request, db: DbSession, viewer: Manager
) -> Response:
    tariff = await service.require_tariff(db, tariff_id)
    editor = Editor.posted(await form_of(request))
    return await _editor_action(request, editor, tariff=tariff)


async def _editor_action(request: Request, editor: Editor, *, tariff: Tariff | None) -> Response:
    """What the editor's buttons do: add or remove a row, copy the form into JSON,
    preview, save."""
    form = await form_of(request)
    action = form_field(form, "action") or "save"
    currency = tariff.currency if tariff else editor.currency

    def again(**context: Any) -> Response:
        return _editor_page(request, editor, tariff=tariff, currency=currency, **context)

    if action == "add":
        editor.mode = "form"
        editor.draft.with_row_added()
        return again()
    if action.startswith("remove:"):
        editor.mode = "form"
        editor.draft.without_row(action.removeprefix("remove:"))
        return again()
    if action == "to_json":
        try:
            editor.document_text = _pretty(editor.draft.document(currency))
        except InvalidInput as exc:
            editor.mode = "form"
            return again(error=editor.message(exc.detail), http_status=exc.status)
        editor.mode = "json"
        return again()
    if action == "preview":
        return _preview(request, editor, tariff=tariff, currency=currency)
    if action != "save":
        return again(error="That button is not one this form knows: try again.", http_status=422)
    try:
        document = editor.document(currency)
        valid_from = form_time(editor.valid_from, "in force from")
        if tariff is None:
            name, chosen = editor.name, editor.currency

            async def create(w: Work) -> int:
                made = await service.create_tariff(
                    w.session, name, currency=chosen, document=document, valid_from=valid_from
                )
                return made.id

            try:
                tariff_id = await write(request, create)
            except IntegrityError:  # named so by someone else since we looked
                raise Conflict(f"a tariff named {name!r} exists already") from None
            return see_other(f"/tariffs/{tariff_id}?done=created")
        known = tariff.id

        async def add(w: Work) -> None:
            await service.add_version(w.session, known, document, valid_from=valid_from)

        await write(request, add)
    except Refusal as exc:
        return again(error=editor.message(exc.detail), http_status=exc.status)
    return see_other(f"/tariffs/{tariff.id}?done=version")


def _preview(request: Request, editor: Editor, *, tariff: Tariff | None, currency: str) -> Response:
    """The draft, saved or not, priced for the session the form describes. A script
    asks for the result alone (``X-Requested-With: console``); without one the whole
    editor comes back with it."""
    result: PreviewView | None = None
    error: str | None = None
    status = 200
    try:
        value = service.read_document(editor.document(currency))
        minutes, kwh, idle = editor.preview.numbers()
        rated = rate_preview(
            value,
            start=editor.preview.start(utcnow()),
            time_zone=editor.preview.zone,
            energy_kwh=kwh,
            charging_minutes=minutes,
            idle_minutes=idle,
        )
        result = PreviewView(
            rated,
            minutes,
            kwh,
            idle,
            mean_power_kw(rated.energy_wh, minutes),
            editor.preview.zone,
            editor.rows_of_elements(),
        )
    except InvalidInput as exc:
        error, status = editor.message(exc.detail), exc.status
    if request.headers.get("x-requested-with") == "console":
        response = render_fragment(
            request, "_tariff_preview.html", preview=result, preview_error=error, **_preview_words()
        )
        response.status_code = status
        return response
    return _editor_page(
        request,
        editor,
        tariff=tariff,
        currency=currency,
        preview=result,
        preview_error=error,
        http_status=status,
    )
