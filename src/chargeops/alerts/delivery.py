"""The dispatcher: sends what the outbox holds, after the commit, and logs each try.

One run (:meth:`Dispatcher.send_due`: the scheduler's job, and started at once when
notifications are queued) takes due notifications oldest first, a few at a time:

1. claims them in one short transaction (``UPDATE ... SET status='sending' WHERE id IN
   (...) AND still due RETURNING id``), so two dispatchers, in this process or another,
   never both get a row; a claim lapses after ``claim_s``, so rows held by a process
   that died are sent by another;
2. sends them concurrently, outside any transaction (SMTP and HTTP take seconds);
3. records each outcome: a :class:`DeliveryAttempt` (the delivery log) and the status.

What may pass (a 5xx, a timeout, a temporary SMTP reply) is retried with
:class:`~chargeops.integrations.webhook.Backoff`, honouring ``Retry-After``; the rest
fails at once with the reason in words. Delivery is at least once: a process that dies
between sending and recording sends again once its claim lapses, with the same delivery
id, which a webhook receiver uses to drop the repeat.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import ColumnElement

from chargeops.alerts.models import DeliveryAttempt, Notification
from chargeops.alerts.outbox import LINK, NotificationsQueued
from chargeops.bus import Bus
from chargeops.core.clock import format_timestamp, utcnow
from chargeops.core.errors import DeliveryFailed, InvalidInput
from chargeops.core.events import DomainEvent
from chargeops.integrations.sms import SmsGatewayConfig, send_sms
from chargeops.integrations.smtp import Email, SmtpConfig, send_email
from chargeops.integrations.webhook import Attempt, Backoff, WebhookTarget, post_webhook
from chargeops.storage.jobs import Scheduler
from chargeops.storage.writer import GroupCommitWriter, Work, WriterClosed

log = logging.getLogger(__name__)

NO_SMTP = "no SMTP server is configured: set CHARGEOPS_SMTP_HOST"
NO_SMS = "no SMS gateway is configured: set CHARGEOPS_SMS_URL"


@dataclass(frozen=True)
class DeliveryConfig:
    """How to reach people. Without ``smtp`` (or ``sms``) those notifications fail at
    once, saying so, rather than waiting for a server that is not coming.

    ``batch`` notifications are claimed and sent together, at most ``max_per_run`` per
    run; ``claim_s`` must exceed the longest send (SMTP and HTTP timeouts).
    """

    smtp: SmtpConfig | None = None
    sms: SmsGatewayConfig | None = None
    backoff: Backoff = field(default_factory=Backoff)
    batch: int = 10
    max_per_run: int = 500
    claim_s: float = 300.0
    webhook_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class _Claimed:
    """What sending needs, read in the claiming transaction (no ORM object outlives it)."""

    id: int
    delivery_id: str
    user_id: int | None
    incident_id: int | None
    station_id: str | None
    channel: str
    address: str
    secret: str | None
    event: str
    severity: str | None
    subject: str
    body: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime

    @property
    def link(self) -> str | None:
        value = self.payload.get(LINK)
        return value if isinstance(value, str) and value else None


_COLUMNS = [getattr(Notification, f.name) for f in fields(_Claimed)]


def _due(now: datetime) -> ColumnElement[bool]:
    waiting = and_(
        Notification.status.in_(("pending", "deferred")),
        or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
    )
    lapsed = and_(Notification.status == "sending", Notification.next_attempt_at <= now)
    return or_(waiting, lapsed)


class Dispatcher:
    """Sends due notifications; see the module's docstring for how."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        sessions: async_sessionmaker[AsyncSession],
        config: DeliveryConfig = DeliveryConfig(),
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``client`` posts webhooks and SMS (default: one of our own, closed at
        :meth:`stop`); ``clock`` stamps attempts and signatures, while ``send_due``'s
        ``now`` decides what is due and when to retry."""
        self._writer = writer
        self._sessions = sessions
        self.config = config
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def install(
        self, bus: Bus, scheduler: Scheduler, *, every: timedelta = timedelta(seconds=5)
    ) -> None:
        """Send at once what is queued in this process, and every ``every`` what is due
        (retries, the end of quiet hours, what other processes queued)."""
        bus.subscribe(NotificationsQueued, self.on_queued)
        scheduler.add("alerts.notifications", every, self.send_due)

    def start(self) -> None:
        self._task = asyncio.create_task(self._wake_loop(), name="notification-dispatcher")

    def wake(self) -> None:
        """Ask for a run soon; calls while one runs make one more run, not one each."""
        self._wakeup.set()

    async def on_queued(self, event: DomainEvent) -> None:
        self.wake()

    async def stop(self) -> None:
        """Finish the send in progress (bounded by the timeouts), then stop; what is
        still due is sent by the next start or another process."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _wake_loop(self) -> None:
        while not self._stopping:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._stopping:
                return
            try:
                await self.send_due(self._clock())
            except WriterClosed:
                return
            except Exception:
                log.exception("sending notifications failed")

    async def send_due(self, now: datetime) -> int:
        """Send what is due at ``now``; how many notifications were tried."""
        tried = 0
        seen: set[int] = set()
        while tried < self.config.max_per_run and not self._stopping:
            room = min(self.config.batch, self.config.max_per_run - tried)
            ids = await self._due_ids(now, room, seen)
            if not ids:
                break
            seen.update(ids)
            until = now + timedelta(seconds=self.config.claim_s)
            claimed = await self._writer.submit(
                functools.partial(_claim, ids=ids, now=now, until=until)
            )
            results = await asyncio.gather(
                *(self._deliver(n, now) for n in claimed), return_exceptions=True
            )
            for result in results:
                if isinstance(result, WriterClosed):
                    raise result
                if isinstance(result, BaseException):
                    log.error("recording a delivery failed", exc_info=result)
            tried += len(claimed)
        return tried

    async def _due_ids(self, now: datetime, limit: int, seen: set[int]) -> list[int]:
        stmt = select(Notification.id).where(_due(now)).order_by(Notification.id).limit(limit)
        if seen:
            stmt = stmt.where(Notification.id.not_in(seen))
        async with self._sessions() as db:
            return list((await db.scalars(stmt)).all())

    async def _deliver(self, n: _Claimed, now: datetime) -> None:
        try:
            attempt = await self._send(n)
        except Exception as exc:  # a bug of ours must not leave the row claimed
            log.exception("sending notification %d failed unexpectedly", n.id)
            attempt = self._failed(f"unexpected error: {exc!r}", retryable=True)
        if not attempt.ok:
            log.info("notification %d on %s: %s", n.id, n.channel, attempt.error)
        record = functools.partial(
            _record, n=n, attempt=attempt, now=now, backoff=self.config.backoff
        )
        await self._writer.submit(record)

    async def _send(self, n: _Claimed) -> Attempt:
        if n.channel == "webhook":
            if not n.secret:
                return self._failed("this webhook has no secret to sign its requests with")
            target = WebhookTarget(n.address, n.secret, self.config.webhook_timeout_s)
            return await post_webhook(
                self._http(),
                target,
                event=n.event,
                delivery_id=n.delivery_id,
                payload=webhook_body(n),
                now=self._clock,
            )
        if n.channel == "email":
            smtp = self.config.smtp
            if smtp is None:
                return self._failed(NO_SMTP)
            return await self._timed(send_email(smtp, email_of(n)))
        if n.channel == "sms":
            if self.config.sms is None:
                return self._failed(NO_SMS)
            try:
                return await send_sms(self._http(), self.config.sms, to=n.address, text=sms_text(n))
            except InvalidInput as exc:
                return self._failed(exc.detail)
        if n.channel == "console":
            return Attempt(self._clock(), None, None, 0, ok=True, retryable=False)
        return self._failed(f"no such channel: {n.channel!r}")

    async def _timed(self, sending: Any) -> Attempt:
        at, started = self._clock(), time.perf_counter()

        def attempt(error: str | None, retryable: bool = False) -> Attempt:
            duration_ms = round((time.perf_counter() - started) * 1000)
            return Attempt(at, None, error, duration_ms, ok=error is None, retryable=retryable)

        try:
            await sending
        except DeliveryFailed as exc:
            return attempt(exc.detail, exc.retryable)
        except InvalidInput as exc:
            return attempt(exc.detail)
        return attempt(None)

    def _failed(self, error: str, *, retryable: bool = False) -> Attempt:
        return Attempt(self._clock(), None, error, 0, ok=False, retryable=retryable)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client


