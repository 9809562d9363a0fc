"""``/invoices``: invoices, receipts and credit notes with their PDF and HTML; for
billing managers the monthly run, the issuer's legal details and credit notes.

Scoped exactly as the API scopes them (:func:`chargeops.billing.invoices.visible`):
staff see every invoice, a fleet manager their organization's, a driver their own
receipts ("Receipts"); an invoice outside that is not found, its documents neither.
Dates and times are shown in the invoice's time zone (the issuer's when it was issued),
as the documents show them, and say which.

The documents come from ``/invoices/{id}.pdf`` and ``.html`` here rather than the API's:
the API takes a bearer token, and a browser signed in to the console holds cookies. The
HTML document has its own Content-Security-Policy: its styles are inline (one file that
prints like the PDF) and it runs no script.

A run goes through the server's writer one invoice per transaction, as the API's run
does (:func:`chargeops.billing.invoices.run_month`), so a long run never holds the
database and a repeated run issues only what is new. Customer accounts (cycle, the
details an invoice is addressed to) are set through the API and the command line.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from chargeops.billing import accounts, cdrs, documents, invoices
from chargeops.billing.invoices import CREDIT_NOTE, INVOICE, Month
from chargeops.billing.models import Invoice, InvoiceIssuer
from chargeops.core.access import Permission, Principal, Scope
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.storage.http import DbSession
from chargeops.storage.writer import Work
from chargeops.web import queries
from chargeops.web.auth import Viewer
from chargeops.web.formatting import money
from chargeops.web.frame import NavEntry, console_router, page, render, sentence
from chargeops.web.views.common import field, form_of, notice, see_other, write
from chargeops.web.views.sites import time_zones

router = console_router()
NAV = (NavEntry("Invoices", "/invoices", Permission.INVOICES_READ, own_label="Receipts"),)
PAGE_SIZE = 25
RUN_SHOWN = 100  # invoices a run's outcome lists; it counts and adds up all of them
LINES_PER_PAGE = 200  # a fleet's month can be thousands of sessions: the page shows parts
Reader = Annotated[Viewer, page(Permission.INVOICES_READ)]
Manager = Annotated[Viewer, page(Permission.BILLING_MANAGE)]
KINDS = {"": "All", INVOICE: "Invoices", CREDIT_NOTE: "Credit notes"}
NOTICES = {
    "credited": "The credit note was issued. The invoice it corrects stays as it was issued.",
    "saved": "The issuer details were saved. Invoices issued from now on carry them; issued "
    "ones keep the details they were issued with.",
}
# the HTML document is a page of its own: inline styles, no script, nothing fetched
DOCUMENT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
NO_ISSUER = (
    "The operator's legal details are not set, and nothing is invoiced without them: "
    "set them first under Issuer details."
)


def title_for(principal: Principal) -> str:
    scope = principal.scope(Permission.INVOICES_READ)
    if scope is Scope.OWN:
        return "Receipts"
    if scope is Scope.ORGANIZATION:
        return "Your organization's invoices"
    return "Invoices"


def period_words(invoice: Invoice) -> str:
    """``October 2026`` for a monthly invoice (or its credit note), else ``receipt``."""
    if invoice.period:
        try:
            return Month.parse(invoice.period, invoice.time_zone).name
        except InvalidInput:
            return invoice.period
    return "receipt"


def period_range(invoice: Invoice) -> str | None:
    """``2026-10-01 to 2026-10-31``: the month's first and last day where it was counted."""
    if invoice.period_start is None or invoice.period_end is None:
        return None
    zone = ZoneInfo(invoice.time_zone)
    first = invoice.period_start.astimezone(zone)
    last = (invoice.period_end - timedelta(seconds=1)).astimezone(zone)
    return f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"


def _rate(rate: str | None) -> str:
    return "no VAT" if rate is None else f"{Decimal(rate).normalize():f} %"


