"""Tables owned by the billing domain: tariffs, their versions and assignments, CDRs,
customer accounts, the issuer's details and invoices.

Money is kept as exact decimal text (``DecimalText``; in JSON documents, strings), time
as aware UTC, energy as integer Wh.

CDRs are records of what happened and what it cost. They copy what they need (station,
token, owner, times) instead of pointing at rows that may be deleted later, so they keep
no foreign keys to stations, sessions, users or organizations: deleting a station or a
user never deletes or edits a CDR. They do point at the tariff version that priced them,
which is why a tariff a CDR used cannot be deleted.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from chargeops.storage.base import Base
from chargeops.storage.types import DecimalText, UTCDateTime


class Tariff(Base):
    """A named price list. What it charges lives in its versions."""

    __tablename__ = "tariffs"
    __table_args__ = (Index("uq_tariffs_name_ci", text("lower(name)"), unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))  # ISO 4217; every version uses it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TariffVersion(Base):
    """One version of a tariff: an OCPI 2.2.1 Tariff document, in force from
    ``valid_from`` until the next version's ``valid_from``. Never edited: a price change
    is a new version. ``document`` holds every number as a string, exactly as parsed."""

    __tablename__ = "tariff_versions"
    __table_args__ = (
        Index("uq_tariff_versions_number", "tariff_id", "version", unique=True),
        Index("ix_tariff_versions_in_force", "tariff_id", "valid_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tariff_id: Mapped[int] = mapped_column(ForeignKey("tariffs.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per tariff
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TariffAssignment(Base):
    """Where a tariff applies, and to whom.

    ``scope`` is the target: ``default`` (the whole network), ``site`` (``site_id``),
    ``station`` (``station_id``) or ``connector`` (``station_id`` + ``evse_id``). The
    audience narrows it: ``organization_id`` (a customer group: a fleet's cards and its
    members' cards) and/or ``plan`` (a subscription plan's name; plans come with
    payments: until then nobody is on a plan, so such assignments never match a real
    session but can be set up and previewed). ``target`` and ``audience`` are those
    fields as one text each, so that one unique index keeps one tariff per target and
    audience among the assignments in force.

    An assignment is never deleted while its tariff exists: unassigning sets
    ``removed_at``, so that a session is always priced by what was assigned when it
    started, whatever changed since.
    """

    __tablename__ = "tariff_assignments"
    __table_args__ = (
        Index(
            "uq_tariff_assignments_in_force",
            "target",
            "audience",
            unique=True,
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
        Index("ix_tariff_assignments_tariff", "tariff_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tariff_id: Mapped[int] = mapped_column(ForeignKey("tariffs.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))  # default | site | station | connector
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    station_id: Mapped[str | None] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), index=True
    )
    evse_id: Mapped[int | None] = mapped_column(Integer)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    plan: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(120))  # "site:3", "connector:CP-1/2", ...
    audience: Mapped[str] = mapped_column(String(120))  # "" (everyone), "org:5", "plan:gold"
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Cdr(Base):
    """A charge detail record: one session, rated once, never changed.

    ``kind`` is ``original`` (made when the session ended) or ``credit`` (cancels the
    original ``credits_cdr_id``: the same session and volumes, every amount negated).
    One of each per session at most: the unique index on ``(session_id, kind)`` is what
    makes rating idempotent. ``unpriced`` marks a session no tariff applied to: its
    amounts are 0 and ``currency``/``tariff_id`` are null, and it is kept so that no
    session is silently lost.

    ``periods``, ``lines`` and ``summary`` hold the rating (see
    :mod:`chargeops.billing.rating`) as JSON with money as strings; ``signed_meter_data``
    the signed meter values (OCMF, Eichrecht) the charger sent during the session, as
    sent, or null when it sent none.
    """

    __tablename__ = "cdrs"
    __table_args__ = (
        Index("uq_cdrs_session_kind", "session_id", "kind", unique=True),
        Index("uq_cdrs_credits", "credits_cdr_id", unique=True),
        Index("ix_cdrs_ended_at", "ended_at"),
        Index("ix_cdrs_station", "station_id", "id"),
        Index("ix_cdrs_organization", "organization_id"),
        Index("ix_cdrs_user", "user_id"),
        Index("ix_cdrs_billing", "billing", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))  # original | credit
    credits_cdr_id: Mapped[int | None] = mapped_column(ForeignKey("cdrs.id"))
    reason: Mapped[str | None] = mapped_column(Text)  # why a credit was issued
    station_id: Mapped[str] = mapped_column(String(48))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[str | None] = mapped_column(String(36))
    ocpp_version: Mapped[str] = mapped_column(String(8))
    id_tag: Mapped[str | None] = mapped_column(String(64))
    # whose token it was when the session was rated (copied, not referenced)
    organization_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariffs.id"))
    tariff_version_id: Mapped[int | None] = mapped_column(ForeignKey("tariff_versions.id"))
    tariff_version: Mapped[int | None] = mapped_column(Integer)
    tariff_name: Mapped[str | None] = mapped_column(String(200))
    unpriced: Mapped[bool] = mapped_column(Boolean)
    currency: Mapped[str | None] = mapped_column(String(3))
    time_zone: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    energy_wh: Mapped[int] = mapped_column(BigInteger)
    charging_s: Mapped[Decimal] = mapped_column(DecimalText())
    parking_s: Mapped[Decimal] = mapped_column(DecimalText())
    total_excl_vat: Mapped[Decimal] = mapped_column(DecimalText())
    total_incl_vat: Mapped[Decimal] = mapped_column(DecimalText())
    periods: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    signed_meter_data: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # how it is invoiced, decided when it was made (see billing.accounts): "session" (a
    # receipt of its own), "monthly" (the customer's monthly invoice) or "none" (unpriced,
    # or nothing to pay)
    billing: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BillingAccount(Base):
    """A customer's invoicing details: an organization's (a fleet, billed monthly by
    default) or a user's (a driver, billed per session by default). Without an account
    the defaults hold and the invoice names the organization or user as they are."""

    __tablename__ = "billing_accounts"
    __table_args__ = (
        Index("uq_billing_accounts_org", "organization_id", unique=True),
        Index("uq_billing_accounts_user", "user_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    cycle: Mapped[str] = mapped_column(String(8))  # monthly | session
    name: Mapped[str | None] = mapped_column(String(200))  # legal name on the invoice
    address: Mapped[str | None] = mapped_column(Text)
    vat_id: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    reference: Mapped[str | None] = mapped_column(String(100))  # their PO or customer number
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InvoiceIssuer(Base):
    """The operator's legal details, printed on every invoice (one row, id 1). An invoice
    copies them when issued, so a later change never alters an issued invoice."""

    __tablename__ = "invoice_issuer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(Text)
    vat_id: Mapped[str | None] = mapped_column(String(40))
    company_id: Mapped[str | None] = mapped_column(String(100))  # trade register number
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str | None] = mapped_column(String(200))
    bank_details: Mapped[str | None] = mapped_column(Text)  # IBAN, BIC, bank
    payment_terms_days: Mapped[int] = mapped_column(Integer)
    invoice_prefix: Mapped[str] = mapped_column(String(16))
    credit_note_prefix: Mapped[str] = mapped_column(String(16))
    time_zone: Mapped[str] = mapped_column(String(64))  # months and dates on invoices
    footer: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InvoiceCounter(Base):
    """The last number issued in a series ("INV-2026"). Incremented in the transaction
    that issues the invoice, so a failed issue takes its number back: no gaps."""

    __tablename__ = "invoice_counters"

    series: Mapped[str] = mapped_column(String(40), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Invoice(Base):
    """An issued invoice or credit note: numbered, immutable, everything it shows copied
    in (issuer, customer, lines), so it reads the same in ten years.

    ``kind`` is ``invoice`` or ``credit_note`` (``credits_invoice_id``: the invoice it
    corrects). ``cycle`` is ``session`` (one session's receipt) or ``monthly``
    (``period_start``/``period_end`` bound the month, ``period`` names it, "2026-10").
    Amounts are totals of the lines; ``tax_summary`` holds them per VAT rate.
    """

    __tablename__ = "invoices"
    __table_args__ = (
        Index("uq_invoices_number", "number", unique=True),
        Index("ix_invoices_customer", "customer_key", "id"),
        Index("ix_invoices_organization", "organization_id"),
        Index("ix_invoices_user", "user_id"),
        Index("ix_invoices_period", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))  # invoice | credit_note
    credits_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    cycle: Mapped[str] = mapped_column(String(8))  # session | monthly
    period: Mapped[str | None] = mapped_column(String(7))  # "2026-10"
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # whom it is addressed to: "org:5", "user:7" or "tag:ABC123" (a card with no owner)
    customer_key: Mapped[str] = mapped_column(String(80))
    organization_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    customer: Mapped[dict[str, Any]] = mapped_column(JSON)
    issuer: Mapped[dict[str, Any]] = mapped_column(JSON)
    currency: Mapped[str] = mapped_column(String(3))
    total_excl_vat: Mapped[Decimal] = mapped_column(DecimalText())
    total_vat: Mapped[Decimal] = mapped_column(DecimalText())
    total_incl_vat: Mapped[Decimal] = mapped_column(DecimalText())
    tax_summary: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    sessions: Mapped[int] = mapped_column(Integer)
    energy_wh: Mapped[int] = mapped_column(BigInteger)
    time_zone: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InvoiceLine(Base):
    """One session on an invoice: one CDR, invoiced once (the unique index on
    ``cdr_id`` is what makes issuing idempotent, however often a run is repeated)."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        Index("uq_invoice_lines_cdr", "cdr_id", unique=True),
        Index("ix_invoice_lines_invoice", "invoice_id", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    position: Mapped[int] = mapped_column(Integer)
    cdr_id: Mapped[int] = mapped_column(ForeignKey("cdrs.id"))
    session_id: Mapped[int] = mapped_column(Integer)
    station_id: Mapped[str] = mapped_column(String(48))
    evse_id: Mapped[int] = mapped_column(Integer)
    id_tag: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    energy_wh: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[Decimal] = mapped_column(DecimalText())
    description: Mapped[str] = mapped_column(Text)
    # [{"rate": "19" | null, "excl_vat": "...", "vat": "..."}]: one entry per VAT rate
    taxes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    excl_vat: Mapped[Decimal] = mapped_column(DecimalText())
    vat: Mapped[Decimal] = mapped_column(DecimalText())
    incl_vat: Mapped[Decimal] = mapped_column(DecimalText())
