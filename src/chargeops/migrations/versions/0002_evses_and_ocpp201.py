"""EVSEs, OCPP 2.0.1 transactions, token types, device model

Station -> EVSE -> connector for every version: an OCPP 1.6 connector n becomes EVSE n,
connector 1 (connector 0, the station itself, stays EVSE 0 / connector 0).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chargeops.storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ONE_PER_EVSE = "CASE WHEN connector_id = 0 THEN 0 ELSE 1 END"


def _add_evse(table: str) -> None:
    with op.batch_alter_table(table) as batch_op:
        batch_op.add_column(sa.Column("evse_id", sa.Integer(), nullable=False, server_default="0"))
    op.execute(f"UPDATE {table} SET evse_id = connector_id")


def upgrade() -> None:
    # connectors: the key grows an EVSE
    _add_evse("connectors")
    with op.batch_alter_table("connectors", recreate="always") as batch_op:
        batch_op.drop_constraint("pk_connectors", type_="primary")
        batch_op.create_primary_key("pk_connectors", ["station_id", "evse_id", "connector_id"])
    op.execute(f"UPDATE connectors SET connector_id = {_ONE_PER_EVSE}")

    with op.batch_alter_table("connector_status_changes") as batch_op:
        batch_op.drop_index("uq_connector_status_changes_sample")
    _add_evse("connector_status_changes")
    op.execute(f"UPDATE connector_status_changes SET connector_id = {_ONE_PER_EVSE}")
    with op.batch_alter_table("connector_status_changes") as batch_op:
        batch_op.create_index(
            "uq_connector_status_changes_sample",
            ["station_id", "evse_id", "connector_id", "timestamp", "status", "error_code"],
            unique=True,
        )

    # sessions: EVSE, token type, and what 2.0.1 transactions carry
    with op.batch_alter_table("charging_sessions") as batch_op:
        batch_op.drop_index("uq_charging_sessions_start")
    _add_evse("charging_sessions")
    op.execute(f"UPDATE charging_sessions SET connector_id = {_ONE_PER_EVSE}")
    with op.batch_alter_table("charging_sessions") as batch_op:
        batch_op.alter_column("meter_start_wh", existing_type=sa.BigInteger(), nullable=True)
        batch_op.alter_column("id_tag", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column("id_token_type", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("remote_start_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("charging_state", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("last_seq_no", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_register_wh", sa.BigInteger(), nullable=True))
        for name in ("first_register_at", "last_register_at"):
            batch_op.add_column(
                sa.Column(name, chargeops.storage.types.UTCDateTime(timezone=True), nullable=True)
            )
        batch_op.create_index(
            "uq_charging_sessions_start",
            ["station_id", "evse_id", "started_at", "meter_start_wh"],
            unique=True,
        )

    with op.batch_alter_table("meter_values") as batch_op:
        batch_op.drop_index("uq_meter_values_sample")
    _add_evse("meter_values")
    op.execute(f"UPDATE meter_values SET connector_id = {_ONE_PER_EVSE}")
    with op.batch_alter_table("meter_values") as batch_op:
        batch_op.create_index(
            "uq_meter_values_sample",
            ["station_id", "evse_id", "timestamp", "measurand", "phase", "location", "context"],
            unique=True,
        )

    with op.batch_alter_table("id_tokens") as batch_op:
        batch_op.add_column(sa.Column("type", sa.String(length=20), nullable=True))

    op.create_table(
        "transaction_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("seq_no", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=10), nullable=False),
        sa.Column("trigger_reason", sa.String(length=32), nullable=False),
        sa.Column("timestamp", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("charging_state", sa.String(length=20), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "received_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["charging_sessions.id"],
            name=op.f("fk_transaction_events_session_id_charging_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transaction_events")),
    )
    with op.batch_alter_table("transaction_events") as batch_op:
        batch_op.create_index(
            "uq_transaction_events_seq",
            ["station_id", "transaction_id", "seq_no"],
            unique=True,
        )
        batch_op.create_index("ix_transaction_events_session", ["session_id", "seq_no"])

    op.create_table(
        "station_variables",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("component", sa.String(length=50), nullable=False),
        sa.Column("component_instance", sa.String(length=50), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("variable", sa.String(length=50), nullable=False),
        sa.Column("variable_instance", sa.String(length=50), nullable=False),
        sa.Column("attribute_type", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("mutability", sa.String(length=10), nullable=True),
        sa.Column("persistent", sa.Boolean(), nullable=True),
        sa.Column("constant", sa.Boolean(), nullable=True),
        sa.Column("characteristics", sa.JSON(), nullable=True),
        sa.Column("updated_at", chargeops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_station_variables_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "station_id",
            "component",
            "component_instance",
            "evse_id",
            "connector_id",
            "variable",
            "variable_instance",
            "attribute_type",
            name=op.f("pk_station_variables"),
        ),
    )


def downgrade() -> None:
    op.drop_table("station_variables")
    op.drop_table("transaction_events")
    with op.batch_alter_table("id_tokens") as batch_op:
        batch_op.drop_column("type")
    for table in ("meter_values", "charging_sessions", "connector_status_changes"):
        op.execute(f"UPDATE {table} SET connector_id = evse_id")
    with op.batch_alter_table("meter_values") as batch_op:
        batch_op.drop_index("uq_meter_values_sample")
        batch_op.drop_column("evse_id")
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
    with op.batch_alter_table("charging_sessions") as batch_op:
        batch_op.drop_index("uq_charging_sessions_start")
        for name in (
            "evse_id",
            "id_token_type",
            "remote_start_id",
            "charging_state",
            "last_seq_no",
            "last_register_wh",
            "first_register_at",
            "last_register_at",
        ):
            batch_op.drop_column(name)
        batch_op.create_index(
            "uq_charging_sessions_start",
            ["station_id", "connector_id", "started_at", "meter_start_wh"],
            unique=True,
        )
    with op.batch_alter_table("connector_status_changes") as batch_op:
        batch_op.drop_index("uq_connector_status_changes_sample")
        batch_op.drop_column("evse_id")
        batch_op.create_index(
            "uq_connector_status_changes_sample",
            ["station_id", "connector_id", "timestamp", "status", "error_code"],
            unique=True,
        )
    op.execute("UPDATE connectors SET connector_id = evse_id")
    with op.batch_alter_table("connectors", recreate="always") as batch_op:
        batch_op.drop_constraint("pk_connectors", type_="primary")
        batch_op.drop_column("evse_id")
        batch_op.create_primary_key("pk_connectors", ["station_id", "connector_id"])
