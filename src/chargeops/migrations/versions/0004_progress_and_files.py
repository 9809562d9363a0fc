"""command progress as rows; files stations upload (diagnostics, logs)

Progress reports were a JSON list on the command; two reports recorded at the same time
(PostgreSQL runs several writers) could each append to the list they read and lose the
other's. They are rows now; existing lists are moved over.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import chargeops.storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_UTC = chargeops.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "command_progress",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("command_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["command_id"],
            ["commands.id"],
            name=op.f("fk_command_progress_command_id_commands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_progress")),
    )
    op.create_index("ix_command_progress_command", "command_progress", ["command_id", "id"])
    _move_progress_to_rows()
    with op.batch_alter_table("commands") as batch_op:
        batch_op.drop_column("progress")

    op.create_table(
        "upload_slots",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("command_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["command_id"],
            ["commands.id"],
            name=op.f("fk_upload_slots_command_id_commands"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_upload_slots_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_upload_slots")),
    )
    op.create_table(
        "station_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("command_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("received_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["command_id"],
            ["commands.id"],
            name=op.f("fk_station_files_command_id_commands"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_station_files_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_files")),
    )
    op.create_index("ix_station_files_station", "station_files", ["station_id", "id"])
    op.create_index(
        op.f("ix_station_files_command_id"), "station_files", ["command_id"], unique=False
    )


def _move_progress_to_rows() -> None:
    commands = sa.table("commands", sa.column("id", sa.Integer), sa.column("progress", sa.JSON))
    progress = sa.table(
        "command_progress",
        sa.column("command_id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("at", _UTC),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(commands.c.id, commands.c.progress).where(commands.c.progress.is_not(None))
    ).all()
    moved = [
        {"command_id": command_id, "status": step["status"], "at": _parse(step["at"])}
        for command_id, steps in rows
        for step in steps or []
    ]
    if moved:
        bind.execute(sa.insert(progress), moved)


def _parse(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def downgrade() -> None:
    op.drop_table("station_files")
    op.drop_table("upload_slots")
    with op.batch_alter_table("commands") as batch_op:
        batch_op.add_column(sa.Column("progress", sa.JSON(), nullable=True))
    op.drop_table("command_progress")