# --- the list ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    """The list's filters as the form sent them."""

    kind: str = ""
    period: str = ""
    customer: str = ""

    def check(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInput("kind: all, invoices or credit notes")
        if self.period:
            try:
                Month.parse(self.period, "UTC")
            except InvalidInput:
                raise InvalidInput(f"period: {self.period!r} is not a month like 2026-10") from None

    @property
    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.as_dict().items() if v}

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "period": self.period, "customer": self.customer}

    @property
    def any(self) -> bool:
        return bool(self.query)


@dataclass(frozen=True, slots=True)
class Row:
    invoice: Invoice
    period: str
    corrects: str | None  # the number of the invoice a credit note corrects


async def rows_of(db: AsyncSession, found: Sequence[Invoice]) -> list[Row]:
    numbers = await queries.invoice_numbers(db, [i.credits_invoice_id for i in found])
    return [
        Row(
            invoice=i,
            period=period_words(i),
            corrects=numbers.get(i.credits_invoice_id) if i.credits_invoice_id else None,
        )
        for i in found
    ]


@router.get("/invoices")
async def invoice_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    kind: str = "",
    period: str = "",
    customer: str = "",
    before: int | None = None,
) -> Response:
    principal = viewer.principal
    filters = Filters(kind.strip(), period.strip(), customer.strip())
    own = principal.scope(Permission.INVOICES_READ) is Scope.OWN
    error = None
    found: list[Invoice] = []
    try:
        filters.check()
        found = list(
            await invoices.list_invoices(
                db,
                principal,
                kind=filters.kind or None,
                period=filters.period or None,
                customer=filters.customer or None,
                before_id=before,
                limit=PAGE_SIZE + 1,
            )
        )
    except InvalidInput as exc:
        error = sentence(exc.detail)
    shown = found[:PAGE_SIZE]
    manager = principal.may(Permission.BILLING_MANAGE)
    customers = [] if own else await queries.invoice_customers(db, invoices.visible(principal))
    if filters.customer and filters.customer not in {key for key, _ in customers}:
        customers.append((filters.customer, filters.customer))
    return render(
        request,
        "invoices.html",
        title=title_for(principal),
        http_status=422 if error else 200,
        rows=await rows_of(db, shown),
        filters=filters,
        kinds=KINDS,
        customers=customers,
        error=error,
        paged=before is not None,
        next_before=shown[-1].id if len(found) > PAGE_SIZE else None,
        own=own,
        manager=manager,
        no_issuer=manager and await accounts.get_issuer(db) is None,
    )


# --- the monthly run -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a run did, in words, and the invoices it issued."""

    words: str
    issued: list[Invoice]
    more: int  # issued but not listed


def outcome_words(month: Month, issued: Sequence[Invoice], receipts: int) -> str:
    """``Issued 2 invoices for October 2026 (Europe/Berlin): 2 sessions, 21.66 EUR incl.
    VAT, and 1 receipt still owed.`` or that nothing was left to invoice."""
    when = f"{month.name} ({month.time_zone})"
    owed = f"{receipts} receipt{'s' if receipts != 1 else ''} still owed"
    if not issued and not receipts:
        return (
            f"Nothing left to invoice for {when}: every session of that month is on an "
            "invoice already."
        )
    if not issued:
        return f"No monthly invoice was due for {when}; issued {owed}."
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in issued:
        totals[invoice.currency] += invoice.total_incl_vat
    sessions = sum(i.sessions for i in issued)
    amounts = " and ".join(money(amount, cur) for cur, amount in sorted(totals.items()))
    words = (
        f"Issued {len(issued)} invoice{'s' if len(issued) != 1 else ''} for {when}: "
        f"{sessions} session{'s' if sessions != 1 else ''}, {amounts} incl. VAT"
    )
    return words + (f", and {owed}." if receipts else ".")


def _id_range(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d{1,12})-(\d{1,12})", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


