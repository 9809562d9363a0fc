"""Invoices and credit notes: CDRs put on numbered, immutable documents.

**What is invoiced.** Every CDR says how it is billed (``Cdr.billing``, decided when it
was made, see :mod:`.accounts`): ``session`` CDRs get a receipt of their own as soon as
they are made; ``monthly`` CDRs go on their customer's invoice for the month they
ended in (counted in the issuer's time zone), issued by the monthly run; ``none``
(unpriced, or nothing to pay) are not invoiced. A CDR cancelled by a credit CDR before
it was invoiced is not invoiced at all; one cancelled after gets a credit note.

**Exactly once.** A CDR is on one invoice at most: the unique index on
``invoice_lines.cdr_id`` holds it even when two runs race (the second one's transaction
fails and takes nothing with it). Running a month again therefore issues only what was
not issued: CDRs made since, none if nothing changed.

**Numbers without gaps.** Numbers run per series and calendar year (``INV-2026-000017``;
credit notes ``CN-2026-000003``). The counter is incremented in the transaction that
writes the invoice, so an invoice that fails to be written takes its number back with
it, and PostgreSQL's row lock makes concurrent issuers wait their turn.

**Amounts.** A line is a CDR's totals as rated (already rounded once, by the rating
rule); an invoice's totals are the sums of its lines, and its tax summary the sums per
VAT rate. A session priced at several VAT rates (rare) is split between them in
proportion to its cost lines, to the cent, so that the parts add up to its totals.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Executable

from chargeops.billing import accounts
from chargeops.billing.accounts import Customer
from chargeops.billing.models import Cdr, Invoice, InvoiceCounter, InvoiceIssuer, InvoiceLine
from chargeops.billing.tariffs import minor_unit
from chargeops.core.access import Permission, Principal, Scope
from chargeops.core.clock import utcnow
from chargeops.core.errors import InvalidInput, NotFound
from chargeops.stations.models import Site, Station
from chargeops.users.models import User

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
KINDS = (INVOICE, CREDIT_NOTE)
# CDR.billing values
BILL_PER_SESSION = accounts.PER_SESSION
BILL_MONTHLY = accounts.MONTHLY
BILL_NONE = "none"
_MONTH = re.compile(r"(\d{4})-(\d{2})")
T = TypeVar("T")
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- helpers


async def _scalar(db: AsyncSession, statement: Executable) -> Any:
    """One value from a statement, read inside the sync session (which every writer
    connection supports, see storage.writer.Work.scalar)."""
    return await db.run_sync(lambda sync: sync.execute(statement).scalar_one_or_none())


def _dialect(db: AsyncSession) -> str:
    return db.sync_session.get_bind().dialect.name


async def next_number(db: AsyncSession, prefix: str, year: int) -> str:
    """The next number of a series, e.g. ``INV-2026-000017``."""
    series = f"{prefix}-{year}"
    insert = postgresql.insert if _dialect(db) == "postgresql" else sqlite.insert
    table: Any = InvoiceCounter.__table__
    await db.execute(insert(table).values(series=series, last=0).on_conflict_do_nothing())
    last = await _scalar(
        db,
        update(table)
        .where(table.c.series == series)
        .values(last=table.c.last + 1)
        .returning(table.c.last),
    )
    return f"{series}-{int(last):06d}"


@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month in a time zone: ``[start, end)`` in UTC."""

    year: int
    month: int
    time_zone: str

    @classmethod
    def parse(cls, text: str, time_zone: str) -> Month:
        match = _MONTH.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
            raise InvalidInput(f"month: {text!r} is not a month like 2026-10")
        return cls(int(match.group(1)), int(match.group(2)), time_zone)

    @classmethod
    def before(cls, at: datetime, time_zone: str) -> Month:
        """The month before the one ``at`` falls in (the month a run on the 1st bills)."""
        local = at.astimezone(ZoneInfo(time_zone))
        year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
        return cls(year, month, time_zone)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def name(self) -> str:
        return f"{calendar.month_name[self.month]} {self.year}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=ZoneInfo(self.time_zone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        year, month = (self.year, self.month + 1) if self.month < 12 else (self.year + 1, 1)
        return datetime(year, month, 1, tzinfo=ZoneInfo(self.time_zone)).astimezone(UTC)


