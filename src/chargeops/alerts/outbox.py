"""The outbox: notifications written in the transaction that decides to notify.

Whoever decides to tell someone (an incident opened or escalated, a session started, a
station back in service) calls :func:`notify_user` or :func:`notify_address` inside its
own unit of work. The rows commit or roll back with that decision: nobody hears of an
incident that was never stored, and nothing decided is lost when the process stops
before sending, because the :class:`~chargeops.alerts.delivery.Dispatcher` sends what is
due after the commit, and again after a restart. These functions never raise for a
recipient's state (disabled, no channels), so notifying cannot undo the caller's work.

A notification's ``status``::

    pending    waiting to be sent, not before ``next_attempt_at``
    deferred   waiting for the end of its person's quiet hours (``next_attempt_at``)
    sending    claimed by a dispatcher; ``next_attempt_at`` is when the claim lapses
    sent       delivered; console notifications are "sent" at once (read in the console)
    failed     given up; ``last_error`` says why in words
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select

from chargeops.alerts.channels import check_address, check_secret, quiet_hours_of, same_address
from chargeops.alerts.models import Notification, NotificationChannel, NotificationSettings
from chargeops.core.errors import InvalidInput
from chargeops.core.events import DomainEvent, NotificationPosted
from chargeops.storage.writer import Work
from chargeops.users.models import User

LINK = "link"  # where a notification's link is kept in its stored payload
_SUBJECT_MAX = 300


@dataclass(frozen=True, slots=True)
class Message:
    """What to tell: the same for every channel, each channel shows what it can.

    ``subject`` is one line (an email's subject, an SMS's first line, the console's
    title); ``text`` the plain body: what happened, where, since when. ``payload`` is
    what a webhook receives (JSON; dates and decimals become strings), besides the
    notification's own fields. ``critical`` messages ignore quiet hours. ``link`` leads
    to the station or incident in the console; emails and SMS add it when ``text`` does
    not contain it.
    """

    event: str  # incident.opened, incident.escalated, session.started, ...
    subject: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None
    critical: bool = False
    incident_id: int | None = None
    station_id: str | None = None
    link: str | None = None

    def __post_init__(self) -> None:
        if not self.event or len(self.event) > 48:
            raise InvalidInput(f"a notification's event is 1 to 48 characters: {self.event!r}")
        if not self.subject.strip():
            raise InvalidInput("a notification needs a subject")


@dataclass(frozen=True, slots=True)
class NotificationsQueued(DomainEvent):
    """Notifications wait to be sent: wakes the dispatcher, so they leave within about
    a second instead of at the next run of its job."""

    count: int


def link_of(row: Notification) -> str | None:
    value = row.payload.get(LINK) if isinstance(row.payload, dict) else None
    return value if isinstance(value, str) else None


async def notify_user(
    work: Work, user_id: int, message: Message, *, now: datetime
) -> list[Notification]:
    """One notification per enabled channel of the person, in ``work``'s transaction.

    A person who never set up a channel gets a console notification and an email to
    their account's address: an operator added to an escalation policy hears of an
    incident before visiting their settings. One who has channels but disabled all of
    them gets nothing, as does a disabled or unknown user. Outside critical messages,
    during quiet hours every channel but the console is deferred to their end; the
    console one is always stored, and read when the person looks.
    """
    user = await work.session.get(User, user_id)
    if user is None or user.status != "active":
        return []
    stmt = (
        select(NotificationChannel)
        .where(NotificationChannel.user_id == user_id)
        .order_by(NotificationChannel.id)
    )
    channels = (await work.session.scalars(stmt)).all()
    targets: list[tuple[str, str, str | None]]
    if channels:
        targets = [(c.kind, c.address, c.secret) for c in channels if c.enabled]
    else:
        targets = [("console", "", None), ("email", user.email, None)]
    quiet_end = None
    if not message.critical:
        settings = await work.session.get(NotificationSettings, user_id)
        quiet_hours = quiet_hours_of(settings)
        quiet_end = quiet_hours.ends_after(now) if quiet_hours is not None else None
    rows: list[Notification] = []
    for kind, address, secret in targets:
        if any(n.channel == kind and same_address(kind, n.address, address) for n in rows):
            continue
        later = quiet_end if kind != "console" else None
        rows.append(_new(user_id, kind, address, secret, message, now=now, defer_until=later))
    await _store(work, rows, now)
    return rows


async def notify_address(
    work: Work,
    channel: str,
    address: str,
    message: Message,
    *,
    secret: str | None = None,
    now: datetime,
) -> Notification:
    """A notification to an address of no user: a driver app's webhook (which needs the
    ``secret`` its requests are signed with), an email address, a phone number. Raises
    InvalidInput for an address the channel cannot use."""
    if channel == "console":
        raise InvalidInput("console notifications are for a user: use notify_user")
    address = check_address(channel, address)
    if channel == "webhook":
        if secret is None:
            raise InvalidInput("a webhook notification needs the secret to sign it with")
        check_secret(secret)
    elif secret is not None:
        raise InvalidInput("only a webhook has a secret")
    row = _new(None, channel, address, secret, message, now=now, defer_until=None)
    await _store(work, [row], now)
    return row


async def notify_channel(
    work: Work, channel: NotificationChannel, message: Message, *, now: datetime
) -> Notification:
    """A notification to one channel, enabled or not and whatever the hour: a person
    testing a channel wants to see it work now."""
    row = _new(
        channel.user_id,
        channel.kind,
        channel.address,
        channel.secret,
        message,
        now=now,
        defer_until=None,
    )
    await _store(work, [row], now)
    return row


def _new(
    user_id: int | None,
    channel: str,
    address: str,
    secret: str | None,
    message: Message,
    *,
    now: datetime,
    defer_until: datetime | None,
) -> Notification:
    subject = " ".join(message.subject.split())
    if len(subject) > _SUBJECT_MAX:
        subject = subject[: _SUBJECT_MAX - 1] + "…"
    console = channel == "console"
    status = "sent" if console else "deferred" if defer_until is not None else "pending"
    return Notification(
        delivery_id=str(uuid.uuid4()),
        user_id=user_id,
        incident_id=message.incident_id,
        station_id=message.station_id,
        channel=channel,
        address=address,
        secret=secret,
        event=message.event,
        severity=message.severity,
        subject=subject,
        body=message.text,
        payload={**_jsonable(message.payload), LINK: message.link},
        status=status,
        attempts=0,
        next_attempt_at=None if console else defer_until or now,
        created_at=now,
        sent_at=now if console else None,
    )


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as it will come back from the JSON column (and go to a webhook)."""
    data = orjson.loads(orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS))
    if not isinstance(data, dict):
        raise InvalidInput("a notification's payload is a JSON object")
    return data


async def _store(work: Work, rows: list[Notification], now: datetime) -> None:
    if not rows:
        return
    work.session.add_all(rows)
    await work.session.flush()  # ids, for the events and the caller
    for row in rows:
        if row.channel == "console" and row.user_id is not None:
            work.emit(
                NotificationPosted(
                    station_id=row.station_id or "",
                    occurred_at=now,
                    user_id=row.user_id,
                    notification_id=row.id,
                    subject=row.subject,
                    severity=row.severity,
                    link=link_of(row),
                )
            )
    queued = sum(1 for row in rows if row.status == "pending")
    if queued:
        work.emit(NotificationsQueued(station_id="", occurred_at=now, count=queued))
