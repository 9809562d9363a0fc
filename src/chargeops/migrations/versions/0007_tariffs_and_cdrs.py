"""tariffs with their versions and assignments, and charge detail records

New tables only: nothing existing is altered, so no SQLite table copy can cascade into
the tables that reference it (see 0006).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chargeops.storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_UTC = chargeops.storage.types.UTCDateTime(timezone=True)
_DECIMAL = chargeops.storage.types.DecimalText(length=64)
_IN_FORCE = sa.text("removed_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "tariffs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariffs")),
    )
    op.create_index("uq_tariffs_name_ci", "tariffs", [sa.text("lower(name)")], unique=True)

    op.create_table(
        "tariff_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tariff_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", _UTC, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["tariff_id"],
            ["tariffs.id"],
            name=op.f("fk_tariff_versions_tariff_id_tariffs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_versions")),
    )
    op.create_index(
        "uq_tariff_versions_number", "tariff_versions", ["tariff_id", "version"], unique=True
    )
    op.create_index("ix_tariff_versions_in_force", "tariff_versions", ["tariff_id", "valid_from"])

    op.create_table(
        "tariff_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tariff_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("station_id", sa.String(length=48), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("plan", sa.String(length=64), nullable=True),
        sa.Column("target", sa.String(length=120), nullable=False),
        sa.Column("audience", sa.String(length=120), nullable=False),
        sa.Column("valid_from", _UTC, nullable=False),
        sa.Column("removed_at", _UTC, nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["tariff_id"],
            ["tariffs.id"],
            name=op.f("fk_tariff_assignments_tariff_id_tariffs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_tariff_assignments_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_tariff_assignments_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_tariff_assignments_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_assignments")),
    )
    op.create_index(
        "uq_tariff_assignments_in_force",
        "tariff_assignments",
        ["target", "audience"],
        unique=True,
        sqlite_where=_IN_FORCE,
        postgresql_where=_IN_FORCE,
    )
    op.create_index("ix_tariff_assignments_tariff", "tariff_assignments", ["tariff_id"])
    op.create_index(op.f("ix_tariff_assignments_station_id"), "tariff_assignments", ["station_id"])

    op.create_table(
        "cdrs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("credits_cdr_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=True),
        sa.Column("ocpp_version", sa.String(length=8), nullable=False),
        sa.Column("id_tag", sa.String(length=64), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("tariff_id", sa.Integer(), nullable=True),
        sa.Column("tariff_version_id", sa.Integer(), nullable=True),
        sa.Column("tariff_version", sa.Integer(), nullable=True),
        sa.Column("tariff_name", sa.String(length=200), nullable=True),
        sa.Column("unpriced", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("ended_at", _UTC, nullable=False),
        sa.Column("energy_wh", sa.BigInteger(), nullable=False),
        sa.Column("charging_s", _DECIMAL, nullable=False),
        sa.Column("parking_s", _DECIMAL, nullable=False),
        sa.Column("total_excl_vat", _DECIMAL, nullable=False),
        sa.Column("total_incl_vat", _DECIMAL, nullable=False),
        sa.Column("periods", sa.JSON(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("signed_meter_data", sa.JSON(), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["credits_cdr_id"], ["cdrs.id"], name=op.f("fk_cdrs_credits_cdr_id_cdrs")
        ),
        sa.ForeignKeyConstraint(
            ["tariff_id"], ["tariffs.id"], name=op.f("fk_cdrs_tariff_id_tariffs")
        ),
        sa.ForeignKeyConstraint(
            ["tariff_version_id"],
            ["tariff_versions.id"],
            name=op.f("fk_cdrs_tariff_version_id_tariff_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdrs")),
    )
    op.create_index("uq_cdrs_session_kind", "cdrs", ["session_id", "kind"], unique=True)
    op.create_index("uq_cdrs_credits", "cdrs", ["credits_cdr_id"], unique=True)
    op.create_index("ix_cdrs_ended_at", "cdrs", ["ended_at"])
    op.create_index("ix_cdrs_station", "cdrs", ["station_id", "id"])
    op.create_index("ix_cdrs_organization", "cdrs", ["organization_id"])
    op.create_index("ix_cdrs_user", "cdrs", ["user_id"])


def downgrade() -> None:
    op.drop_table("cdrs")
    op.drop_table("tariff_assignments")
    op.drop_table("tariff_versions")
    op.drop_index("uq_tariffs_name_ci", table_name="tariffs")
    op.drop_table("tariffs")
