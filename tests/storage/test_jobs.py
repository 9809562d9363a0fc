"""Periodic jobs run once across processes sharing a database: each run takes the job's
lease first (driven by an injected clock, no sleeping)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from chargeops import migrations
from chargeops.storage.engine import create_engine
from chargeops.storage.jobs import Scheduler
from chargeops.storage.writer import GroupCommitWriter

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture
async def writer(database_url: str) -> AsyncIterator[GroupCommitWriter]:
    engine = create_engine(database_url)
    await migrations.upgrade(engine)
    writer = GroupCommitWriter(engine)
    writer.start()
    try:
        yield writer
    finally:
        await writer.stop()
        await engine.dispose()


async def test_two_processes_run_each_turn_of_a_job_once(writer: GroupCommitWriter) -> None:
    now = [T0]
    runs: list[tuple[str, datetime]] = []

    def scheduler(holder: str) -> Scheduler:
        s = Scheduler(writer, clock=lambda: now[0], holder=holder)

        async def job(at: datetime) -> None:
            runs.append((holder, at))

        s.add("report", timedelta(minutes=10), job)
        return s

    a, b = scheduler("a"), scheduler("b")
    assert await a.run_due() == [] and runs == []  # nothing in the first interval
    now[0] = T0 + timedelta(minutes=10)
    assert await a.run_due() == ["report"]
    assert await b.run_due() == []  # a holds the lease for this turn
    now[0] = T0 + timedelta(minutes=20)
    assert await a.run_due() == ["report"]  # its own lease, renewed
    assert await b.run_due() == []
    # a dies; once its lease lapses, b takes over
    now[0] = T0 + timedelta(minutes=30)
    assert await b.run_due() == ["report"]
    assert runs == [
        ("a", T0 + timedelta(minutes=10)),
        ("a", T0 + timedelta(minutes=20)),
        ("b", T0 + timedelta(minutes=30)),
    ]


async def test_a_failing_job_is_logged_and_runs_at_its_next_turn(
    writer: GroupCommitWriter,
) -> None:
    now = [T0]
    calls: list[datetime] = []

    async def flaky(at: datetime) -> None:
        calls.append(at)
        if len(calls) == 1:
            raise RuntimeError("the SMTP server is down")

    s = Scheduler(writer, clock=lambda: now[0], holder="x")
    s.add("flaky", timedelta(minutes=1), flaky)
    now[0] = T0 + timedelta(minutes=1)
    assert await s.run_due() == []
    now[0] = T0 + timedelta(minutes=1, seconds=30)
    assert await s.run_due() == []  # not due yet
    now[0] = T0 + timedelta(minutes=2)
    assert await s.run_due() == ["flaky"]
    assert len(calls) == 2
