"""Migrations: they build exactly the tables the code uses, and carry data forward."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from chargeops import migrations
from chargeops.models import metadata
from chargeops.storage.engine import create_engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _run(engine: AsyncEngine, fn: Any) -> Any:
    async with engine.connect() as connection:
        result = await connection.run_sync(fn)
        await connection.commit()
    return result


def _to(revision: str, *, down: bool = False) -> Any:
    def go(connection: Connection) -> None:
        config = migrations.alembic_config(connection)
        (command.downgrade if down else command.upgrade)(config, revision)

    return go


async def test_the_migrated_schema_is_the_one_the_models_describe(engine: AsyncEngine) -> None:
    await migrations.upgrade(engine)

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    assert await _run(engine, differences) == []


_NOW = "2025-01-01 10:00:00"


async def test_16_connectors_become_evses_with_one_connector(
    engine: AsyncEngine, database_url: str
) -> None:
    # a database from before EVSEs, with a two-connector 1.6 station that charged (the
    # shared PostgreSQL test database is at head: take it back first)
    try:
        await _run(engine, _to("0001"))
        await _run(engine, _to("0001", down=True))
        statements = [
            "INSERT INTO stations (id, registration, online, created_at) "
            f"VALUES ('OLD', 'accepted', false, '{_NOW}')",
            "INSERT INTO connectors (station_id, connector_id, status, error_code, updated_at) "
            f"VALUES ('OLD', 0, 'Available', 'NoError', '{_NOW}'), "
            f"('OLD', 1, 'Available', 'NoError', '{_NOW}'), "
            f"('OLD', 2, 'Charging', 'NoError', '{_NOW}')",
            "INSERT INTO charging_sessions (station_id, ocpp_version, transaction_id, "
            "connector_id, "
            'id_tag, "authorization", status, started_at, meter_start_wh, created_at, updated_at) '
            f"VALUES ('OLD', '1.6', '1', 2, 'TAG', 'Accepted', 'active', '{_NOW}', 0, "
            f"'{_NOW}', '{_NOW}')",
        ]

        def fill(connection: Connection) -> None:
            for statement in statements:
                connection.execute(text(statement))

        await _run(engine, fill)
        await migrations.upgrade(engine)

        def read(connection: Connection) -> tuple[list[Any], list[Any]]:
            connectors = connection.execute(
                text("SELECT evse_id, connector_id, status FROM connectors ORDER BY evse_id")
            ).all()
            sessions = connection.execute(
                text("SELECT evse_id, connector_id FROM charging_sessions")
            ).all()
            return [tuple(r) for r in connectors], [tuple(r) for r in sessions]

        connectors, sessions = await _run(engine, read)
        assert connectors == [(0, 0, "Available"), (1, 1, "Available"), (2, 1, "Charging")]
        assert sessions == [(2, 1)]

        # and back: the downgrade gives the 1.6 numbers back
        await _run(engine, _to("0001", down=True))

        def read_old(connection: Connection) -> list[Any]:
            rows = connection.execute(
                text("SELECT connector_id FROM connectors ORDER BY connector_id")
            ).all()
            return [r[0] for r in rows]

        assert await _run(engine, read_old) == [0, 1, 2]
    finally:
        await _run(engine, lambda c: c.execute(text("DELETE FROM charging_sessions")))
        await migrations.upgrade(engine)  # leave the shared database as the others expect it


async def test_id_tags_stay_unique_ignoring_case_through_every_migration(
    engine: AsyncEngine,
) -> None:
    # SQLite alters tables by copying them and cannot reflect the lower(id_tag) index:
    # a migration that alters id_tokens must make it again (alembic's comparison above
    # cannot see expression indexes on SQLite, so this asks the database itself)
    await migrations.upgrade(engine)
    await _run(engine, _to("0004", down=True))
    await migrations.upgrade(engine)
    insert = text(
        "INSERT INTO id_tokens (id_tag, status, created_at, updated_at) "
        "VALUES (:tag, 'accepted', :now, :now)"
    )
    now = datetime(2025, 1, 1, 10, tzinfo=UTC)
    async with engine.connect() as connection:
        await connection.execute(insert, {"tag": "04ab", "now": now})
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            await connection.execute(insert, {"tag": "04AB", "now": now})
