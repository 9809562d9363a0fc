"""foundation: stations, sessions, meter values, tokens, api keys

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chargeops.storage.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "last_used_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("revoked_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "id_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id_tag", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("parent_id_tag", sa.String(length=64), nullable=True),
        sa.Column("created_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_id_tokens")),
    )
    # id tags are case-insensitive (OCPP CiString): one token per spelling
    op.create_index("uq_id_tokens_id_tag_ci", "id_tokens", [sa.text("lower(id_tag)")], unique=True)
    op.create_table(
        "stations",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("registration", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("ocpp_version", sa.String(length=8), nullable=True),
        sa.Column("vendor", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("serial_number", sa.String(length=64), nullable=True),
        sa.Column("charge_box_serial_number", sa.String(length=64), nullable=True),
        sa.Column("firmware_version", sa.String(length=64), nullable=True),
        sa.Column("iccid", sa.String(length=32), nullable=True),
        sa.Column("imsi", sa.String(length=32), nullable=True),
        sa.Column("meter_type", sa.String(length=64), nullable=True),
        sa.Column("meter_serial_number", sa.String(length=64), nullable=True),
        sa.Column("firmware_status", sa.String(length=32), nullable=True),
        sa.Column("diagnostics_status", sa.String(length=32), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column(
            "connected_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_boot_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_seen_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stations")),
    )
    op.create_table(
        "charging_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("ocpp_version", sa.String(length=8), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(length=64), nullable=False),
        sa.Column("authorization", sa.String(length=16), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("meter_start_wh", sa.BigInteger(), nullable=False),
        sa.Column("meter_stop_wh", sa.BigInteger(), nullable=True),
        sa.Column("energy_wh", sa.BigInteger(), nullable=True),
        sa.Column("stop_reason", sa.String(length=32), nullable=True),
        sa.Column("stop_id_tag", sa.String(length=64), nullable=True),
        sa.Column("created_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_charging_sessions_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charging_sessions")),
    )
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_charging_sessions_started_at", ["started_at"], unique=False)
        batch_op.create_index("ix_charging_sessions_status", ["status"], unique=False)
        batch_op.create_index(
            "uq_charging_sessions_start",
            ["station_id", "connector_id", "started_at", "meter_start_wh"],
            unique=True,
        )
        batch_op.create_index(
            "uq_charging_sessions_station_tx", ["station_id", "transaction_id"], unique=True
        )

    op.create_table(
        "connector_status_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=False),
        sa.Column("info", sa.String(length=255), nullable=True),
        sa.Column("vendor_id", sa.String(length=255), nullable=True),
        sa.Column("vendor_error_code", sa.String(length=255), nullable=True),
        sa.Column("timestamp", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_connector_status_changes_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_status_changes")),
    )
    with op.batch_alter_table("connector_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            "uq_connector_status_changes_sample",
            ["station_id", "connector_id", "timestamp", "status", "error_code"],
            unique=True,
        )

    op.create_table(
        "connectors",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("info", sa.String(length=255), nullable=True),
        sa.Column("vendor_id", sa.String(length=255), nullable=True),
        sa.Column("vendor_error_code", sa.String(length=255), nullable=True),
        sa.Column("updated_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_connectors_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("station_id", "connector_id", name=op.f("pk_connectors")),
    )
    op.create_table(
        "station_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "occurred_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_station_events_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_events")),
    )
    with op.batch_alter_table("station_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_station_events_station_time", ["station_id", "occurred_at"], unique=False
        )

    op.create_table(
        "meter_values",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("timestamp", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("measurand", sa.String(length=48), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column("location", sa.String(length=8), nullable=False),
        sa.Column("context", sa.String(length=24), nullable=False),
        sa.Column("format", sa.String(length=12), nullable=False),
        sa.Column("value", chargeops.storage.types.DecimalText(length=64), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("raw_value", sa.Text(), nullable=False),
        sa.Column("raw_unit", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["charging_sessions.id"],
            name=op.f("fk_meter_values_session_id_charging_sessions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_meter_values_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_values")),
    )
    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.create_index("ix_meter_values_session", ["session_id", "timestamp"], unique=False)
        batch_op.create_index(
            "uq_meter_values_sample",
            [
                "station_id",
                "connector_id",
                "timestamp",
                "measurand",
                "phase",
                "location",
                "context",
            ],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.drop_index("uq_meter_values_sample")
        batch_op.drop_index("ix_meter_values_session")

    op.drop_table("meter_values")
    with op.batch_alter_table("station_events", schema=None) as batch_op:
        batch_op.drop_index("ix_station_events_station_time")

    op.drop_table("station_events")
    op.drop_table("connectors")
    with op.batch_alter_table("connector_status_changes", schema=None) as batch_op:
        batch_op.drop_index("uq_connector_status_changes_sample")

    op.drop_table("connector_status_changes")
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.drop_index("uq_charging_sessions_station_tx")
        batch_op.drop_index("uq_charging_sessions_start")
        batch_op.drop_index("ix_charging_sessions_status")
        batch_op.drop_index("ix_charging_sessions_started_at")

    op.drop_table("charging_sessions")
    op.drop_table("stations")
    op.drop_index("uq_id_tokens_id_tag_ci", table_name="id_tokens")
    op.drop_table("id_tokens")
    op.drop_table("api_keys")
