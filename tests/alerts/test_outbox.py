"""The outbox: a notification is written in the transaction that decides it (and rolls
back with it), once per channel a person chose, held back by their quiet hours unless
critical, and shown in the console at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chargeops.alerts import channels, outbox
from chargeops.alerts.channels import QuietHours
from chargeops.alerts.outbox import Message, NotificationsQueued
from chargeops.core.errors import InvalidInput
from chargeops.core.events import NotificationPosted
from chargeops.storage.writer import Work
from chargeops.users.models import User
from tests.alerts.conftest import Store

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # 12:00 in Berlin: nobody's quiet hours

MESSAGE = Message(
    event="incident.opened",
    subject="[MAJOR] CP-1 EVSE 1 faulted: GroundFailure",
    text="What: GroundFailure\nWhere: CP-1, EVSE 1\nSince: 2026-07-01 09:58 UTC",
    payload={"incident": {"id": 1}, "at": NOW, "amount": Decimal("1.50")},
    severity="major",
    station_id="CP-1",
    link="https://console.example.com/stations/CP-1",
)


def _at(hour: int, minute: int, day: datetime, zone: ZoneInfo = BERLIN, fold: int = 0) -> datetime:
    return datetime.combine(day.date(), time(hour, minute), tzinfo=zone).replace(fold=fold)


def test_quiet_hours_wrap_midnight() -> None:
    night = QuietHours(time(22), time(7), BERLIN)
    summer = datetime(2026, 7, 1, tzinfo=BERLIN)
    after_start = night.ends_after(_at(23, 30, summer))
    before_end = night.ends_after(_at(6, 59, summer))
    assert after_start == datetime(2026, 7, 2, 5, 0, tzinfo=UTC)  # 07:00 CEST next morning
    assert before_end == datetime(2026, 7, 1, 5, 0, tzinfo=UTC)
    assert night.ends_after(_at(7, 0, summer)) is None
    assert night.ends_after(_at(12, 0, summer)) is None
    assert night.ends_after(_at(21, 59, summer)) is None
    day = QuietHours(time(9), time(17), ZoneInfo("UTC"))
    assert day.ends_after(datetime(2026, 7, 1, 9, 0, tzinfo=UTC)) == datetime(
        2026, 7, 1, 17, tzinfo=UTC
    )
    assert day.ends_after(datetime(2026, 7, 1, 17, 0, tzinfo=UTC)) is None


def test_quiet_hours_follow_the_wall_clock_across_dst_changes() -> None:
    night = QuietHours(time(22), time(7), BERLIN)
    # summer time starts on 29 March 2026: the night is an hour shorter in UTC
    spring = night.ends_after(datetime(2026, 3, 28, 22, 0, tzinfo=UTC))  # 23:00 CET
    assert spring == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)  # 07:00 CEST
    # and it ends on 25 October: an hour longer
    autumn = night.ends_after(datetime(2026, 10, 24, 21, 0, tzinfo=UTC))  # 23:00 CEST
    assert autumn == datetime(2026, 10, 25, 6, 0, tzinfo=UTC)  # 07:00 CET

    # an end that does not exist that night (02:30 is skipped) is read an hour later
    skipped = QuietHours(time(1), time(2, 30), BERLIN)
    assert skipped.ends_after(datetime(2026, 3, 29, 0, 30, tzinfo=UTC)) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    # an end that happens twice: the first, then the second once the first has passed
    twice = QuietHours(time(1), time(2, 30), BERLIN)
    first = twice.ends_after(datetime(2026, 10, 25, 0, 10, tzinfo=UTC))  # 02:10 CEST
    second = twice.ends_after(datetime(2026, 10, 25, 1, 10, tzinfo=UTC))  # 02:10 CET
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert second == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_settings_and_addresses_are_checked_with_clear_words() -> None:
    assert channels.check_settings("22:00", "07:00", "Europe/Berlin") == (
        "22:00",
        "07:00",
        "Europe/Berlin",
    )
    assert channels.check_settings(None, None, "UTC") == (None, None, "UTC")
    for args, words in [
        (("24:00", "07:00", "UTC"), "HH:MM"),
        (("22:00", None, "UTC"), "both"),
        (("22:00", "22:00", "UTC"), "same time"),
        (("22:00", "07:00", "Mars/Olympus"), "IANA"),
    ]:
        with pytest.raises(InvalidInput, match=words):
            channels.check_settings(*args)
    assert channels.check_address("sms", "+49 170 123-4567") == "+491701234567"
    assert channels.check_address("sms", "0049 170 1234567") == "+491701234567"
    assert channels.check_address("email", " ops@example.com ") == "ops@example.com"
    for kind, address, words in [
        ("email", "ops@example", "not an email address"),
        ("email", "a@b.c, evil@x.y", "not an email address"),
        ("sms", "0170 1234567", "E.164"),
        ("webhook", "ftp://example.com/x", "http:// or https://"),
        ("console", "x", "no address"),
        ("pager", "x", "unknown channel kind"),
    ]:
        with pytest.raises(InvalidInput, match=words):
            channels.check_address(kind, address)
    for internal in (
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://[::1]/",
        "http://10.0.0.8/",
    ):
        with pytest.raises(InvalidInput, match="not allowed"):
            channels.check_address("webhook", internal, allow_private=False)
        assert channels.check_address("webhook", internal) == internal  # staff may


async def _channel(store: Store, user_id: int, kind: str, address: str = "", **kw: Any) -> int:
    async def unit(w: Work) -> int:
        row, _ = await channels.add_channel(w, user_id, kind=kind, address=address, now=NOW, **kw)
        return row.id

    return await store.submit(unit)


async def test_each_enabled_channel_gets_one_notification(store: Store) -> None:
    user = await store.add_user("ops@example.com")
    await _channel(store, user, "email", "oncall@example.com")
    await _channel(store, user, "sms", "+4917012345678")
    await _channel(store, user, "webhook", "https://chat.example.com/hook", secret="s" * 20)
    await _channel(store, user, "webhook", "https://old.example.com/hook", enabled=False)
    await _channel(store, user, "console")

    rows = await store.submit(lambda w: outbox.notify_user(w, user, MESSAGE, now=NOW))

    stored = await store.notifications(user_id=user)
    assert [(n.channel, n.address, n.status) for n in stored] == [
        ("email", "oncall@example.com", "pending"),
        ("sms", "+4917012345678", "pending"),
        ("webhook", "https://chat.example.com/hook", "pending"),
        ("console", "", "sent"),
    ]
    assert [n.id for n in rows] == [n.id for n in stored]
    webhook, console = stored[2], stored[3]
    assert webhook.secret == "s" * 20 and webhook.next_attempt_at == NOW
    assert console.sent_at == NOW and console.next_attempt_at is None
    assert len({n.delivery_id for n in stored}) == 4
    assert all(uuid.UUID(n.delivery_id).version == 4 for n in stored)
    # what a webhook receives later: JSON as stored, with the link
    assert webhook.payload == {
        "incident": {"id": 1},
        "at": NOW.isoformat(),
        "amount": "1.50",
        "link": "https://console.example.com/stations/CP-1",
    }
    assert webhook.subject == MESSAGE.subject and webhook.body == MESSAGE.text
    assert webhook.event == "incident.opened" and webhook.severity == "major"

    [posted] = [e for e in store.published if isinstance(e, NotificationPosted)]
    assert posted.user_id == user and posted.notification_id == console.id
    assert posted.station_id == "CP-1" and posted.subject == MESSAGE.subject
    assert posted.severity == "major" and posted.link == MESSAGE.link
    [queued] = [e for e in store.published if isinstance(e, NotificationsQueued)]
    assert queued.count == 3


async def test_someone_without_channels_hears_in_the_console_and_by_email(store: Store) -> None:
    user = await store.add_user("new.operator@example.com")
    await store.submit(lambda w: outbox.notify_user(w, user, MESSAGE, now=NOW))
    stored = await store.notifications(user_id=user)
    assert [(n.channel, n.address, n.status) for n in stored] == [
        ("console", "", "sent"),
        ("email", "new.operator@example.com", "pending"),
    ]


async def test_nobody_is_told_who_turned_everything_off_or_is_disabled(store: Store) -> None:
    silent = await store.add_user("silent@example.com")
    await _channel(store, silent, "email", "silent@example.com", enabled=False)
    gone = await store.add_user("gone@example.com")
    async with store.sessions() as db:
        user = await db.get(User, gone)
        assert user is not None
        user.status = "disabled"
        await db.commit()

    async def unit(w: Work) -> int:
        told = await outbox.notify_user(w, silent, MESSAGE, now=NOW)
        told += await outbox.notify_user(w, gone, MESSAGE, now=NOW)
        told += await outbox.notify_user(w, 999_999, MESSAGE, now=NOW)
        return len(told)

    assert await store.submit(unit) == 0
    assert await store.notifications() == []


async def test_a_notification_rolls_back_with_the_decision_to_send_it(store: Store) -> None:
    user = await store.add_user("ops@example.com")

    async def decide_then_fail(w: Work) -> None:
        await outbox.notify_user(w, user, MESSAGE, now=NOW)
        raise RuntimeError("the incident could not be stored")

    with pytest.raises(RuntimeError):
        await store.submit(decide_then_fail)
    assert await store.notifications() == []
    assert store.published == []  # nobody's console shows what never happened


async def test_quiet_hours_defer_what_is_not_critical_but_never_the_console(store: Store) -> None:
    user = await store.add_user("ops@example.com")
    await _channel(store, user, "email", "ops@example.com")
    await _channel(store, user, "console")
    await store.submit(
        lambda w: channels.set_settings(
            w, user, quiet_from="22:00", quiet_until="07:00", time_zone="Europe/Berlin", now=NOW
        )
    )
    night = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)  # 23:30 in Berlin
    morning = datetime(2026, 7, 2, 5, 0, tzinfo=UTC)  # 07:00 in Berlin
    critical = Message("incident.opened", "[CRITICAL] site down", "all stations", critical=True)

    await store.submit(lambda w: outbox.notify_user(w, user, MESSAGE, now=night))
    await store.submit(lambda w: outbox.notify_user(w, user, critical, now=night))

    stored = await store.notifications(user_id=user)
    assert [(n.subject[:11], n.channel, n.status, n.next_attempt_at) for n in stored] == [
        ("[MAJOR] CP-", "email", "deferred", morning),
        ("[MAJOR] CP-", "console", "sent", None),
        ("[CRITICAL] ", "email", "pending", night),
        ("[CRITICAL] ", "console", "sent", None),
    ]


async def test_an_address_of_nobody_is_checked_and_queued(store: Store) -> None:
    async def unit(w: Work) -> int:
        row = await outbox.notify_address(
            w, "webhook", "https://app.example.com/hook", MESSAGE, secret="k" * 32, now=NOW
        )
        return row.id

    notification = await store.notification(await store.submit(unit))
    assert notification.user_id is None and notification.status == "pending"
    assert notification.secret == "k" * 32
    for channel, address, secret, words in [
        ("webhook", "https://app.example.com/hook", None, "secret"),
        ("email", "driver@", None, "not an email address"),
        ("console", "", None, "for a user"),
        ("email", "driver@example.com", "k" * 32, "only a webhook"),
    ]:

        async def refused(
            w: Work, c: str = channel, a: str = address, s: str | None = secret
        ) -> None:
            await outbox.notify_address(w, c, a, MESSAGE, secret=s, now=NOW)

        with pytest.raises(InvalidInput, match=words):
            await store.submit(refused)


def test_a_message_says_what_it_is() -> None:
    with pytest.raises(InvalidInput, match="event"):
        Message("", "subject", "text")
    with pytest.raises(InvalidInput, match="subject"):
        Message("incident.opened", "  ", "text")
