"""driver notifications: what each driver was told about each session (told once), a
per-person switch for session notifications, and station subscriptions per EVSE

A new table and two new columns with defaults: existing people keep hearing about their
sessions, and existing subscriptions wait for the station as a whole (EVSE 0).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chargeops.storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_UTC = chargeops.storage.types.UTCDateTime(timezone=True)
_WAITING = sa.text("notified_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "session_notices",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["charging_sessions.id"],
            name=op.f("fk_session_notices_session_id_charging_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_session_notices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "kind", name=op.f("pk_session_notices")),
    )
    op.add_column(
        "notification_settings",
        sa.Column("session_notifications", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        "station_subscriptions",
        sa.Column("evse_id", sa.Integer(), server_default="0", nullable=False),
    )
    op.drop_index("uq_station_subscriptions_waiting", table_name="station_subscriptions")
    op.create_index(
        "uq_station_subscriptions_waiting",
        "station_subscriptions",
        ["user_id", "station_id", "evse_id"],
        unique=True,
        sqlite_where=_WAITING,
        postgresql_where=_WAITING,
    )


def downgrade() -> None:
    # two waiting subscriptions to different EVSEs of one station would break the old
    # index: keep the oldest of each person's and station's
    op.execute(
        "DELETE FROM station_subscriptions WHERE notified_at IS NULL AND id NOT IN ("
        "SELECT min(id) FROM station_subscriptions WHERE notified_at IS NULL "
        "GROUP BY user_id, station_id)"
    )
    op.drop_index("uq_station_subscriptions_waiting", table_name="station_subscriptions")
    with op.batch_alter_table("station_subscriptions") as batch_op:
        batch_op.drop_column("evse_id")
    op.create_index(
        "uq_station_subscriptions_waiting",
        "station_subscriptions",
        ["user_id", "station_id"],
        unique=True,
        sqlite_where=_WAITING,
        postgresql_where=_WAITING,
    )
    with op.batch_alter_table("notification_settings") as batch_op:
        batch_op.drop_column("session_notifications")
    op.drop_table("session_notices")
