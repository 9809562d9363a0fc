"""Reading notifications: a person's console inbox, and the delivery log staff use to
see who was told what, when, and why a message did not arrive."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.alerts.models import DeliveryAttempt, Notification
from chargeops.core.errors import NotFound
from chargeops.storage.writer import Work


async def list_notifications(
    db: AsyncSession,
    *,
    user_id: int | None = None,
    channel: str | None = None,
    status: str | None = None,
    incident_id: int | None = None,
    unread: bool = False,
    before_id: int | None = None,
    limit: int,
) -> Sequence[Notification]:
    """Newest first; ``unread`` keeps those not marked read."""
    stmt = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(Notification.user_id == user_id)
    if channel is not None:
        stmt = stmt.where(Notification.channel == channel)
    if status is not None:
        stmt = stmt.where(Notification.status == status)
    if incident_id is not None:
        stmt = stmt.where(Notification.incident_id == incident_id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    return (await db.scalars(stmt)).all()


async def get_notification(
    db: AsyncSession, notification_id: int, *, user_id: int | None = None
) -> Notification:
    """The notification; with ``user_id``, only if it is theirs (another person's is
    NotFound like a missing one, so ids do not tell what exists)."""
    row = await db.get(Notification, notification_id)
    if row is None or (user_id is not None and row.user_id != user_id):
        raise NotFound(f"notification {notification_id} does not exist")
    return row


async def attempts_of(db: AsyncSession, notification_id: int) -> Sequence[DeliveryAttempt]:
    stmt = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.notification_id == notification_id)
        .order_by(DeliveryAttempt.id)
    )
    return (await db.scalars(stmt)).all()


async def mark_read(
    work: Work, user_id: int, notification_id: int, *, now: datetime
) -> Notification:
    """Mark one of the person's notifications read (again: it keeps the first time)."""
    row = await get_notification(work.session, notification_id, user_id=user_id)
    if row.read_at is None:
        row.read_at = now
        await work.session.flush()
    return row


async def mark_all_read(work: Work, user_id: int, *, now: datetime) -> int:
    """Mark every unread console notification of the person read; how many were."""
    result = await work.session.execute(
        update(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.channel == "console",
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def count_since(db: AsyncSession, user_id: int, event: str, since: datetime) -> int:
    """How many notifications of ``event`` the person got since ``since`` (rate limits)."""
    stmt = select(func.count()).where(
        Notification.user_id == user_id,
        Notification.event == event,
        Notification.created_at >= since,
    )
    return int((await db.execute(stmt)).scalar_one())


async def count_unread(db: AsyncSession, user_id: int) -> int:
    """How many console notifications the person has not marked read (the console's
    bell)."""
    stmt = select(func.count()).where(
        Notification.user_id == user_id,
        Notification.channel == "console",
        Notification.read_at.is_(None),
    )
    return int((await db.execute(stmt)).scalar_one())