async def _claim(
    work: Work, *, ids: Sequence[int], now: datetime, until: datetime
) -> list[_Claimed]:
    claim = (
        update(Notification)
        .where(Notification.id.in_(ids), _due(now))
        .values(status="sending", next_attempt_at=until)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    read = select(*_COLUMNS).order_by(Notification.id)

    def run(sync: Any) -> list[_Claimed]:
        claimed = list(sync.execute(claim).scalars().all())
        if not claimed:
            return []
        rows = sync.execute(read.where(Notification.id.in_(claimed))).all()
        return [_Claimed(**row._mapping) for row in rows]

    result: list[_Claimed] = await work.session.run_sync(run)
    return result


async def _record(
    work: Work, *, n: _Claimed, attempt: Attempt, now: datetime, backoff: Backoff
) -> None:
    attempts = n.attempts + 1
    work.session.add(
        DeliveryAttempt(
            notification_id=n.id,
            at=attempt.at,
            ok=attempt.ok,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
        )
    )
    values: dict[str, Any]
    if attempt.ok:
        values = {"status": "sent", "sent_at": attempt.at, "next_attempt_at": None}
        values["last_error"] = None
    else:
        delay = None
        if attempt.retryable:
            delay = backoff.delay_after(attempts, retry_after_s=attempt.retry_after_s)
        if delay is not None:
            retry_at = now + timedelta(seconds=delay)
            values = {"status": "pending", "next_attempt_at": retry_at}
        else:
            values = {"status": "failed", "next_attempt_at": None}
        error = attempt.error or "not delivered"
        if attempt.retryable and delay is None:
            error = f"{error} (gave up after {attempts} attempts)"
        values["last_error"] = error
    await work.session.execute(
        update(Notification)
        .where(Notification.id == n.id)
        .values(attempts=attempts, **values)
        .execution_options(synchronize_session=False)
    )


# --- what each channel shows ------------------------------------------------------------


def webhook_body(n: _Claimed) -> dict[str, Any]:
    """The message's payload and the notification's own fields (which win a clash)."""
    return {
        **n.payload,
        "notification_id": n.id,
        "delivery_id": n.delivery_id,
        "event": n.event,
        "subject": n.subject,
        "text": n.body,
        "link": n.link,
        "severity": n.severity,
        "incident_id": n.incident_id,
        "station_id": n.station_id,
        "created_at": format_timestamp(n.created_at),
    }


def email_of(n: _Claimed) -> Email:
    """Plain text with the link at the end, the same as simple HTML, and headers mail
    rules can sort on; ``Auto-Submitted`` keeps vacation replies from answering."""
    link = n.link
    text = n.body if link is None or link in n.body else f"{n.body}\n\n{link}"
    paragraphs = "".join(
        f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in n.body.split("\n\n") if p
    )
    if link is not None and link.startswith(("https://", "http://")):
        href = html.escape(link, quote=True)
        paragraphs += f'<p><a href="{href}">{html.escape(link)}</a></p>'
    headers = {
        "X-Chargeops-Event": n.event,
        "X-Chargeops-Delivery": n.delivery_id,
        "Auto-Submitted": "auto-generated",
    }
    if n.incident_id is not None:
        headers["X-Chargeops-Incident"] = str(n.incident_id)
    if n.station_id:
        headers["X-Chargeops-Station"] = n.station_id
    if n.severity:
        headers["X-Chargeops-Severity"] = n.severity
    return Email(
        to=(n.address,),
        subject=n.subject,
        text=text,
        html=f"<!doctype html><html><body>{paragraphs}</body></html>",
        headers=headers,
    )


def sms_text(n: _Claimed) -> str:
    """Subject, link, then the text: a gateway's length limit cuts the text, not the
    link."""
    lines = [n.subject]
    if n.link is not None and n.link not in n.subject:
        lines.append(n.link)
    if n.body and n.body != n.subject:
        lines.append(n.body)
    return "\n".join(lines)
