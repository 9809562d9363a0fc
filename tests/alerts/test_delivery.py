"""The dispatcher sends what the outbox holds to real receivers: an SMTP server
(aiosmtpd) and an HTTP receiver that checks signatures. Retries follow the backoff with
an injected clock, and every try is in the delivery log."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import update

from chargeops.alerts import channels, outbox
from chargeops.alerts.delivery import NO_SMS, NO_SMTP, DeliveryConfig, Dispatcher
from chargeops.alerts.models import Notification
from chargeops.alerts.outbox import Message
from chargeops.bus import MemoryBus
from chargeops.integrations.smtp import SmtpConfig
from chargeops.integrations.webhook import Backoff
from chargeops.storage.jobs import Scheduler
from chargeops.storage.writer import GroupCommitWriter, Work
from tests.alerts.conftest import Store
from tests.conftest import free_port
from tests.integrations.http_receiver import Answer, Receiver, serving

NOW = datetime.now(UTC).replace(microsecond=0)
SECRET = "whsec_test_secret_0123456789"
BACKOFF = Backoff(first_s=10, factor=3, attempts=4, jitter=0)
LINK = "https://console.example.com/stations/CP-1"


def _message(incident_id: int | None = None, **changes: Any) -> Message:
    fields: dict[str, Any] = {
        "event": "incident.opened",
        "subject": "[MAJOR] CP-1 EVSE 1 faulted: GroundFailure",
        "text": "What: GroundFailure on EVSE 1\nWhere: CP-1 at Hafenstraße 1, Hamburg\n"
        "Since: 2026-07-01 09:58 UTC",
        "payload": {"incident": {"id": incident_id, "title": "CP-1 EVSE 1 faulted"}},
        "severity": "major",
        "incident_id": incident_id,
        "station_id": "CP-1",
        "link": LINK,
    } | changes
    return Message(**fields)


async def _queue(store: Store, channel: str, address: str, message: Message, **kw: Any) -> int:
    async def unit(w: Work) -> int:
        row = await outbox.notify_address(w, channel, address, message, now=NOW, **kw)
        return row.id

    return await store.submit(unit)


def _dispatcher(store: Store, writer: GroupCommitWriter | None = None, **config: Any) -> Dispatcher:
    options: dict[str, Any] = {"backoff": BACKOFF} | config
    return Dispatcher(writer or store.writer, store.sessions, DeliveryConfig(**options))


# --- email ------------------------------------------------------------------------------


@dataclass
class Inbox:
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_an_email_says_what_where_since_when_and_links_the_station(
    store: Store, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    incident = await store.add_incident("CP-1")
    notification = await _queue(store, "email", "oncall@example.com", _message(incident))
    config = SmtpConfig(
        host="127.0.0.1", port=port, security="none", sender="chargeops <alerts@example.com>"
    )

    assert await _dispatcher(store, smtp=config).send_due(NOW) == 1

    [(recipients, received)] = inbox.messages
    assert recipients == ["oncall@example.com"]
    assert received["Subject"] == "[MAJOR] CP-1 EVSE 1 faulted: GroundFailure"
    assert received["X-Chargeops-Incident"] == str(incident)
    assert received["X-Chargeops-Station"] == "CP-1"
    assert received["X-Chargeops-Event"] == "incident.opened"
    assert received["Auto-Submitted"] == "auto-generated"
    plain = received.get_body(preferencelist=("plain",))
    rich = received.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    text = plain.get_content()
    assert "What: GroundFailure on EVSE 1" in text
    assert "Where: CP-1 at Hafenstraße 1, Hamburg" in text
    assert "Since: 2026-07-01 09:58 UTC" in text
    assert text.rstrip().endswith(LINK)  # added: the text did not have it
    assert f'<a href="{LINK}">' in rich.get_content()
    row = await store.notification(notification)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    [attempt] = await store.attempts(notification)
    assert attempt.ok and attempt.error is None


async def test_without_an_smtp_server_or_sms_gateway_they_fail_once_and_say_why(
    store: Store,
) -> None:
    by_email = await _queue(store, "email", "oncall@example.com", _message())
    by_sms = await _queue(store, "sms", "+4917012345678", _message())
    dispatcher = _dispatcher(store)

    assert await dispatcher.send_due(NOW) == 2
    assert await dispatcher.send_due(NOW + timedelta(hours=1)) == 0  # not retried

    for notification, reason in ((by_email, NO_SMTP), (by_sms, NO_SMS)):
        row = await store.notification(notification)
        assert row.status == "failed" and row.last_error == reason
        [attempt] = await store.attempts(notification)
        assert not attempt.ok and attempt.error == reason
    assert "CHARGEOPS_SMTP_HOST" in NO_SMTP


# --- webhooks ---------------------------------------------------------------------------


async def test_a_webhook_is_signed_and_retried_with_backoff_until_it_is_taken(
    store: Store,
) -> None:
    receiver = Receiver(script=[Answer(500, "busy"), Answer(502), Answer(200)], secret=SECRET)
    async with serving(receiver):
        notification = await _queue(store, "webhook", receiver.url, _message(), secret=SECRET)
        dispatcher = _dispatcher(store)

        assert await dispatcher.send_due(NOW) == 1
        first = await store.notification(notification)
        assert first.status == "pending" and first.attempts == 1
        assert first.next_attempt_at == NOW + timedelta(seconds=10)
        assert first.last_error == "HTTP 500 Internal Server Error: busy"
        assert await dispatcher.send_due(NOW + timedelta(seconds=9)) == 0  # not yet

        assert await dispatcher.send_due(NOW + timedelta(seconds=10)) == 1
        second = await store.notification(notification)
        assert second.attempts == 2
        assert second.next_attempt_at == NOW + timedelta(seconds=10 + 30)

        assert await dispatcher.send_due(NOW + timedelta(seconds=40)) == 1
        assert await dispatcher.send_due(NOW + timedelta(hours=1)) == 0  # done

    done = await store.notification(notification)
    assert done.status == "sent" and done.attempts == 3 and done.last_error is None
    assert done.next_attempt_at is None and done.sent_at is not None
    log = await store.attempts(notification)
    assert [(a.ok, a.status_code) for a in log] == [(False, 500), (False, 502), (True, 200)]
    assert all(r.signature_ok for r in receiver.received)
    assert {r.headers["x-chargeops-delivery"] for r in receiver.received} == {done.delivery_id}
    assert {r.headers["x-chargeops-event"] for r in receiver.received} == {"incident.opened"}
    body = orjson.loads(receiver.received[-1].body)
    assert body["incident"] == {"id": None, "title": "CP-1 EVSE 1 faulted"}  # the payload
    assert body["notification_id"] == notification
    assert body["delivery_id"] == done.delivery_id
    assert body["subject"] == "[MAJOR] CP-1 EVSE 1 faulted: GroundFailure"
    assert body["text"].startswith("What: GroundFailure")
    assert body["link"] == LINK and body["severity"] == "major"
    assert body["station_id"] == "CP-1" and body["created_at"].endswith("Z")


async def test_a_refusal_fails_at_once_and_a_retry_after_is_honoured(store: Store) -> None:
    refusing = Receiver(script=[Answer(400, "unknown event type")], secret=SECRET)
    limiting = Receiver(script=[Answer(429, headers={"Retry-After": "120"})], secret=SECRET)
    async with serving(refusing), serving(limiting):
        refused = await _queue(store, "webhook", refusing.url, _message(), secret=SECRET)
        limited = await _queue(store, "webhook", limiting.url, _message(), secret=SECRET)
        assert await _dispatcher(store).send_due(NOW) == 2

    row = await store.notification(refused)
    assert row.status == "failed" and row.attempts == 1 and row.next_attempt_at is None
    assert row.last_error == "HTTP 400 Bad Request: unknown event type"
    later = await store.notification(limited)
    assert later.status == "pending"
    assert later.next_attempt_at == NOW + timedelta(seconds=120)  # not the 10 s backoff


async def test_a_receiver_that_keeps_failing_is_given_up(store: Store) -> None:
    receiver = Receiver(script=[Answer(503)], secret=SECRET)
    async with serving(receiver):
        notification = await _queue(store, "webhook", receiver.url, _message(), secret=SECRET)
        dispatcher = _dispatcher(store, backoff=Backoff(first_s=1, factor=1, attempts=2, jitter=0))
        await dispatcher.send_due(NOW)
        await dispatcher.send_due(NOW + timedelta(seconds=1))
    row = await store.notification(notification)
    assert row.status == "failed" and row.attempts == 2
    assert row.last_error == "HTTP 503 Service Unavailable (gave up after 2 attempts)"
    assert len(receiver.received) == 2


async def test_quiet_hours_hold_a_message_until_they_end_but_not_a_critical_one(
    store: Store,
) -> None:
    receiver = Receiver(secret=SECRET)
    user = await store.add_user("ops@example.com")

    async def setup(w: Work) -> None:
        await channels.add_channel(
            w, user, kind="webhook", address=receiver.url, secret=SECRET, now=NOW
        )
        await channels.set_settings(
            w, user, quiet_from="22:00", quiet_until="07:00", time_zone="UTC", now=NOW
        )

    night = datetime(2026, 7, 1, 23, 0, tzinfo=UTC)
    morning = datetime(2026, 7, 2, 7, 0, tzinfo=UTC)
    async with serving(receiver):
        await store.submit(setup)
        await store.submit(lambda w: outbox.notify_user(w, user, _message(), now=night))
        critical = _message(subject="[CRITICAL] site down", critical=True)
        await store.submit(lambda w: outbox.notify_user(w, user, critical, now=night))
        dispatcher = _dispatcher(store)

        assert await dispatcher.send_due(night) == 1
        assert [orjson.loads(r.body)["subject"] for r in receiver.received] == [
            "[CRITICAL] site down"
        ]
        assert await dispatcher.send_due(morning - timedelta(minutes=1)) == 0
        assert await dispatcher.send_due(morning) == 1

    subjects = [orjson.loads(r.body)["subject"] for r in receiver.received]
    assert subjects == ["[CRITICAL] site down", "[MAJOR] CP-1 EVSE 1 faulted: GroundFailure"]
    assert {n.status for n in await store.notifications(user_id=user)} == {"sent"}


async def test_two_dispatchers_at_once_send_each_notification_once(store: Store) -> None:
    receiver = Receiver(script=[Answer(200, delay_s=0.02)], secret=SECRET)
    async with serving(receiver):
        ids = [
            await _queue(store, "webhook", receiver.url, _message(), secret=SECRET)
            for _ in range(12)
        ]
        one = _dispatcher(store, batch=3)
        two = _dispatcher(store, store.another_writer(), batch=3)
        tried = await asyncio.gather(one.send_due(NOW), two.send_due(NOW))

    assert sum(tried) == 12
    deliveries = Counter(r.headers["x-chargeops-delivery"] for r in receiver.received)
    assert len(deliveries) == 12 and set(deliveries.values()) == {1}
    for notification in ids:
        assert (await store.notification(notification)).status == "sent"
        assert len(await store.attempts(notification)) == 1


async def test_a_claim_left_by_a_dead_process_lapses_and_is_sent(store: Store) -> None:
    receiver = Receiver(secret=SECRET)
    async with serving(receiver):
        notification = await _queue(store, "webhook", receiver.url, _message(), secret=SECRET)
        dispatcher = _dispatcher(store, claim_s=300)
        async with store.sessions() as db:  # claimed, then the process died
            await db.execute(
                update(Notification)
                .where(Notification.id == notification)
                .values(status="sending", next_attempt_at=NOW + timedelta(seconds=300))
            )
            await db.commit()
        assert await dispatcher.send_due(NOW + timedelta(seconds=299)) == 0
        assert await dispatcher.send_due(NOW + timedelta(seconds=300)) == 1
    assert (await store.notification(notification)).status == "sent"
    assert len(receiver.received) == 1


async def test_a_queued_notification_leaves_at_once_without_waiting_for_the_job(
    store: Store,
) -> None:
    bus = MemoryBus()
    store.published.clear()
    writer = GroupCommitWriter(store.engine, on_commit=bus.publish)
    writer.start()
    receiver = Receiver(secret=SECRET)
    dispatcher = Dispatcher(writer, store.sessions, DeliveryConfig(backoff=BACKOFF))
    scheduler = Scheduler(writer)  # never started: only the wake-up can send
    dispatcher.install(bus, scheduler)
    dispatcher.start()
    try:
        async with serving(receiver):

            async def unit(w: Work) -> int:
                row = await outbox.notify_address(
                    w, "webhook", receiver.url, _message(), secret=SECRET, now=NOW
                )
                return row.id

            notification = await writer.submit(unit)
            for _ in range(250):  # up to 5 s; it takes milliseconds
                if (await store.notification(notification)).status == "sent":
                    break
                await asyncio.sleep(0.02)
        assert (await store.notification(notification)).status == "sent"
        assert len(receiver.received) == 1
    finally:
        await dispatcher.stop()
        await bus.drain()
        await writer.stop()