def _split(total: Decimal, weights: Sequence[Decimal], places: int) -> list[Decimal]:
    """``total`` in parts proportional to ``weights`` that add up to it exactly, in
    minor units (largest remainder; equal parts when every weight is 0)."""
    unit = Decimal(1).scaleb(-places)
    units = int((total / unit).to_integral_value())
    weights = [abs(w) for w in weights]
    whole = sum(weights)
    if whole == 0:
        weights, whole = [Decimal(1)] * len(weights), Decimal(len(weights))
    shares = [units * w / whole for w in weights]
    parts = [int(s) for s in shares]  # toward zero, for either sign
    left = units - sum(parts)
    step = 1 if left > 0 else -1
    order = sorted(range(len(shares)), key=lambda i: abs(shares[i] - parts[i]), reverse=True)
    for i in order[: abs(left)]:
        parts[i] += step
    return [Decimal(p) * unit for p in parts]


def taxes_of(cdr: Cdr) -> list[dict[str, Any]]:
    """The CDR's totals per VAT rate (``rate`` null: no VAT applicable)."""
    vat = cdr.total_incl_vat - cdr.total_excl_vat
    by_rate: dict[str | None, Decimal] = {}
    for line in cdr.lines:
        by_rate[line.get("vat")] = by_rate.get(line.get("vat"), Decimal(0)) + Decimal(
            line["cost_excl_vat"]
        )
    if len(by_rate) <= 1:
        rate = next(iter(by_rate), None)
        return [{"rate": rate, "excl_vat": str(cdr.total_excl_vat), "vat": str(vat)}]
    # only priced CDRs are invoiced (issue_receipt and the run select currency IS NOT NULL)
    assert cdr.currency is not None, f"CDR {cdr.id} is unpriced and is not invoiced"
    places = minor_unit(cdr.currency)
    rates = sorted(by_rate, key=lambda r: Decimal(r) if r is not None else Decimal(-1))
    taxed = [r for r in rates if r is not None and Decimal(r) != 0]
    excl_parts = _split(cdr.total_excl_vat, [by_rate[r] for r in rates], places)
    vat_parts: dict[str | None, Decimal] = dict(
        zip(taxed, _split(vat, [by_rate[r] * Decimal(r) for r in taxed], places), strict=True)
    )
    return [
        {"rate": r, "excl_vat": str(excl), "vat": str(vat_parts.get(r, Decimal(0)))}
        for r, excl in zip(rates, excl_parts, strict=True)
    ]


def duration_text(seconds: Decimal) -> str:
    """A duration as an invoice shows it: 42 min, 2 h 05 min."""
    minutes = int((seconds / 60).to_integral_value())
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


# --------------------------------------------------------------------------- issuing


@dataclass(slots=True)
class _Draft:
    kind: str
    cycle: str
    customer: accounts.Customer
    currency: str
    cdrs: list[Cdr]
    month: Month | None = None
    credits: Invoice | None = None
    reason: str | None = None
    places: dict[str, str] = field(default_factory=dict)  # station id -> "Site name"


async def _places(db: AsyncSession, station_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(station_ids))
    if not ids:
        return {}
    rows = await db.execute(
        select(Station.id, Site.name)
        .join(Site, Station.site_id == Site.id)
        .where(Station.id.in_(ids))
    )
    return {station: site for station, site in rows.all()}


def _describe(cdr: Cdr, place: str | None) -> str:
    where = f"{cdr.station_id}, EVSE {cdr.evse_id}" + (f" ({place})" if place else "")
    kind = "Credit for charging" if cdr.kind == "credit" else "Charging"
    return f"{kind} at {where}"


