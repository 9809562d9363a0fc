"""``/api/v1/invoices``, the monthly run, the issuer's details and customer accounts.

Invoices are scoped like CDRs: staff see all, a fleet manager their organization's, a
driver their own receipts. Billing managers (admin, operator) set the issuer's details
and customer accounts, run a month and issue credit notes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.billing import accounts, cdrs, documents, invoices
from chargeops.billing.invoice_schemas import (
    AccountIn,
    AccountOut,
    CreditNoteIn,
    InvoiceDetail,
    InvoiceOut,
    IssuerIn,
    IssuerOut,
    RunIn,
    RunOut,
)
from chargeops.billing.models import Invoice
from chargeops.core.access import Permission, Principal
from chargeops.core.errors import NotFound
from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, before_id, newest_first
from chargeops.storage.http import DbSession, requires, writer_of
from chargeops.storage.writer import Work

router = APIRouter(tags=["invoices"])
Reader = Annotated[Principal, requires(Permission.INVOICES_READ)]
Manager = Annotated[Principal, requires(Permission.BILLING_MANAGE)]
# the HTML invoice is a document of its own: its styles are inline and it runs no script
_DOCUMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


# --------------------------------------------------------------------------- issuer, accounts


@router.get("/billing/issuer", response_model=IssuerOut, summary="The operator's legal details")
async def get_issuer(db: DbSession, principal: Manager) -> IssuerOut:
    issuer = await accounts.get_issuer(db)
    if issuer is None:
        raise NotFound("the operator's legal details are not set yet: PUT them here")
    return IssuerOut.of(issuer)


@router.put(
    "/billing/issuer",
    response_model=IssuerOut,
    summary="Set the operator's legal details printed on invoices (issued ones keep theirs)",
)
async def set_issuer(body: IssuerIn, request: Request, principal: Manager) -> IssuerOut:
    async def unit(w: Work) -> IssuerOut:
        return IssuerOut.of(await accounts.set_issuer(w.session, body.model_dump()))

    return await writer_of(request).submit(unit)


@router.get(
    "/billing/accounts", response_model=list[AccountOut], summary="Customer billing accounts"
)
async def list_accounts(db: DbSession, principal: Manager) -> list[AccountOut]:
    return [AccountOut.of(a) for a in await accounts.list_accounts(db)]


@router.put(
    "/billing/accounts",
    response_model=AccountOut,
    summary="Set an organization's or a user's invoicing: cycle and the details invoices "
    "are addressed to",
)
async def set_account(body: AccountIn, request: Request, principal: Manager) -> AccountOut:
    values = body.model_dump(exclude={"organization_id", "user_id"})

    async def unit(w: Work) -> AccountOut:
        account = await accounts.set_account(
            w.session,
            organization_id=body.organization_id,
            user_id=body.user_id,
            values=values,
        )
        return AccountOut.of(account)

    return await writer_of(request).submit(unit)


@router.delete(
    "/billing/accounts/{account_id}",
    status_code=204,
    response_class=Response,
    summary="Remove an account: its customer is invoiced by the defaults again",
)
async def remove_account(account_id: int, request: Request, principal: Manager) -> Response:
    async def unit(w: Work) -> None:
        await accounts.remove_account(w.session, account_id)

    await writer_of(request).submit(unit)
    return Response(status_code=204)


# --------------------------------------------------------------------------- runs


@router.post(
    "/billing/runs",
    response_model=RunOut,
    summary="Issue a month's invoices (default: last month); running it again issues "
    "only what was not issued",
)
async def run_month(body: RunIn, request: Request, principal: Manager) -> RunOut:
    writer = writer_of(request)

    def transact(fn: Callable[[AsyncSession], Awaitable[Any]]) -> Awaitable[Any]:
        return writer.submit(lambda w: fn(w.session))

    return RunOut.of(await invoices.run_month(transact, body.month))


# --------------------------------------------------------------------------- invoices


@router.get("/invoices", response_model=Page[InvoiceOut], summary="Invoices, newest first")
async def list_invoices(
    db: DbSession,
    principal: Reader,
    kind: Annotated[Literal["invoice", "credit_note"] | None, Query()] = None,
    period: Annotated[str | None, Query(description="a month, 2026-10")] = None,
    customer: Annotated[
        str | None, Query(description='the customer key, "org:5", "user:7" or "tag:ABC"')
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[InvoiceOut]:
    rows = await invoices.list_invoices(
        db,
        principal,
        kind=kind,
        period=period,
        customer=customer,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return newest_first(rows, limit, InvoiceOut.of, lambda r: r.id)


async def _document(db: AsyncSession, principal: Principal, invoice_id: int) -> Any:
    invoice = await invoices.get_invoice(db, principal, invoice_id)
    credits: Invoice | None = None
    if invoice.credits_invoice_id is not None:
        credits = await db.get(Invoice, invoice.credits_invoice_id)
    lines = await invoices.lines_of(db, invoice.id)
    signed = await invoices.signed_data_of(db, lines)
    return invoice, documents.view_of(invoice, lines, credits.number if credits else None, signed)


@router.get(
    "/invoices/{invoice_id}.pdf",
    response_class=Response,
    summary="The invoice as a PDF",
    responses={200: {"content": {"application/pdf": {}}}},
)
async def invoice_pdf(invoice_id: int, db: DbSession, principal: Reader) -> Response:
    invoice, view = await _document(db, principal, invoice_id)
    # a fleet's month is thousands of lines (about 2 s per 1,000 on this machine): drawn
    # beside the event loop, so chargers' messages are not held up meanwhile
    pdf = await asyncio.to_thread(documents.render_pdf, view)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'},
    )


@router.get(
    "/invoices/{invoice_id}.html",
    response_class=Response,
    summary="The invoice as a web page (prints like the PDF)",
    responses={200: {"content": {"text/html": {}}}},
)
async def invoice_html(invoice_id: int, db: DbSession, principal: Reader) -> Response:
    _, view = await _document(db, principal, invoice_id)
    return Response(
        await asyncio.to_thread(documents.render_html, view),
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": _DOCUMENT_CSP},
    )


@router.get(
    "/invoices/{invoice_id}",
    response_model=InvoiceDetail,
    summary="One invoice with its lines and the credit notes correcting it",
)
async def get_invoice(invoice_id: int, db: DbSession, principal: Reader) -> InvoiceDetail:
    invoice = await invoices.get_invoice(db, principal, invoice_id)
    lines = await invoices.lines_of(db, invoice.id)
    return InvoiceDetail.full(invoice, lines, await invoices.credit_notes_of(db, invoice.id))


@router.post(
    "/invoices/{invoice_id}/credit-note",
    response_model=InvoiceDetail,
    status_code=201,
    summary="Cancel every session of an invoice not credited yet, with a credit CDR each "
    "and one credit note; 409 when nothing is left to credit",
)
async def credit_invoice(
    invoice_id: int, body: CreditNoteIn, request: Request, principal: Manager
) -> InvoiceDetail:
    async def unit(w: Work) -> InvoiceDetail:
        note = await cdrs.credit_invoice(w, invoice_id, body.reason)
        return InvoiceDetail.full(note, await invoices.lines_of(w.session, note.id), [])

    return await writer_of(request).submit(unit)
