"""invoices: the issuer's legal details, customer accounts, numbered invoices and credit
notes with a line per CDR; how each CDR is billed

New tables, and one nullable column added to ``cdrs`` in place (no table copy on
SQLite, so nothing that references ``cdrs`` is touched). CDRs made before this revision
have no ``billing``: they are not invoiced (they were made before invoicing existed).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chargeops.storage.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_UTC = chargeops.storage.types.UTCDateTime(timezone=True)
_DECIMAL = chargeops.storage.types.DecimalText(length=64)


def upgrade() -> None:
    op.create_table(
        "invoice_counters",
        sa.Column("series", sa.String(length=40), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("series", name=op.f("pk_invoice_counters")),
    )
    op.create_table(
        "invoice_issuer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("vat_id", sa.String(length=40), nullable=True),
        sa.Column("company_id", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("website", sa.String(length=200), nullable=True),
        sa.Column("bank_details", sa.Text(), nullable=True),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("invoice_prefix", sa.String(length=16), nullable=False),
        sa.Column("credit_note_prefix", sa.String(length=16), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("footer", sa.Text(), nullable=True),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_issuer")),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("credits_invoice_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("cycle", sa.String(length=8), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=True),
        sa.Column("period_start", _UTC, nullable=True),
        sa.Column("period_end", _UTC, nullable=True),
        sa.Column("customer_key", sa.String(length=80), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("customer", sa.JSON(), nullable=False),
        sa.Column("issuer", sa.JSON(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_excl_vat", _DECIMAL, nullable=False),
        sa.Column("total_vat", _DECIMAL, nullable=False),
        sa.Column("total_incl_vat", _DECIMAL, nullable=False),
        sa.Column("tax_summary", sa.JSON(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("energy_wh", sa.BigInteger(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("issued_at", _UTC, nullable=False),
        sa.Column("due_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["credits_invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoices_credits_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
    )
    op.create_index("ix_invoices_customer", "invoices", ["customer_key", "id"], unique=False)
    op.create_index("ix_invoices_organization", "invoices", ["organization_id"], unique=False)
    op.create_index("ix_invoices_period", "invoices", ["period"], unique=False)
    op.create_index("ix_invoices_user", "invoices", ["user_id"], unique=False)
    op.create_index("uq_invoices_number", "invoices", ["number"], unique=True)
    op.create_table(
        "billing_accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("cycle", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("vat_id", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_billing_accounts_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_billing_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_accounts")),
    )
    op.create_index("uq_billing_accounts_org", "billing_accounts", ["organization_id"], unique=True)
    op.create_index("uq_billing_accounts_user", "billing_accounts", ["user_id"], unique=True)
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("cdr_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(length=64), nullable=True),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("ended_at", _UTC, nullable=False),
        sa.Column("energy_wh", sa.BigInteger(), nullable=False),
        sa.Column("duration_s", _DECIMAL, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("taxes", sa.JSON(), nullable=False),
        sa.Column("excl_vat", _DECIMAL, nullable=False),
        sa.Column("vat", _DECIMAL, nullable=False),
        sa.Column("incl_vat", _DECIMAL, nullable=False),
        sa.ForeignKeyConstraint(["cdr_id"], ["cdrs.id"], name=op.f("fk_invoice_lines_cdr_id_cdrs")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
    )
    op.create_index(
        "ix_invoice_lines_invoice", "invoice_lines", ["invoice_id", "position"], unique=False
    )
    op.create_index("uq_invoice_lines_cdr", "invoice_lines", ["cdr_id"], unique=True)
    op.add_column("cdrs", sa.Column("billing", sa.String(length=8), nullable=True))
    op.create_index("ix_cdrs_billing", "cdrs", ["billing", "ended_at"], unique=False)


def downgrade() -> None:
    for table in (
        "invoice_lines",
        "billing_accounts",
        "invoices",
        "invoice_issuer",
        "invoice_counters",
    ):
        op.drop_table(table)
    op.drop_index("ix_cdrs_billing", table_name="cdrs")
    with op.batch_alter_table("cdrs") as batch:
        batch.drop_column("billing")
