"""Group commit: many small units of work, one transaction, then every answer.

A charger's message may be acknowledged only after what it carries is committed. Doing
one commit per message caps throughput at what the disk can fsync; instead, units that
arrive together share one transaction. If any unit of a batch fails, the batch is rolled
back and each unit runs again in a transaction of its own, so one bad message never costs
another its data, and the failing one gets its own exception.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql import Executable

from chargeops.core.events import DomainEvent
from chargeops.storage.base import Base
from chargeops.storage.engine import WriterConnection, open_writer_connection
from chargeops.storage.upsert import insert_ignore_many

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class Work:
    """What a unit of work gets: the open transaction and a place to put facts."""

    session: AsyncSession
    events: list[DomainEvent] = field(default_factory=list)
    # rows to insert at commit, shared by every unit of the batch
    appends: dict[type[Base], list[dict[str, Any]]] = field(default_factory=dict)

    def emit(self, event: DomainEvent) -> None:
        self.events.append(event)

    async def scalar(self, statement: Executable) -> Any:
        """The single value a statement returns, or None (e.g. ``UPDATE ... RETURNING``).

        Consumed inside the sync session, which every writer connection supports (the
        inline SQLite one cannot hand an unbuffered Core result to asyncio code).
        """
        return await self.session.run_sync(
            lambda sync: sync.execute(statement).scalar_one_or_none()
        )

    async def flush_appends(self, model: type[Base]) -> None:
        """Insert the rows appended so far for ``model`` now, for a unit that must read
        them (the inserts skip what is stored, so writing early changes nothing else)."""
        rows = self.appends.pop(model, None)
        if rows:
            await insert_ignore_many(self.session, model, rows)

    def append(self, model: type[Base], rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` (skipping any already stored) just before the commit.

        Rows that many messages carry, like meter samples, then cost one statement per
        batch instead of one per message. Later units of the batch do not read them.
        """
        self.appends.setdefault(model, []).extend(rows)


UnitFn = Callable[[Work], Awaitable[T]]


@dataclass(slots=True)
class _Unit(Generic[T]):
    fn: UnitFn[T]
    future: asyncio.Future[T]
    result: Any = None
    events: list[DomainEvent] = field(default_factory=list)


class WriterClosed(RuntimeError):
    """The writer is stopping and takes no new work."""


class GroupCommitWriter:
    """Runs submitted units in batched transactions on ``writers`` concurrent connections.

    Each writer keeps one connection open for its life (see
    :func:`~chargeops.storage.engine.open_writer_connection`): a pooled connection would
    cost a checkout and a reset round trip per batch. SQLite has one writer at a time anyway, so
    one is right there; PostgreSQL gains from a few. ``on_commit`` receives the events of
    every committed unit, in order.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        writers: int = 1,
        max_batch: int = 256,
        on_commit: Callable[[list[DomainEvent]], None] | None = None,
        observe_commit: Callable[[float, int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._queue: asyncio.Queue[_Unit[Any] | None] = asyncio.Queue()
        self._writers = writers
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._observe_commit = observe_commit
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"db-writer-{i}") for i in range(self._writers)
        ]

    @property
    def backlog(self) -> int:
        """Units submitted and not yet taken into a batch."""
        return self._queue.qsize()

    async def submit(self, fn: UnitFn[T]) -> T:
        """Run ``fn`` in a transaction; return its result once that transaction committed."""
        if self._closed:
            raise WriterClosed("the database writer is shutting down")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Unit(fn, future))
        return await future

    async def stop(self) -> None:
        """Finish everything already submitted, then stop."""
        self._closed = True
        for _ in self._tasks:
            self._queue.put_nowait(None)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _run(self) -> None:
        connection: WriterConnection | None = None
        stopping = False
        try:
            while not stopping:
                first = await self._queue.get()
                if first is None:
                    return
                batch: list[_Unit[Any]] = [first]
                while len(batch) < self._max_batch and not self._queue.empty():
                    item = self._queue.get_nowait()
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                try:
                    if connection is None or not connection.usable:
                        connection = await open_writer_connection(self._engine)
                    await self._commit_batch(connection, batch)
                except Exception as exc:  # the database itself failed: fail the batch
                    log.exception("database write failed")
                    for unit in batch:
                        if not unit.future.done():
                            unit.future.set_exception(exc)
                    if connection is not None:
                        await _discard(connection)
                        connection = None
        finally:
            if connection is not None:
                await _discard(connection)

    async def _commit_batch(self, connection: WriterConnection, batch: list[_Unit[Any]]) -> None:
        # A unit whose caller went away (socket closed) still runs: the charger sent the
        # data, and storing it is idempotent if the charger sends it again.
        started = time.perf_counter()
        if len(batch) > 1:
            session = connection.session()
            try:
                appends: dict[type[Base], list[dict[str, Any]]] = {}
                for unit in batch:
                    # let the event loop read and answer sockets between units: on
                    # SQLite the statements themselves run inline and never yield
                    await asyncio.sleep(0)
                    work = Work(session, appends=appends)
                    unit.result = await unit.fn(work)
                    unit.events = work.events
                    # later units of the batch must see this one's rows
                    await session.flush()
                await _write_appends(session, appends)
                await connection.commit(session)
            except Exception:
                log.debug("batch of %d failed; retrying one by one", len(batch), exc_info=True)
                await session.rollback()
            else:
                self._settle(batch, started)
                return
            finally:
                await session.close()
        for unit in batch:
            await self._commit_one(connection, unit)
        self._observe(started, len(batch))

    async def _commit_one(self, connection: WriterConnection, unit: _Unit[Any]) -> None:
        session = connection.session()
        try:
            work = Work(session)
            unit.result = await unit.fn(work)
            unit.events = work.events
            await _write_appends(session, work.appends)
            await connection.commit(session)
        except Exception as exc:
            await session.rollback()
            if not unit.future.done():
                unit.future.set_exception(exc)
            return
        finally:
            await session.close()
        self._settle([unit], 0.0, observe=False)

    def _settle(self, units: list[_Unit[Any]], started: float, *, observe: bool = True) -> None:
        if observe:
            self._observe(started, len(units))
        events = [event for unit in units for event in unit.events]
        if events and self._on_commit is not None:
            self._on_commit(events)
        for unit in units:
            if not unit.future.done():
                unit.future.set_result(unit.result)

    def _observe(self, started: float, size: int) -> None:
        if self._observe_commit is not None:
            self._observe_commit(time.perf_counter() - started, size)


async def _discard(connection: WriterConnection) -> None:
    try:
        await connection.close()
    except Exception:
        log.debug("closing a broken writer connection failed", exc_info=True)


async def _write_appends(
    session: AsyncSession, appends: dict[type[Base], list[dict[str, Any]]]
) -> None:
    for model, rows in appends.items():
        await insert_ignore_many(session, model, rows)
