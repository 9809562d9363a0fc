"""INSERT ... ON CONFLICT DO NOTHING on both databases: how retried data is stored once."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.storage.base import Base


async def insert_ignore_many(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]]
) -> None:
    """Insert rows, skipping any that a unique index says are already there.

    One constant statement executed with many parameter sets: SQLAlchemy compiles it
    once and batches the rows. How retried data is stored once.
    """
    if not rows:
        return
    await session.execute(_ignore_statement(_dialect(session), model), list(rows))


async def upsert_newer(
    session: AsyncSession,
    model: type[Base],
    row: dict[str, Any],
    *,
    key: tuple[str, ...],
    newer: str,
) -> None:
    """Insert ``row``, or update the stored one only if ``row[newer]`` is not older.

    One statement on both databases; how a state that may arrive out of order (a status
    replayed from a charger's offline queue) only ever moves forward.
    """
    stmt = _upsert_statement(_dialect(session), model, tuple(row), key, newer)
    await session.execute(stmt, row)


def _dialect(session: AsyncSession) -> str:
    return session.sync_session.get_bind().dialect.name


def _insert(dialect: str, model: type[Base]) -> Any:
    table: Any = model.__table__
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# Statements are built once per table: building ON CONFLICT clauses costs more than
# running them.


@functools.cache
def _ignore_statement(dialect: str, model: type[Base]) -> Any:
    return _insert(dialect, model).on_conflict_do_nothing()


@functools.cache
def _upsert_statement(
    dialect: str, model: type[Base], columns: tuple[str, ...], key: tuple[str, ...], newer: str
) -> Any:
    table: Any = model.__table__
    stmt = _insert(dialect, model)
    changes = {name: stmt.excluded[name] for name in columns if name not in key}
    return stmt.on_conflict_do_update(
        index_elements=[table.c[name] for name in key],
        set_=changes,
        where=table.c[newer] <= stmt.excluded[newer],
    )
