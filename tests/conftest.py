"""Shared fixtures: real databases (SQLite and PostgreSQL), a real server, real chargers.

Every test that takes ``database_url`` runs twice, once per database. PostgreSQL must be
reachable (127.0.0.1:5432, or CHARGEOPS_TEST_POSTGRES_URL): without it the run stops
with an error instead of quietly testing less.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from argon2 import PasswordHasher

from chargeops.storage.engine import create_engine
from chargeops.users import accounts

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


_pg_migrated = False


async def _empty_postgres(url: str) -> None:
    """Empty every table and restart every id (the schema stays migrated): a clean
    database for each test. Deleting rows with foreign keys unchecked takes ~15 ms where
    TRUNCATE of every table takes ~1 s (it makes new files for each); a role that may not
    skip the checks gets the TRUNCATE."""
    global _pg_migrated
    if not _pg_migrated:
        from chargeops import migrations

        engine = create_engine(url)
        try:
            await migrations.upgrade(engine)
        finally:
            await engine.dispose()
        _pg_migrated = True
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = [
            row[0]
            for row in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        sequences = [
            row[0]
            for row in await conn.fetch(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
            )
        ]
        deletes = "".join(f'DELETE FROM "{t}";' for t in tables)
        restarts = "".join(f"SELECT setval('\"{q}\"', 1, false);" for q in sequences)
        try:
            async with conn.transaction():
                await conn.execute(
                    f"SET LOCAL session_replication_role = replica;{deletes}{restarts}"
                )
        except asyncpg.InsufficientPrivilegeError:
            names = ", ".join(f'"{t}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


_sqlite_template: Path | None = None


async def _migrated_sqlite(factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file, made once per test process: each test starts from a
    copy (migrating a new file costs a second or more, and PostgreSQL's tests likewise
    keep the migrated schema and empty its tables). The migrations themselves are tested
    from an empty database in tests/storage/test_migrations.py and by the CLI's tests."""
    global _sqlite_template
    if _sqlite_template is None:
        from chargeops import migrations

        path = factory.mktemp("migrated") / "template.db"
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await migrations.upgrade(engine)
        finally:
            await engine.dispose()  # the last connection folds the WAL into the file
        assert not path.with_name(path.name + "-wal").exists(), "the template kept a WAL"
        _sqlite_template = path
    return _sqlite_template


async def database_for(kind: str, tmp_path: Path, factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database of ``kind`` (sqlite or postgresql) for one test."""
    if kind == "sqlite":
        path = tmp_path / "chargeops.db"
        shutil.copyfile(await _migrated_sqlite(factory), path)
        return f"sqlite+aiosqlite:///{path}"
    url = _pg_url(_PG_DB)
    await _empty_postgres(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    return await database_for(request.param, tmp_path, tmp_path_factory)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'chargeops.db'}"


@pytest.fixture(autouse=True, scope="session")
def _argon2_at_its_lowest_cost() -> None:
    """The server in a test hashes and checks passwords as in production, with argon2id,
    but at its lowest cost: at the production cost each takes ~0.15 s of CPU, and the
    suite creates and logs in hundreds of people. A hash records its own parameters, so
    checking is the same code either way. (The CLI's processes keep the production cost.)"""
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


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
