"""Engines and sessions for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as _create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

log = logging.getLogger(__name__)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def ensure_sqlite_directory(url: str) -> None:
    """Create the folder of a SQLite file on first start (``./var/`` by default)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


WAL_SIZE_LIMIT = 64 * 1024 * 1024


def _sqlite_pragmas(engine: Engine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss, which is what "acknowledged" promises.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # a reset WAL is cut back to this size instead of keeping its largest size forever
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.close()


def create_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """Build the async engine. SQLite gets WAL and a busy timeout so the API can read while
    the gateway writes, and so the CLI can write while the server runs."""
    ensure_sqlite_directory(url)
    if is_sqlite(url):
        engine = _create_async_engine(url, pool_size=pool_size, max_overflow=10)
        _sqlite_pragmas(engine.sync_engine, busy_timeout_ms=10_000)
        return engine
    # writers hold their own connections; the pool serves the API and connecting stations
    return _create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class WriterConnection(Protocol):
    """One connection a group-commit writer keeps for its life."""

    def session(self) -> AsyncSession: ...

    async def commit(self, session: AsyncSession) -> None:
        """Commit ``session`` without holding the event loop while the disk syncs."""
        ...

    @property
    def usable(self) -> bool: ...

    async def close(self) -> None: ...


class _AsyncWriterConnection:
    """PostgreSQL: an asyncpg connection; statements never block the event loop."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    def session(self) -> AsyncSession:
        return AsyncSession(bind=self._connection, expire_on_commit=False, autoflush=False)

    async def commit(self, session: AsyncSession) -> None:
        await session.commit()

    @property
    def usable(self) -> bool:
        return not (self._connection.invalidated or self._connection.closed)

    async def close(self) -> None:
        await self._connection.close()


class _InlineSqliteConnection:
    """SQLite: the stdlib driver, called inline on the event loop, except for the commit.

    aiosqlite runs every statement on a thread of its own; the hop there and back costs
    more than the statement (measured: 635 against 320 µs of CPU for a MeterValues
    committed alone). An SQLite statement is microseconds, so blocking the loop for it is
    cheaper than the hop. The commit is not: with ``synchronous=FULL`` it waits for the
    disk to sync the WAL (and now and then for a checkpoint), milliseconds during which
    no socket would be read, so it runs on a thread of its own, which the driver lets
    run without the GIL. For the same reason the WAL is not checkpointed inside a commit
    (SQLite's default, every 1,000 pages, stalled every writer for up to seconds under
    load) but by :class:`_WalCheckpointer`, beside it. The busy
    timeout is short: another process holding the write lock (a CLI command) must not
    freeze every charger connection for long; a batch that times out fails and its
    chargers resend. A Core statement with RETURNING must be read through
    :meth:`~chargeops.storage.writer.Work.scalar` (inside the sync session).
    """

    BUSY_TIMEOUT_MS = 2_000

    def __init__(self, url: URL) -> None:
        self._engine = _create_sync_engine(
            url.set(drivername="sqlite+pysqlite"),
            poolclass=NullPool,
            # the commit runs on a worker thread; only one thread uses it at a time
            connect_args={"check_same_thread": False},
        )
        _sqlite_pragmas(self._engine, busy_timeout_ms=self.BUSY_TIMEOUT_MS)
        event.listen(self._engine, "connect", _no_autocheckpoint)
        self._connection = self._engine.connect()
        self._checkpointer = _WalCheckpointer(url.database)
        connection = self._connection

        class _Bound(Session):
            def __init__(self, **kw: Any) -> None:
                kw["bind"] = connection
                super().__init__(**kw)

        self._session_class = _Bound

    def session(self) -> AsyncSession:
        return AsyncSession(
            sync_session_class=self._session_class, expire_on_commit=False, autoflush=False
        )

    async def commit(self, session: AsyncSession) -> None:
        await asyncio.to_thread(session.sync_session.commit)
        self._checkpointer.poke()

    @property
    def usable(self) -> bool:
        return not (self._connection.invalidated or self._connection.closed)

    async def close(self) -> None:
        await self._checkpointer.close()
        self._connection.close()
        self._engine.dispose()


def _no_autocheckpoint(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


class _WalCheckpointer:
    """Copies the WAL back into the database file on a thread, beside the writer.

    A PASSIVE checkpoint never waits for the writer and never makes it wait: it copies
    what it can, and the WAL starts again from its beginning once everything in it is
    in the database file. Run at most once every ``every_s`` seconds, after a commit.
    """

    def __init__(self, path: str | None, every_s: float = 1.0) -> None:
        self._path = None if path in (None, "", ":memory:") else path
        self._every = every_s
        self._db: sqlite3.Connection | None = None
        self._task: asyncio.Future[None] | None = None
        self._last = 0.0

    def poke(self) -> None:
        if self._path is None or (self._task is not None and not self._task.done()):
            return
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        self._task = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))

    def _checkpoint(self) -> None:
        try:
            if self._db is None:
                assert self._path is not None
                self._db = sqlite3.connect(self._path, timeout=0, check_same_thread=False)
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # busy or locked: the next poke tries again
            log.debug("WAL checkpoint skipped: %s", exc)

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._db is not None:
            # the last checkpoint, so the database file alone holds everything
            await asyncio.to_thread(self._checkpoint)
            self._db.close()
            self._db = None


async def open_writer_connection(engine: AsyncEngine) -> WriterConnection:
    if engine.dialect.name == "sqlite":
        return _InlineSqliteConnection(engine.url)
    return _AsyncWriterConnection(await engine.connect())


async def hot_path_sessions(
    engine: AsyncEngine, pooled: async_sessionmaker[AsyncSession]
) -> tuple[Callable[[], AsyncSession], WriterConnection | None]:
    """Sessions for short reads on the gateway's hot path (a station connecting).

    On SQLite they run on an inline connection, for the same reason as the writer's; the
    caller closes the returned connection at shutdown. PostgreSQL uses the pool.
    """
    if engine.dialect.name == "sqlite":
        inline = _InlineSqliteConnection(engine.url)
        return inline.session, inline
    return pooled, None
