"""Periodic jobs that run once across a cluster: each run first takes the job's lease
(a row in ``job_leases``) in the database every process shares, so when several
chargeops processes run the same job list, one of them does each run.

A lease lasts a little longer than the job's interval: a process that dies holding it
is replaced by another after at most that long. Time comes from an injectable clock, and
:meth:`Scheduler.run_due` runs whatever is due now, so tests drive jobs without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import String, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from chargeops.core.clock import utcnow
from chargeops.storage.base import Base
from chargeops.storage.types import UTCDateTime
from chargeops.storage.upsert import insert_ignore_many
from chargeops.storage.writer import GroupCommitWriter, Work, WriterClosed

log = logging.getLogger(__name__)

JobFn = Callable[[datetime], Awaitable[object]]


class JobLease(Base):
    """Who runs a job now, and until when."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(slots=True)
class Job:
    name: str
    every: timedelta
    run: JobFn
    next_at: datetime | None = None
    last_error: str | None = field(default=None)


class Scheduler:
    def __init__(
        self,
        writer: GroupCommitWriter,
        *,
        clock: Callable[[], datetime] = utcnow,
        tick_s: float = 1.0,
        holder: str | None = None,
    ) -> None:
        self._writer = writer
        self._clock = clock
        self._tick = tick_s
        self._jobs: list[Job] = []
        self._task: asyncio.Task[None] | None = None
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"

    def add(self, name: str, every: timedelta, run: JobFn) -> None:
        """Run ``run(now)`` every ``every``, the first time one interval after start: a
        process starting (or restarting in a loop) does not pile every job onto its
        first second, and a crash-looping one does not run them at each start."""
        self._jobs.append(Job(name, every, run, next_at=self._clock() + every))

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run_due(self) -> list[str]:
        """Run every job that is due and whose lease this process gets; their names."""
        ran = []
        for job in self._jobs:
            now = self._clock()
            if job.next_at is not None and now < job.next_at:
                continue
            job.next_at = now + job.every
            try:
                if not await self._lease(job, now):
                    continue
                await job.run(now)
                job.last_error = None
                ran.append(job.name)
            except WriterClosed:
                return ran
            except OperationalError as exc:  # the database busy or away: next turn
                job.last_error = str(exc)
                log.warning("job %s did not run: %s; it runs at its next turn", job.name, exc)
            except Exception as exc:
                job.last_error = str(exc)
                log.exception("job %s failed", job.name)
        return ran

    async def _loop(self) -> None:
        while True:
            await self.run_due()
            await asyncio.sleep(self._tick)

    async def _lease(self, job: Job, now: datetime) -> bool:
        # a bit shorter than the interval, so the holder's next run finds it lapsed
        # or its own; a bit longer would let a dead holder block a whole period
        until = now + job.every * 0.9
        name, holder = job.name, self.holder

        async def take(work: Work) -> bool:
            await insert_ignore_many(
                work.session, JobLease, [{"name": name, "holder": holder, "expires_at": now}]
            )
            taken = await work.scalar(
                update(JobLease)
                .where(
                    JobLease.name == name,
                    (JobLease.holder == holder) | (JobLease.expires_at <= now),
                )
                .values(holder=holder, expires_at=until)
                .returning(JobLease.name)
            )
            return taken is not None

        return await self._writer.submit(take)
