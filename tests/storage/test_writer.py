"""Group commit: answers only after commit, one bad unit never costs another its data."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chargeops import migrations
from chargeops.bus import MemoryBus
from chargeops.core.events import DomainEvent, StationDisconnected
from chargeops.stations.models import Station
from chargeops.storage.engine import create_engine, session_factory
from chargeops.storage.writer import GroupCommitWriter, Work, WriterClosed


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrations.upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


def add_station(station_id: str, *, fail: bool = False):  # type: ignore[no-untyped-def]
    async def unit(work: Work) -> str:
        work.session.add(Station(id=station_id, created_at=datetime.now(UTC), online=False))
        work.emit(StationDisconnected(station_id, datetime.now(UTC)))
        if fail:
            raise ValueError(f"unit for {station_id} fails")
        return station_id

    return unit


async def stored(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list((await session.execute(select(Station.id).order_by(Station.id))).scalars())


async def test_results_arrive_after_the_data_is_committed(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    writer = GroupCommitWriter(engine)
    writer.start()

    async def unit(work: Work) -> int:
        work.session.add(Station(id="S1", created_at=datetime.now(UTC), online=False))
        await work.session.flush()
        # another connection must not see it yet: nothing is committed before we return
        async with sessions() as other:
            return int(
                (await other.execute(select(func.count()).select_from(Station))).scalar_one()
            )

    seen_inside = await writer.submit(unit)
    assert seen_inside == 0
    assert await stored(sessions) == ["S1"]
    await writer.stop()


async def test_a_failing_unit_does_not_take_its_batch_down(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    published: list[DomainEvent] = []
    writer = GroupCommitWriter(engine, on_commit=published.extend, max_batch=64)
    writer.start()
    units = [add_station(f"S{i:02d}", fail=(i == 5)) for i in range(12)]
    results = await asyncio.gather(*(writer.submit(u) for u in units), return_exceptions=True)
    await writer.stop()
    assert isinstance(results[5], ValueError)
    assert [r for i, r in enumerate(results) if i != 5] == [
        f"S{i:02d}" for i in range(12) if i != 5
    ]
    assert await stored(sessions) == [f"S{i:02d}" for i in range(12) if i != 5]
    # the failed unit's facts never go out; the others' go out once each
    assert sorted(e.station_id for e in published) == [f"S{i:02d}" for i in range(12) if i != 5]


async def test_duplicate_key_fails_only_the_duplicate(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    writer = GroupCommitWriter(engine)
    writer.start()
    results = await asyncio.gather(
        writer.submit(add_station("A")),
        writer.submit(add_station("A")),
        writer.submit(add_station("B")),
        return_exceptions=True,
    )
    await writer.stop()
    assert results[0] == "A" and results[2] == "B"
    assert isinstance(results[1], Exception)
    assert await stored(sessions) == ["A", "B"]


async def test_stop_finishes_what_was_submitted_then_refuses_more(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    writer = GroupCommitWriter(engine)
    writer.start()
    pending = [asyncio.create_task(writer.submit(add_station(f"S{i}"))) for i in range(20)]
    await asyncio.sleep(0)
    await writer.stop()
    assert [t.result() for t in pending] == [f"S{i}" for i in range(20)]
    assert len(await stored(sessions)) == 20
    with pytest.raises(WriterClosed):
        await writer.submit(add_station("late"))


async def test_events_reach_bus_subscribers_after_commit(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = MemoryBus()
    seen: list[tuple[str, list[str]]] = []

    async def on_disconnect(event: DomainEvent) -> None:
        seen.append((event.station_id, await stored(sessions)))

    bus.subscribe(StationDisconnected, on_disconnect)
    writer = GroupCommitWriter(engine, on_commit=bus.publish)
    writer.start()
    await writer.submit(add_station("X"))
    await writer.stop()
    await bus.drain()
    assert seen == [("X", ["X"])]  # the subscriber already sees the committed row


def _wal_frames(path: str) -> tuple[int, int]:
    """(frames in the WAL, frames of them already copied into the database file)."""
    with sqlite3.connect(path) as db:
        _busy, log_frames, checkpointed = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return log_frames, checkpointed


async def test_sqlite_wal_is_checkpointed_beside_the_writer(sqlite_url: str) -> None:
    # The writer's own commits never checkpoint (that stalled every charger under load);
    # the checkpointer beside it must keep the WAL from growing without end, and leave
    # everything in the database file when the writer stops.
    engine = create_engine(sqlite_url)
    await migrations.upgrade(engine)
    path = make_url(sqlite_url).database
    assert path is not None
    writer = GroupCommitWriter(engine)
    writer.start()
    try:
        for batch in range(3):
            await asyncio.gather(
                *(writer.submit(add_station(f"WAL-{batch}-{i}")) for i in range(200))
            )
            await asyncio.sleep(1.1)  # the checkpointer runs at most once a second
        await writer.submit(add_station("WAL-last"))
        await asyncio.sleep(0.2)
        with sqlite3.connect(path) as db:
            autocheckpoint = db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert autocheckpoint == 1000  # other connections (the CLI) keep SQLite's default
    finally:
        await writer.stop()
        await engine.dispose()
    log_frames, checkpointed = _wal_frames(path)
    assert log_frames == checkpointed
    async with session_factory(create_engine(sqlite_url))() as session:
        count = await session.scalar(select(func.count()).select_from(Station))
    assert count == 601


async def test_the_event_loop_runs_while_sqlite_commits(sqlite_url: str) -> None:
    # A commit waits for the disk; chargers must still be read and answered meanwhile.
    engine = create_engine(sqlite_url)
    await migrations.upgrade(engine)
    writer = GroupCommitWriter(engine)
    writer.start()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        for i in range(20):
            await writer.submit(add_station(f"LOOP-{i}"))
    finally:
        task.cancel()
        await writer.stop()
        await engine.dispose()
    # at least one tick per commit beyond the submit/answer hand-offs themselves
    assert ticks > 40
