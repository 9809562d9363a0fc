"""monitoring: connectivity now and its history, faults, anomalies, outage exclusions,
and the OCPP message log; leases that make periodic jobs run once across a cluster

New tables only. Stations connected when this runs get their connectivity row the next
time they connect.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chargeops.storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_UTC = chargeops.storage.types.UTCDateTime(timezone=True)
_OPEN = sa.text("cleared_at IS NULL")


def _station(nullable: bool = False) -> sa.Column[str]:
    return sa.Column("station_id", sa.String(length=48), nullable=nullable)


def _station_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["station_id"],
        ["stations.id"],
        name=op.f(f"fk_{table}_station_id_stations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )
    op.create_table(
        "station_connectivity",
        _station(),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("since", _UTC, nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        _station_fk("station_connectivity"),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_station_connectivity")),
    )
    op.create_table(
        "connectivity_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _station(),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        _station_fk("connectivity_changes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connectivity_changes")),
    )
    op.create_index(
        "ix_connectivity_changes_station_at", "connectivity_changes", ["station_id", "at"]
    )
    op.create_table(
        "faults",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _station(),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("condition", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("vendor_code", sa.String(length=255), nullable=True),
        sa.Column("vendor_id", sa.String(length=255), nullable=True),
        sa.Column("info", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("raised_at", _UTC, nullable=False),
        sa.Column("last_reported_at", _UTC, nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("cleared_at", _UTC, nullable=True),
        sa.Column("cleared_by", sa.String(length=254), nullable=True),
        _station_fk("faults"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faults")),
    )
    op.create_index(
        "uq_faults_open",
        "faults",
        ["station_id", "evse_id", "connector_id", "source", "condition"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_index("ix_faults_raised", "faults", ["raised_at"])
    op.create_index("ix_faults_station_raised", "faults", ["station_id", "raised_at"])
    op.create_table(
        "anomalies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _station(),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("detector", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("detected_at", _UTC, nullable=False),
        sa.Column("last_detected_at", _UTC, nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("cleared_at", _UTC, nullable=True),
        _station_fk("anomalies"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomalies")),
    )
    op.create_index(
        "uq_anomalies_open",
        "anomalies",
        ["station_id", "evse_id", "detector"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_index("ix_anomalies_detected", "anomalies", ["detected_at"])
    op.create_index("ix_anomalies_station_detected", "anomalies", ["station_id", "detected_at"])
    op.create_table(
        "outage_exclusions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _station(nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", _UTC, nullable=False),
        sa.Column("ends_at", _UTC, nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        _station_fk("outage_exclusions"),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_outage_exclusions_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outage_exclusions")),
    )
    op.create_index("ix_outage_exclusions_period", "outage_exclusions", ["starts_at", "ends_at"])
    op.create_index(op.f("ix_outage_exclusions_station_id"), "outage_exclusions", ["station_id"])
    op.create_index(op.f("ix_outage_exclusions_site_id"), "outage_exclusions", ["site_id"])
    op.create_table(
        "ocpp_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        _station(),
        sa.Column("at", _UTC, nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("message_type", sa.SmallInteger(), nullable=False),
        sa.Column("unique_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("frame", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocpp_messages")),
    )
    op.create_index("ix_ocpp_messages_station_at", "ocpp_messages", ["station_id", "at"])
    op.create_index("ix_ocpp_messages_at", "ocpp_messages", ["at"])
    op.create_index("ix_ocpp_messages_unique_id", "ocpp_messages", ["station_id", "unique_id"])


def downgrade() -> None:
    for table in (
        "ocpp_messages",
        "outage_exclusions",
        "anomalies",
        "faults",
        "connectivity_changes",
        "station_connectivity",
        "job_leases",
    ):
        op.drop_table(table)
