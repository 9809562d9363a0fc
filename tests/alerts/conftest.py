"""A real database with a group-commit writer, for the outbox and the dispatcher without a
server: what they write is committed exactly as in production, and the events of each
commit are kept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chargeops import migrations
from chargeops.alerts.models import AlertRule, DeliveryAttempt, Incident, Notification
from chargeops.core.events import DomainEvent
from chargeops.stations import service as stations
from chargeops.storage.engine import create_engine, is_sqlite, session_factory
from chargeops.storage.writer import GroupCommitWriter, Work
from chargeops.users import accounts

T = TypeVar("T")


@dataclass
class Store:
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    writer: GroupCommitWriter
    published: list[DomainEvent] = field(default_factory=list)
    extra_writers: list[GroupCommitWriter] = field(default_factory=list)

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.url)

    async def submit(self, fn: Callable[[Work], Awaitable[T]]) -> T:
        return await self.writer.submit(fn)

    def another_writer(self) -> GroupCommitWriter:
        """A second writer, as a second process has (SQLite has one writer per process:
        there it is the same one)."""
        if self.sqlite:
            return self.writer
        writer = GroupCommitWriter(self.engine, on_commit=self.published.extend)
        writer.start()
        self.extra_writers.append(writer)
        return writer

    async def add_user(self, email: str, roles: str = "operator") -> int:
        async with self.sessions() as db:
            user = await accounts.create_user(db, email, roles=roles)
            await db.commit()
            return user.id

    async def add_incident(self, station_id: str = "CP-1") -> int:
        now = datetime.now(UTC)
        async with self.sessions() as db:
            await stations.register_station(db, station_id)
            rule = AlertRule(
                name=f"faults {station_id}",
                kind="connector_faulted",
                enabled=True,
                severity="major",
                params={},
                auto_resolve=True,
                created_at=now,
                updated_at=now,
            )
            db.add(rule)
            await db.flush()
            incident = Incident(
                rule_id=rule.id,
                station_id=station_id,
                evse_id=1,
                condition="fault:1",
                kind="connector_faulted",
                severity="major",
                title=f"{station_id} EVSE 1 faulted: GroundFailure",
                started_at=now,
                opened_at=now,
                last_fired_at=now,
                occurrences=1,
                level=0,
            )
            db.add(incident)
            await db.commit()
            return incident.id

    async def notifications(self, **where: Any) -> list[Notification]:
        async with self.sessions() as db:
            stmt = select(Notification).filter_by(**where).order_by(Notification.id)
            return list((await db.scalars(stmt)).all())

    async def notification(self, notification_id: int) -> Notification:
        async with self.sessions() as db:
            row = await db.get(Notification, notification_id)
            assert row is not None
            return row

    async def attempts(self, notification_id: int) -> list[DeliveryAttempt]:
        async with self.sessions() as db:
            stmt = (
                select(DeliveryAttempt)
                .where(DeliveryAttempt.notification_id == notification_id)
                .order_by(DeliveryAttempt.id)
            )
            return list((await db.scalars(stmt)).all())


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    engine = create_engine(database_url)
    await migrations.upgrade(engine)
    published: list[DomainEvent] = []
    writer = GroupCommitWriter(engine, on_commit=published.extend)
    writer.start()
    store = Store(database_url, engine, session_factory(engine), writer, published)
    try:
        yield store
    finally:
        for extra in store.extra_writers:
            await extra.stop()
        await writer.stop()
        await engine.dispose()
