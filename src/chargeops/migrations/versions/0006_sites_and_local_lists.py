"""sites (stations belong to one), the sites a token may charge at, and the local list
version each station holds

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chargeops.storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_UTC = chargeops.storage.types.UTCDateTime(timezone=True)
_DECIMAL = chargeops.storage.types.DecimalText(length=16)


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("latitude", _DECIMAL, nullable=True),
        sa.Column("longitude", _DECIMAL, nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("opening_hours", sa.JSON(), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_index("uq_sites_name_ci", "sites", [sa.text("lower(name)")], unique=True)
    if op.get_bind().dialect.name == "sqlite":
        # Not a batch copy: SQLite drops the old table with foreign keys on, which would
        # cascade into every station's connectors and sessions. A nullable column with a
        # reference may be added in place.
        op.execute(
            "ALTER TABLE stations ADD COLUMN site_id INTEGER "
            "CONSTRAINT fk_stations_site_id_sites REFERENCES sites (id)"
        )
    else:
        op.add_column("stations", sa.Column("site_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_stations_site_id_sites"),
            "stations",
            "sites",
            ["site_id"],
            ["id"],
        )
    op.create_index(op.f("ix_stations_site_id"), "stations", ["site_id"])
    op.create_table(
        "id_token_sites",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["id_tokens.id"],
            name=op.f("fk_id_token_sites_token_id_id_tokens"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_id_token_sites_site_id_sites"),
        ),
        sa.PrimaryKeyConstraint("token_id", "site_id", name=op.f("pk_id_token_sites")),
    )
    op.create_index(op.f("ix_id_token_sites_site_id"), "id_token_sites", ["site_id"])
    op.create_table(
        "station_local_lists",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=True),
        sa.Column("stale", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_station_local_lists_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_station_local_lists")),
    )


def downgrade() -> None:
    op.drop_table("station_local_lists")
    op.drop_table("id_token_sites")
    op.drop_index(op.f("ix_stations_site_id"), table_name="stations")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE stations DROP COLUMN site_id")  # SQLite 3.35+
    else:
        op.drop_constraint(op.f("fk_stations_site_id_sites"), "stations", type_="foreignkey")
        op.drop_column("stations", "site_id")
    op.drop_index("uq_sites_name_ci", table_name="sites")
    op.drop_table("sites")
