"""Shared fixtures: real databases (SQLite and PostgreSQL), a real server, real chargers.

Every test that takes ``database_url`` runs twice, once per database. PostgreSQL must be
reachable (127.0.0.1:5432, or CHARGEOPS_TEST_POSTGRES_URL): without it the run stops
with an error instead of quietly testing less.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from chargeops.storage.engine import create_engine

PG_ADMIN_URL = os.environ.get(
    "CHARGEOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_PG_DB = f"chargeops_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _pg_url(database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{database}"


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{_PG_DB}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.exit(
            f"PostgreSQL is required for the test suite and is not reachable at "
            f"{PG_ADMIN_URL}: {exc}. Start it (see README) or set CHARGEOPS_TEST_POSTGRES_URL.",
            returncode=3,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{_PG_DB}" WITH (FORCE)'))


async def _truncate_postgres(url: str) -> None:
    """Empty every table (the schema stays migrated): a clean database for each test."""
    from chargeops import migrations

    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
        async with engine.begin() as conn:
            tables = (
                (
                    await conn.execute(
                        text(
                            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                            "AND tablename <> 'alembic_version'"
                        )
                    )
                )
                .scalars()
                .all()
            )
            if tables:
                names = ", ".join(f'"{t}"' for t in tables)
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'chargeops.db'}"
    url = _pg_url(_PG_DB)
    await _truncate_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'chargeops.db'}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    yield free_port(), free_port()


@pytest.fixture
async def server(database_url: str, ports: tuple[int, int]) -> AsyncIterator[object]:
    from tests.harness import RunningServer

    srv = RunningServer(database_url, *ports)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()
