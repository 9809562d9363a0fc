"""Group commit: answers only after commit, one bad unit never costs another its data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
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