async def _outcome(
    db: AsyncSession, principal: Principal, month_text: str, issued: str, receipts: int
) -> Outcome | None:
    """The outcome a run redirected to: the invoices of that month with ids in the range
    the run issued (they are looked up, so the address cannot claim others)."""
    issuer = await accounts.get_issuer(db)
    try:
        month = Month.parse(month_text, issuer.time_zone if issuer else "UTC")
    except InvalidInput:
        return None
    span = _id_range(issued)
    found = []
    if span is not None:
        found = await queries.invoices_of_run(
            db, invoices.visible(principal), month.label, span[0], span[1]
        )
    words = outcome_words(month, found, max(receipts, 0))
    return Outcome(words, found[:RUN_SHOWN], max(len(found) - RUN_SHOWN, 0))


async def _run_page(
    request: Request,
    db: AsyncSession,
    *,
    month: str = "",
    outcome: Outcome | None = None,
    error: str | None = None,
    http_status: int = 200,
) -> Response:
    issuer = await accounts.get_issuer(db)
    zone = issuer.time_zone if issuer else "UTC"
    last = Month.before(utcnow(), zone)
    return render(
        request,
        "invoice_run.html",
        title="Issue invoices",
        http_status=http_status,
        issuer=issuer,
        month=month or last.label,
        last_month=last,
        outcome=outcome,
        error=error,
    )


@router.get("/invoices/run")
async def run_form(
    request: Request,
    db: DbSession,
    viewer: Manager,
    done: str = "",
    month: str = "",
    issued: str = "",
    receipts: int = 0,
) -> Response:
    outcome = None
    if done == "run":
        outcome = await _outcome(db, viewer.principal, month, issued, receipts)
    return await _run_page(request, db, outcome=outcome)


