"""Request and response shapes of the invoice API (money as strings, times in UTC)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chargeops.billing.invoices import RunResult
from chargeops.billing.models import BillingAccount, Invoice, InvoiceIssuer, InvoiceLine


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IssuerIn(_In):
    name: str = Field(description="the operator's legal name")
    address: str = Field(description="postal address, one line per line")
    vat_id: str | None = None
    company_id: str | None = Field(None, description="trade register number")
    email: str | None = None
    phone: str | None = None
    website: str | None = None
    bank_details: str | None = Field(None, description="IBAN, BIC, bank: printed for payment")
    payment_terms_days: int = Field(14, description="days to pay a monthly invoice")
    invoice_prefix: str = Field("INV", description="numbers read INV-2026-000001")
    credit_note_prefix: str = Field("CN", description="numbers read CN-2026-000001")
    time_zone: str = Field("UTC", description="IANA zone months and dates are counted in")
    footer: str | None = Field(None, description="legal text printed at the end")


class IssuerOut(BaseModel):
    name: str
    address: str
    vat_id: str | None
    company_id: str | None
    email: str | None
    phone: str | None
    website: str | None
    bank_details: str | None
    payment_terms_days: int
    invoice_prefix: str
    credit_note_prefix: str
    time_zone: str
    footer: str | None
    updated_at: datetime

    @classmethod
    def of(cls, row: InvoiceIssuer) -> IssuerOut:
        return cls.model_validate(row, from_attributes=True)


class AccountIn(_In):
    organization_id: int | None = Field(None, description="the organization's account, or")
    user_id: int | None = Field(None, description="a user's account")
    cycle: Literal["monthly", "session"] | None = Field(
        None,
        description="monthly: one invoice a month; session: a receipt per session "
        "(default: monthly for an organization, session for a user)",
    )
    name: str | None = Field(None, description="legal name on invoices (default: as known)")
    address: str | None = None
    vat_id: str | None = None
    email: str | None = None
    reference: str | None = Field(None, description="their purchase order or customer number")


class AccountOut(BaseModel):
    id: int
    organization_id: int | None
    user_id: int | None
    cycle: str
    name: str | None
    address: str | None
    vat_id: str | None
    email: str | None
    reference: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: BillingAccount) -> AccountOut:
        return cls.model_validate(row, from_attributes=True)


class RunIn(_In):
    month: str | None = Field(
        None,
        pattern=r"^\d{4}-\d{2}$",
        description="the month to invoice, 2026-10; default: the month before this one",
    )


class TaxOut(BaseModel):
    rate: Decimal | None = Field(description="VAT in percent; null: no VAT applicable")
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal


class InvoiceOut(BaseModel):
    id: int
    number: str
    kind: str = Field(description="invoice, or credit_note (corrects credits_invoice_id)")
    credits_invoice_id: int | None
    reason: str | None
    cycle: str = Field(description="session (a receipt) or monthly")
    period: str | None = Field(description="the month invoiced, 2026-10")
    period_start: datetime | None
    period_end: datetime | None
    customer_key: str
    organization_id: int | None
    user_id: int | None
    customer: dict[str, Any]
    currency: str
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    tax_summary: list[TaxOut]
    sessions: int
    energy_wh: int
    time_zone: str
    issued_at: datetime
    due_at: datetime
    pdf_url: str
    html_url: str

    @classmethod
    def of(cls, row: Invoice) -> InvoiceOut:
        fields = {name: getattr(row, name) for name in cls.model_fields if hasattr(row, name)}
        return cls(
            **fields,
            pdf_url=f"/api/v1/invoices/{row.id}.pdf",
            html_url=f"/api/v1/invoices/{row.id}.html",
        )


class LineOut(BaseModel):
    position: int
    cdr_id: int
    session_id: int
    station_id: str
    evse_id: int
    id_tag: str | None
    started_at: datetime
    ended_at: datetime
    energy_wh: int
    duration_s: Decimal
    description: str
    taxes: list[dict[str, Any]]
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal

    @classmethod
    def of(cls, row: InvoiceLine) -> LineOut:
        return cls.model_validate(row, from_attributes=True)


class InvoiceDetail(InvoiceOut):
    issuer: dict[str, Any]
    lines: list[LineOut]
    credit_notes: list[InvoiceOut] = Field(description="credit notes correcting this invoice")

    @classmethod
    def full(
        cls, row: Invoice, lines: list[InvoiceLine], credit_notes: list[Invoice]
    ) -> InvoiceDetail:
        base = InvoiceOut.of(row).model_dump()
        return cls(
            **base,
            issuer=row.issuer,
            lines=[LineOut.of(line) for line in lines],
            credit_notes=[InvoiceOut.of(n) for n in credit_notes],
        )


class CreditNoteIn(_In):
    reason: str = Field(description="why the invoice is corrected (printed on the note)")


class RunOut(BaseModel):
    month: str
    period_start: datetime
    period_end: datetime
    time_zone: str
    invoices: list[InvoiceOut] = Field(description="issued by this run (none when repeated)")
    receipts: int = Field(description="per-session receipts of the month that were owed")
    sessions: int
    totals: dict[str, Decimal] = Field(description="incl. VAT, per currency")

    @classmethod
    def of(cls, result: RunResult) -> RunOut:
        return cls(
            month=result.month.label,
            period_start=result.month.start,
            period_end=result.month.end,
            time_zone=result.month.time_zone,
            invoices=[InvoiceOut.of(i) for i in result.invoices],
            receipts=result.receipts,
            sessions=result.sessions,
            totals=result.totals(),
        )
