"""INSERT ... ON CONFLICT DO NOTHING on both databases: how retried data is stored once."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.storage.base import Base


async def insert_ignore(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]]
) -> int:
    """Insert rows, skipping any that a unique index says are already there.

    Returns how many rows were new.
    """
    if not rows:
        return 0
    dialect = session.sync_session.get_bind().dialect.name
    table: Any = model.__table__
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # One constant statement, executed with many parameter sets: SQLAlchemy compiles it
    # once and batches the rows ("insertmanyvalues"); RETURNING yields only new rows.
    stmt = insert(table).on_conflict_do_nothing().returning(table.primary_key.columns[0])
    params = list(rows)
    # consumed inside the sync session: works the same on every writer connection
    return await session.run_sync(lambda sync: len(sync.execute(stmt, params).all()))


async def insert_ignore_many(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]]
) -> None:
    """Like :func:`insert_ignore` without counting: the cheapest way to store many rows."""
    if not rows:
        return
    dialect = session.sync_session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Any = model.__table__
    await session.execute(insert(table).on_conflict_do_nothing(), list(rows))


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
    dialect = session.sync_session.get_bind().dialect.name
    stmt = _upsert_statement(dialect, model, tuple(row), key, newer)
    await session.execute(stmt, row)


@functools.cache
def _upsert_statement(
    dialect: str, model: type[Base], columns: tuple[str, ...], key: tuple[str, ...], newer: str
) -> Any:
    # Built once: constructing ON CONFLICT ... excluded costs more than running it.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Any = model.__table__
    stmt = insert(table)
    changes = {name: stmt.excluded[name] for name in columns if name not in key}
    return stmt.on_conflict_do_update(
        index_elements=[table.c[name] for name in key],
        set_=changes,
        where=table.c[newer] <= stmt.excluded[newer],
    )
