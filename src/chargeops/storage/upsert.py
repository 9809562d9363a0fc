"""INSERT ... ON CONFLICT DO NOTHING on both databases: how retried data is stored once."""

from __future__ import annotations

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
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    table: Any = model.__table__
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(list(rows)).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).values(list(rows)).on_conflict_do_nothing()
    result = await session.execute(stmt)
    return max(int(getattr(result, "rowcount", 0) or 0), 0)