@router.post("/invoices/run")
async def run(request: Request, db: DbSession, viewer: Manager) -> Response:
    month = field(await form_of(request), "month")
    if await accounts.get_issuer(db) is None:
        return await _run_page(request, db, month=month, error=NO_ISSUER, http_status=422)

    async def transact(fn: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        return await write(request, lambda w: fn(w.session))

    try:
        result = await invoices.run_month(transact, month or None)
    except InvalidInput as exc:
        return await _run_page(
            request, db, month=month, error=sentence(exc.detail), http_status=exc.status
        )
    ids = [i.id for i in result.invoices]
    query = {
        "done": "run",
        "month": result.month.label,
        "issued": f"{min(ids)}-{max(ids)}" if ids else "",
        "receipts": str(result.receipts),
    }
    return see_other(f"/invoices/run?{urlencode(query)}")


# --- the issuer's details ------------------------------------------------------------------

ISSUER_LABELS = {
    "name": "Legal name",
    "address": "Address",
    "vat_id": "VAT ID",
    "company_id": "Company number",
    "email": "Email",
    "phone": "Phone",
    "website": "Website",
    "bank_details": "Bank details",
    "payment_terms_days": "Payment terms",
    "invoice_prefix": "Invoice number prefix",
    "credit_note_prefix": "Credit note prefix",
    "time_zone": "Time zone",
    "footer": "Footer",
}
ISSUER_DEFAULTS = {
    "payment_terms_days": "14",
    "invoice_prefix": "INV",
    "credit_note_prefix": "CN",
    "time_zone": "UTC",
}
_LONGEST_FIELD = 10_000  # beyond every limit of the service, which says what is too long


def issuer_form(issuer: InvoiceIssuer | None) -> dict[str, str]:
    if issuer is None:
        return {name: ISSUER_DEFAULTS.get(name, "") for name in ISSUER_LABELS}
    return {
        name: "" if getattr(issuer, name) is None else str(getattr(issuer, name))
        for name in ISSUER_LABELS
    }


def posted_issuer(form: FormData) -> dict[str, str]:
    """The form as it was sent (new lines as ``\\n``), to draw again after a refusal."""
    out = {}
    for name in ISSUER_LABELS:
        value = form.get(name)
        text = value[:_LONGEST_FIELD] if isinstance(value, str) else ""
        out[name] = text.replace("\r\n", "\n").strip()
    return out


def issuer_values(form: dict[str, str]) -> dict[str, Any]:
    """What the service is given: empty is not set (its defaults hold for the terms,
    the prefixes and the zone); terms that are not a number go as they are, for the
    service to say why."""
    values: dict[str, Any] = {name: text or None for name, text in form.items()}
    terms = form["payment_terms_days"]
    if not terms:
        del values["payment_terms_days"]
    elif re.fullmatch(r"-?\d{1,9}", terms):
        values["payment_terms_days"] = int(terms)
    return values


def issuer_message(detail: str) -> tuple[str | None, str]:
    """The service's message with the form's names for its fields; and the field."""
    name, _, rest = detail.partition(":")
    wrong = name.strip() if rest and name.strip() in ISSUER_LABELS else None
    if wrong is not None:
        detail = ISSUER_LABELS[wrong] + ":" + rest
    for key, label in ISSUER_LABELS.items():
        if "_" in key:
            detail = detail.replace(key, f"the {label[0].lower()}{label[1:]}")
    return wrong, sentence(detail)


def _issuer_page(
    request: Request,
    issuer: InvoiceIssuer | None,
    form: dict[str, str],
    *,
    notice: str | None = None,
    error: str | None = None,
    wrong: str | None = None,
    http_status: int = 200,
) -> Response:
    return render(
        request,
        "invoice_issuer.html",
        title="Issuer details",
        http_status=http_status,
        issuer=issuer,
        form=form,
        labels=ISSUER_LABELS,
        notice=notice,
        error=error,
        wrong=wrong,
        time_zones=time_zones(),
    )


@router.get("/invoices/issuer")
async def issuer_page(request: Request, db: DbSession, viewer: Manager, done: str = "") -> Response:
    issuer = await accounts.get_issuer(db)
    return _issuer_page(request, issuer, issuer_form(issuer), notice=notice(done, NOTICES))


@router.post("/invoices/issuer")
async def save_issuer(request: Request, db: DbSession, viewer: Manager) -> Response:
    form = posted_issuer(await form_of(request))
    values = issuer_values(form)

    async def unit(w: Work) -> None:
        await accounts.set_issuer(w.session, values)

    try:
        await write(request, unit)
    except InvalidInput as exc:
        wrong, message = issuer_message(exc.detail)
        issuer = await accounts.get_issuer(db)
        return _issuer_page(
            request, issuer, form, error=message, wrong=wrong, http_status=exc.status
        )
    return see_other("/invoices/issuer?done=saved")


# --- documents -----------------------------------------------------------------------------


async def _document(
    db: AsyncSession, principal: Principal, invoice_id: int
) -> tuple[Invoice, documents.InvoiceView]:
    invoice = await invoices.get_invoice(db, principal, invoice_id)
    corrects = await queries.invoice_numbers(db, [invoice.credits_invoice_id])
    lines = await invoices.lines_of(db, invoice.id)
    signed = await invoices.signed_data_of(db, lines)
    number = corrects.get(invoice.credits_invoice_id) if invoice.credits_invoice_id else None
    return invoice, documents.view_of(invoice, lines, number, signed)


@router.get("/invoices/{invoice_id}.pdf")
async def invoice_pdf(invoice_id: int, db: DbSession, viewer: Reader) -> Response:
    invoice, view = await _document(db, viewer.principal, invoice_id)
    # drawing a PDF takes a while: not on the loop that also serves the chargers
    content = await asyncio.to_thread(documents.render_pdf, view)
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'},
    )


@router.get("/invoices/{invoice_id}.html")
async def invoice_html(invoice_id: int, db: DbSession, viewer: Reader) -> Response:
    invoice, view = await _document(db, viewer.principal, invoice_id)
    return Response(
        await asyncio.to_thread(documents.render_html, view),  # thousands of lines, too
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": DOCUMENT_CSP,
            "Content-Disposition": f'inline; filename="{invoice.number}.html"',
        },
    )


# --- one invoice ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaxRow:
    rate: str
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal


