"""users, organizations and logins; API keys and id tokens get owners

API keys made before users existed keep working with the admin role (the server default
of the new roles column), as they did.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

import chargeops.storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_UTC = chargeops.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_index(
        "uq_organizations_name_ci", "organizations", [sa.text("lower(name)")], unique=True
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", _UTC, nullable=True),
        sa.Column("last_login_at", _UTC, nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_users_organization_id_organizations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index("uq_users_email_ci", "users", [sa.text("lower(email)")], unique=True)
    op.create_index(op.f("ix_users_organization_id"), "users", ["organization_id"])
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("refresh_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("refreshed_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.Column("revoked_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_login_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
        sa.UniqueConstraint("refresh_hash", name=op.f("uq_login_sessions_refresh_hash")),
    )
    op.create_index(op.f("ix_login_sessions_user_id"), "login_sessions", ["user_id"])
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("roles", sa.String(length=200), server_default="admin", nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_user_id_users"),
            "users",
            ["user_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with _expression_indexes_kept("id_tokens"), op.batch_alter_table("id_tokens") as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("organization_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_id_tokens_user_id_users"),
            "users",
            ["user_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_id_tokens_organization_id_organizations"),
            "organizations",
            ["organization_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("ix_id_tokens_user_id"), ["user_id"])
        batch_op.create_index(batch_op.f("ix_id_tokens_organization_id"), ["organization_id"])


@contextlib.contextmanager
def _expression_indexes_kept(table: str) -> Iterator[None]:
    """SQLite alters a table by copying it, and cannot reflect an index on an expression
    (id tags are unique ignoring case: lower(id_tag)), so the copy would lose it, with a
    warning. The index is made again afterwards; PostgreSQL alters in place."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection")
        yield
    if sqlite and table == "id_tokens":
        op.create_index(
            "uq_id_tokens_id_tag_ci", "id_tokens", [sa.text("lower(id_tag)")], unique=True
        )


def downgrade() -> None:
    with _expression_indexes_kept("id_tokens"), op.batch_alter_table("id_tokens") as batch_op:
        batch_op.drop_index(batch_op.f("ix_id_tokens_organization_id"))
        batch_op.drop_index(batch_op.f("ix_id_tokens_user_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_id_tokens_organization_id_organizations"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_id_tokens_user_id_users"), type_="foreignkey")
        batch_op.drop_column("organization_id")
        batch_op.drop_column("user_id")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_keys_user_id_users"), type_="foreignkey")
        batch_op.drop_column("roles")
        batch_op.drop_column("user_id")
    op.drop_table("login_sessions")
    op.drop_table("users")
    op.drop_table("organizations")