async def _write(db: AsyncSession, issuer: InvoiceIssuer, draft: _Draft, now: datetime) -> Invoice:
    """Number and store one invoice or credit note with a line per CDR."""
    zone = issuer.time_zone
    year = now.astimezone(ZoneInfo(zone)).year
    prefix = issuer.credit_note_prefix if draft.kind == CREDIT_NOTE else issuer.invoice_prefix
    cdrs = sorted(draft.cdrs, key=lambda c: (c.started_at, c.id))
    lines: list[dict[str, Any]] = []
    summary: dict[str | None, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for position, cdr in enumerate(cdrs, start=1):
        taxes = taxes_of(cdr)
        for tax in taxes:
            summary[tax["rate"]][0] += Decimal(tax["excl_vat"])
            summary[tax["rate"]][1] += Decimal(tax["vat"])
        lines.append(
            {
                "position": position,
                "cdr_id": cdr.id,
                "session_id": cdr.session_id,
                "station_id": cdr.station_id,
                "evse_id": cdr.evse_id,
                "id_tag": cdr.id_tag,
                "started_at": cdr.started_at,
                "ended_at": cdr.ended_at,
                "energy_wh": cdr.energy_wh,
                "duration_s": Decimal((cdr.ended_at - cdr.started_at).total_seconds()),
                "description": _describe(cdr, draft.places.get(cdr.station_id)),
                "taxes": taxes,
                "excl_vat": cdr.total_excl_vat,
                "vat": cdr.total_incl_vat - cdr.total_excl_vat,
                "incl_vat": cdr.total_incl_vat,
            }
        )
    tax_summary = [
        {
            "rate": rate,
            "excl_vat": str(excl),
            "vat": str(vat),
            "incl_vat": str(excl + vat),
        }
        for rate, (excl, vat) in sorted(
            summary.items(), key=lambda kv: Decimal(kv[0]) if kv[0] is not None else Decimal(-1)
        )
    ]
    customer = (
        draft.credits.customer
        if draft.credits is not None
        else await accounts.addressee(db, draft.customer)
    )
    terms = issuer.payment_terms_days if draft.cycle == BILL_MONTHLY else 0
    month = draft.month
    invoice = Invoice(
        number=await next_number(db, prefix, year),
        kind=draft.kind,
        credits_invoice_id=draft.credits.id if draft.credits else None,
        reason=draft.reason,
        cycle=draft.cycle,
        period=month.label if month else (draft.credits.period if draft.credits else None),
        period_start=month.start if month else None,
        period_end=month.end if month else None,
        customer_key=draft.customer.key,
        organization_id=draft.customer.organization_id,
        user_id=draft.customer.user_id,
        customer=customer,
        issuer=accounts.issuer_snapshot(issuer),
        currency=draft.currency,
        total_excl_vat=sum((line["excl_vat"] for line in lines), Decimal(0)),
        total_vat=sum((line["vat"] for line in lines), Decimal(0)),
        total_incl_vat=sum((line["incl_vat"] for line in lines), Decimal(0)),
        tax_summary=tax_summary,
        sessions=len(lines),
        energy_wh=sum(line["energy_wh"] for line in lines),
        time_zone=zone,
        issued_at=now,
        due_at=now + timedelta(days=terms),
    )
    db.add(invoice)
    await db.flush()
    # one multi-row insert: a fleet's month is thousands of lines
    table: Any = InvoiceLine.__table__
    for start in range(0, len(lines), 1000):
        chunk = [line | {"invoice_id": invoice.id} for line in lines[start : start + 1000]]
        await db.execute(table.insert(), chunk)
    return invoice


def _not_invoiced() -> ColumnElement[bool]:
    return ~select(InvoiceLine.id).where(InvoiceLine.cdr_id == Cdr.id).exists()


def _not_credited() -> ColumnElement[bool]:
    credit = aliased(Cdr)
    return ~select(credit.id).where(credit.credits_cdr_id == Cdr.id).exists()


async def issue_receipt(
    db: AsyncSession, cdr_id: int, *, now: datetime | None = None
) -> Invoice | None:
    """The per-session invoice of a CDR billed per session, issued now unless it was;
    None when the CDR is not billed that way (or was credited before it was issued)."""
    existing = await invoice_of_cdr(db, cdr_id)
    if existing is not None:
        return existing
    cdr = await db.get(Cdr, cdr_id)
    if cdr is None or cdr.kind != "original" or cdr.billing != BILL_PER_SESSION:
        return None
    if cdr.currency is None:
        return None
    credited = await db.scalar(select(Cdr.id).where(Cdr.credits_cdr_id == cdr.id))
    if credited is not None:
        return None
    issuer = await accounts.require_issuer(db)
    draft = _Draft(
        kind=INVOICE,
        cycle=BILL_PER_SESSION,
        customer=accounts.customer_of(cdr.organization_id, cdr.user_id, cdr.id_tag),
        currency=cdr.currency,
        cdrs=[cdr],
        places=await _places(db, [cdr.station_id]),
    )
    return await _write(db, issuer, draft, now or utcnow())


async def pending_receipts(db: AsyncSession, *, after: int = 0, limit: int = 200) -> list[int]:
    """CDRs billed per session that have no receipt yet, by id."""
    stmt = (
        select(Cdr.id)
        .where(
            Cdr.billing == BILL_PER_SESSION,
            Cdr.kind == "original",
            Cdr.id > after,
            _not_invoiced(),
            _not_credited(),
        )
        .order_by(Cdr.id)
        .limit(limit)
    )
    return list((await db.execute(stmt)).scalars())


@dataclass(slots=True)
class RunResult:
    """What a monthly run did: the invoices it issued (none when run again)."""

    month: Month
    invoices: list[Invoice]
    receipts: int  # per-session receipts that were still owed (issuer set late)

    @property
    def sessions(self) -> int:
        return sum(i.sessions for i in self.invoices)

    def totals(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = defaultdict(Decimal)
        for invoice in self.invoices:
            out[invoice.currency] += invoice.total_incl_vat
        return dict(out)


Transact = Callable[[Callable[[AsyncSession], Awaitable[T]]], Awaitable[T]]


def _month_cdrs(month: Month, billing: str) -> ColumnElement[bool]:
    return and_(
        Cdr.billing == billing,
        Cdr.kind == "original",
        Cdr.ended_at >= month.start,
        Cdr.ended_at < month.end,
        Cdr.currency.is_not(None),
        _not_invoiced(),
        _not_credited(),
    )


def _belongs(customer: accounts.Customer) -> ColumnElement[bool]:
    """The CDRs :func:`accounts.customer_of` assigns to ``customer``."""
    if customer.organization_id is not None:
        return Cdr.organization_id == customer.organization_id
    if customer.user_id is not None:
        return and_(Cdr.organization_id.is_(None), Cdr.user_id == customer.user_id)
    return and_(Cdr.organization_id.is_(None), Cdr.user_id.is_(None), Cdr.id_tag == customer.id_tag)


async def month_to_run(db: AsyncSession, month_text: str | None, now: datetime) -> Month:
    """The month a run bills (default: the last one), refused while it is not over."""
    issuer = await accounts.require_issuer(db)
    zone = issuer.time_zone
    month = Month.parse(month_text, zone) if month_text else Month.before(now, zone)
    if month.end > now:
        opens = month.end.astimezone(ZoneInfo(zone))
        raise InvalidInput(
            f"month: {month.name} has not ended yet in {zone}; "
            f"its invoices can be issued from {opens:%Y-%m-%d %H:%M}"
        )
    return month


async def _owed(db: AsyncSession, month: Month) -> tuple[list[tuple[Customer, str]], list[int]]:
    """Who gets an invoice for ``month`` (customer and currency), and the per-session
    receipts of that month still owed."""
    rows = await db.execute(
        select(Cdr.organization_id, Cdr.user_id, Cdr.id_tag, Cdr.currency)
        .where(_month_cdrs(month, BILL_MONTHLY))
        .distinct()
    )
    groups = {
        (accounts.customer_of(org, user, tag), str(currency))
        for org, user, tag, currency in rows.all()
    }
    receipts = await db.execute(
        select(Cdr.id).where(_month_cdrs(month, BILL_PER_SESSION)).order_by(Cdr.id)
    )
    ordered = sorted(groups, key=lambda g: (g[0].key, g[1]))
    return ordered, list(receipts.scalars())


async def issue_monthly(
    db: AsyncSession, month: Month, customer: Customer, currency: str, now: datetime
) -> Invoice | None:
    """The customer's invoice for what of ``month`` is not invoiced yet (None: nothing)."""
    issuer = await accounts.require_issuer(db)
    stmt = (
        select(Cdr)
        .where(_month_cdrs(month, BILL_MONTHLY), _belongs(customer), Cdr.currency == currency)
        .order_by(Cdr.id)
    )
    cdrs = list((await db.execute(stmt)).scalars())
    if not cdrs:
        return None
    draft = _Draft(
        kind=INVOICE,
        cycle=BILL_MONTHLY,
        customer=customer,
        currency=currency,
        cdrs=cdrs,
        month=month,
        places=await _places(db, (c.station_id for c in cdrs)),
    )
    return await _write(db, issuer, draft, now)


async def run_month(
    transact: Transact[Any],
    month_text: str | None,
    *,
    now: datetime | None = None,
    on_issued: Callable[[Invoice], None] | None = None,
) -> RunResult:
    """Issue a month's invoices: one per account customer and currency for the CDRs of
    that month not invoiced yet, and every per-session receipt of that month still owed.

    ``transact(fn)`` runs ``fn(session)`` in a transaction of its own and commits it
    (the server's writer, or a session of the command line's): each invoice is one
    transaction, so a long run never holds the database for long, and an interrupted
    run leaves whole invoices that the next run does not issue again.
    """
    now = now or utcnow()
    month: Month = await transact(lambda db: month_to_run(db, month_text, now))
    groups, receipts = await transact(lambda db: _owed(db, month))
    issued: list[Invoice] = []

    def monthly(customer: Customer, currency: str) -> Callable[[AsyncSession], Any]:
        return lambda db: issue_monthly(db, month, customer, currency, now)

    def receipt(cdr_id: int) -> Callable[[AsyncSession], Any]:
        return lambda db: issue_receipt(db, cdr_id, now=now)

    for customer, currency in groups:
        invoice = await _retried(transact, monthly(customer, currency))
        if invoice is not None:
            issued.append(invoice)
            if on_issued is not None:
                on_issued(invoice)
    count = 0
    for cdr_id in receipts:
        if await _retried(transact, receipt(cdr_id)) is not None:
            count += 1
    return RunResult(month, issued, count)


async def _retried(transact: Transact[Any], fn: Callable[[AsyncSession], Any]) -> Any:
    """``transact(fn)``, once more if a concurrent run got there first: its invoice is
    committed by then, so the second try finds the CDRs invoiced and issues nothing
    (PostgreSQL: the unique index on the CDR refuses the line; SQLite: the snapshot our
    transaction read is stale)."""
    try:
        return await transact(fn)
    except (IntegrityError, OperationalError) as exc:
        log.info("another run was issuing the same invoice; checking again (%s)", exc.orig)
        return await transact(fn)


async def credit_note(
    db: AsyncSession, invoice: Invoice, credits: Sequence[Cdr], reason: str
) -> Invoice:
    """A credit note correcting ``invoice`` by the given credit CDRs (of CDRs on it)."""
    issuer = await accounts.require_issuer(db)
    customer = accounts.customer_of(invoice.organization_id, invoice.user_id, None)
    customer = accounts.Customer(
        invoice.customer_key, customer.organization_id, customer.user_id, None
    )
    draft = _Draft(
        kind=CREDIT_NOTE,
        cycle=invoice.cycle,
        customer=customer,
        currency=invoice.currency,
        cdrs=list(credits),
        credits=invoice,
        reason=reason,
        places=await _places(db, (c.station_id for c in credits)),
    )
    return await _write(db, issuer, draft, utcnow())


# --------------------------------------------------------------------------- reading


async def invoice_of_cdr(db: AsyncSession, cdr_id: int) -> Invoice | None:
    stmt = (
        select(Invoice)
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(InvoiceLine.cdr_id == cdr_id)
    )
    return (await db.execute(stmt)).scalar_one_or_none()


def visible(principal: Principal) -> ColumnElement[bool]:
    """Which invoices the caller sees: all for staff, their organization's (and its
    members') for a fleet manager, their own for a driver."""
    scope = principal.scope(Permission.INVOICES_READ)
    if scope is Scope.ALL:
        return true()
    if scope is Scope.OWN and principal.user_id:
        return Invoice.user_id == principal.user_id
    if scope is Scope.ORGANIZATION and principal.organization_id is not None:
        members = select(User.id).where(User.organization_id == principal.organization_id)
        return (Invoice.organization_id == principal.organization_id) | Invoice.user_id.in_(members)
    return false()


async def list_invoices(
    db: AsyncSession,
    principal: Principal,
    *,
    kind: str | None = None,
    period: str | None = None,
    customer: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[Invoice]:
    """Newest first."""
    stmt = select(Invoice).where(visible(principal)).order_by(Invoice.id.desc()).limit(limit)
    if kind is not None:
        if kind not in KINDS:
            raise InvalidInput(f"kind: one of {', '.join(KINDS)}")
        stmt = stmt.where(Invoice.kind == kind)
    if period is not None:
        Month.parse(period, "UTC")
        stmt = stmt.where(Invoice.period == period)
    if customer is not None:
        stmt = stmt.where(Invoice.customer_key == customer)
    if before_id is not None:
        stmt = stmt.where(Invoice.id < before_id)
    return (await db.execute(stmt)).scalars().all()


async def get_invoice(db: AsyncSession, principal: Principal, invoice_id: int) -> Invoice:
    """One invoice; NotFound also for one the caller may not see."""
    stmt = select(Invoice).where(Invoice.id == invoice_id, visible(principal))
    invoice = (await db.execute(stmt)).scalar_one_or_none()
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id}")
    return invoice


async def lines_of(db: AsyncSession, invoice_id: int) -> list[InvoiceLine]:
    stmt = (
        select(InvoiceLine)
        .where(InvoiceLine.invoice_id == invoice_id)
        .order_by(InvoiceLine.position)
    )
    return list((await db.execute(stmt)).scalars())


async def signed_data_of(
    db: AsyncSession, lines: Sequence[InvoiceLine]
) -> dict[int, list[dict[str, Any]]]:
    """The signed meter data of the lines' sessions (by CDR id), for the customer to
    check with transparency software; sessions without any are left out."""
    ids = [line.cdr_id for line in lines]
    if not ids:
        return {}
    rows = await db.execute(
        select(Cdr.id, Cdr.signed_meter_data).where(
            Cdr.id.in_(ids), Cdr.signed_meter_data.is_not(None)
        )
    )
    return {cdr_id: list(data) for cdr_id, data in rows.all() if data}


async def credit_notes_of(db: AsyncSession, invoice_id: int) -> list[Invoice]:
    stmt = select(Invoice).where(Invoice.credits_invoice_id == invoice_id).order_by(Invoice.id)
    return list((await db.execute(stmt)).scalars())


def summary_line(invoice: Invoice) -> str:
    what = "Credit note" if invoice.kind == CREDIT_NOTE else "Invoice"
    return (
        f"{what} {invoice.number}: {invoice.customer.get('name')}, "
        f"{invoice.sessions} session(s), {invoice.currency} {invoice.total_incl_vat}"
    )