def tax_rows(invoice: Invoice) -> list[TaxRow]:
    return [
        TaxRow(
            rate=_rate(t.get("rate")),
            excl_vat=Decimal(t["excl_vat"]),
            vat=Decimal(t["vat"]),
            incl_vat=Decimal(t["incl_vat"]),
        )
        for t in invoice.tax_summary
    ]


def _lines(text: Any) -> list[str]:
    return [part.strip() for part in str(text or "").splitlines() if part.strip()]


@router.get("/invoices/{invoice_id}")
async def invoice_page(
    invoice_id: int,
    request: Request,
    db: DbSession,
    viewer: Reader,
    done: str = "",
    lines: int = 1,
) -> Response:
    return await _invoice_page(
        request, db, viewer, invoice_id, notice=notice(done, NOTICES), part=lines
    )


async def _invoice_page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    invoice_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    reason: str = "",
    http_status: int = 200,
    part: int = 1,
) -> Response:
    principal = viewer.principal
    invoice = await invoices.get_invoice(db, principal, invoice_id)
    every_line = await invoices.lines_of(db, invoice.id)
    parts = max(1, -(-len(every_line) // LINES_PER_PAGE))
    part = min(max(part, 1), parts)
    lines = every_line[(part - 1) * LINES_PER_PAGE : part * LINES_PER_PAGE]
    notes = await invoices.credit_notes_of(db, invoice.id) if invoice.kind == INVOICE else []
    corrects = await queries.invoice_numbers(db, [invoice.credits_invoice_id])
    signed = await invoices.signed_data_of(db, lines)
    credited = sum(n.sessions for n in notes)
    manager = principal.may(Permission.BILLING_MANAGE) and invoice.kind == INVOICE
    is_credit = invoice.kind == CREDIT_NOTE
    return render(
        request,
        "invoice.html",
        title=f"{'Credit note' if is_credit else 'Invoice'} {invoice.number}",
        list_title=title_for(principal),
        http_status=http_status,
        invoice=invoice,
        is_credit=is_credit,
        receipt=invoice.cycle == invoices.BILL_PER_SESSION,
        period=period_words(invoice),
        period_range=period_range(invoice),
        customer=invoice.customer,
        customer_lines=_lines(invoice.customer.get("address")),
        issuer=invoice.issuer,
        issuer_lines=_lines(invoice.issuer.get("address")),
        bank_lines=_lines(invoice.issuer.get("bank_details")),
        lines=lines,
        part=part,
        parts=parts,
        rates={line.id: ", ".join(_rate(t.get("rate")) for t in line.taxes) for line in lines},
        taxes=tax_rows(invoice),
        notes=notes,
        credited=credited,
        corrects_number=corrects.get(invoice.credits_invoice_id)
        if invoice.credits_invoice_id
        else None,
        signed_sessions=len(signed),
        see_sessions=principal.may(Permission.SESSIONS_READ),
        see_cdrs=principal.may(Permission.CDRS_READ),
        see_customer_key=principal.scope(Permission.INVOICES_READ) is Scope.ALL,
        manager=manager,
        may_credit=manager and credited < invoice.sessions,
        notice=notice,
        error=error,
        reason=reason,
    )


@router.post("/invoices/{invoice_id}/credit")
async def credit(invoice_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    reason = field(await form_of(request), "reason")
    await invoices.get_invoice(db, viewer.principal, invoice_id)  # NotFound outside the scope

    async def unit(w: Work) -> int:
        return (await cdrs.credit_invoice(w, invoice_id, reason)).id

    try:
        if not reason:
            raise InvalidInput("reason: say why the invoice is credited")
        note_id = await write(request, unit)
    except (InvalidInput, Conflict, NotFound) as exc:
        return await _invoice_page(
            request,
            db,
            viewer,
            invoice_id,
            error=sentence(exc.detail),
            reason=reason,
            http_status=exc.status,
        )
    return see_other(f"/invoices/{note_id}?done=credited")
