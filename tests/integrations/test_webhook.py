"""Webhooks reach a real HTTP receiver, signed, and are retried only when it may help."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import orjson
import pytest

from chargeops.integrations.webhook import (
    Attempt,
    Backoff,
    WebhookTarget,
    deliver,
    post_webhook,
    sign,
    verify,
)
from tests.conftest import free_port
from tests.integrations.http_receiver import Answer, Receiver, serving

SECRET = "whsec_test"
PAYLOAD = {"incident": "inc_1", "station": "CP-1", "cost": Decimal("12.30")}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


class Sleeps:
    """Stands in for asyncio.sleep: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def test_a_delivery_arrives_signed_with_every_header(client: httpx.AsyncClient) -> None:
    sent_at = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    payload = {**PAYLOAD, "opened_at": sent_at}
    async with serving(Receiver()) as receiver:
        target = WebhookTarget(receiver.url, SECRET)
        attempt = await post_webhook(
            client,
            target,
            event="incident.opened",
            delivery_id="dlv_1",
            payload=payload,
            now=lambda: sent_at,
        )

    assert attempt.ok and attempt.status_code == 200 and attempt.error is None
    assert attempt.at == sent_at and attempt.duration_ms >= 0
    [got] = receiver.received
    assert got.method == "POST"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == "chargeops-webhook/1"
    assert got.headers["x-chargeops-event"] == "incident.opened"
    assert got.headers["x-chargeops-delivery"] == "dlv_1"
    assert got.headers["x-chargeops-timestamp"] == str(int(sent_at.timestamp()))
    assert orjson.loads(got.body) == {
        "incident": "inc_1",
        "station": "CP-1",
        "cost": "12.30",
        "opened_at": "2025-06-01T12:00:00+00:00",
    }
    # What the module docstring tells integrators, computed independently of sign().
    message = got.headers["x-chargeops-timestamp"].encode() + b"." + got.body
    expected = "sha256=" + hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert got.headers["x-chargeops-signature"] == expected
    assert verify(
        SECRET,
        got.headers["x-chargeops-timestamp"],
        got.body,
        expected,
        now=sent_at.timestamp() + 60,
    )


async def test_the_receiver_verifies_what_it_gets(client: httpx.AsyncClient) -> None:
    async with serving(Receiver(secret=SECRET)) as receiver:
        attempt = await post_webhook(
            client, WebhookTarget(receiver.url, SECRET), event="e", delivery_id="d", payload={}
        )
    assert attempt.ok
    assert [r.signature_ok for r in receiver.received] == [True]


async def test_a_receiver_with_another_secret_refuses_and_that_is_final(
    client: httpx.AsyncClient,
) -> None:
    async with serving(Receiver(secret="someone else's")) as receiver:
        attempts = await deliver(
            client,
            WebhookTarget(receiver.url, SECRET),
            event="e",
            delivery_id="d",
            payload={},
            sleep=Sleeps(),
        )
    [attempt] = attempts
    assert (attempt.ok, attempt.retryable, attempt.status_code) == (False, False, 401)
    assert attempt.error == "HTTP 401 Unauthorized: bad signature"


def test_a_tampered_body_fails_verification() -> None:
    body = b'{"amount":"10.00"}'
    signature = sign(SECRET, 1_700_000_000, body)
    assert verify(SECRET, "1700000000", body, signature, now=1_700_000_010)
    assert not verify(SECRET, "1700000000", b'{"amount":"99.00"}', signature, now=1_700_000_010)
    assert not verify("other", "1700000000", body, signature, now=1_700_000_010)
    assert not verify(SECRET, "1700000001", body, signature, now=1_700_000_010)
    assert not verify(SECRET, "1700000000", body, "sha256=nönsense", now=1_700_000_010)
    assert not verify(SECRET, "yesterday", body, signature, now=1_700_000_010)
    assert not verify(SECRET, "+1700000000", body, signature, now=1_700_000_010)


def test_an_old_or_future_timestamp_fails_verification() -> None:
    body = b"{}"
    signature = sign(SECRET, 1_700_000_000, body)
    assert verify(SECRET, 1_700_000_000, body, signature, now=1_700_000_300)
    assert not verify(SECRET, 1_700_000_000, body, signature, now=1_700_000_301)
    assert not verify(SECRET, 1_700_000_000, body, signature, now=1_699_999_699)
    assert verify(SECRET, 1_700_000_000, body, signature, now=1_700_003_600, tolerance_s=3600)


async def test_a_receiver_that_fails_twice_gets_it_on_the_third_attempt(
    client: httpx.AsyncClient,
) -> None:
    script = [Answer(500, "database down"), Answer(502), Answer(204)]
    backoff = Backoff(jitter=0.0)
    sleeps, seen = Sleeps(), list[Attempt]()

    async def record(attempt: Attempt) -> None:
        seen.append(attempt)

    async with serving(Receiver(script, secret=SECRET)) as receiver:
        attempts = await deliver(
            client,
            WebhookTarget(receiver.url, SECRET),
            event="incident.opened",
            delivery_id="dlv_7",
            payload=PAYLOAD,
            backoff=backoff,
            sleep=sleeps,
            on_attempt=record,
        )

    assert [(a.status_code, a.ok, a.retryable) for a in attempts] == [
        (500, False, True),
        (502, False, True),
        (204, True, False),
    ]
    assert attempts[0].error == "HTTP 500 Internal Server Error: database down"
    assert seen == attempts
    assert sleeps.delays == [backoff.delay_after(1), backoff.delay_after(2)] == [10.0, 30.0]
    assert [r.headers["x-chargeops-delivery"] for r in receiver.received] == ["dlv_7"] * 3
    assert all(r.signature_ok for r in receiver.received)


async def test_retries_stop_when_the_attempts_are_used_up(client: httpx.AsyncClient) -> None:
    sleeps = Sleeps()
    async with serving(Receiver([Answer(503)])) as receiver:
        attempts = await deliver(
            client,
            WebhookTarget(receiver.url, SECRET),
            event="e",
            delivery_id="d",
            payload={},
            backoff=Backoff(attempts=3, jitter=0.0),
            sleep=sleeps,
        )
    assert len(attempts) == len(receiver.received) == 3
    assert sleeps.delays == [10.0, 30.0]
    assert not attempts[-1].ok and attempts[-1].retryable


async def test_retry_after_on_429_is_honoured(client: httpx.AsyncClient) -> None:
    script = [Answer(429, "slow down", {"Retry-After": "120"}), Answer(200)]
    sleeps = Sleeps()
    async with serving(Receiver(script)) as receiver:
        attempts = await deliver(
            client,
            WebhookTarget(receiver.url, SECRET),
            event="e",
            delivery_id="d",
            payload={},
            backoff=Backoff(jitter=0.0),
            sleep=sleeps,
        )
    assert [a.status_code for a in attempts] == [429, 200]
    assert attempts[0].retry_after_s == 120.0 and attempts[0].retryable
    assert sleeps.delays == [120.0]


async def test_retry_after_as_an_http_date_on_503(client: httpx.AsyncClient) -> None:
    sent_at = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    retry_at = "Sun, 01 Jun 2025 12:05:00 GMT"
    async with serving(Receiver([Answer(503, headers={"Retry-After": retry_at})])) as receiver:
        attempt = await post_webhook(
            client,
            WebhookTarget(receiver.url, SECRET),
            event="e",
            delivery_id="d",
            payload={},
            now=lambda: sent_at,
        )
    assert attempt.retry_after_s == 300.0 and attempt.retryable


async def test_a_400_is_not_retried(client: httpx.AsyncClient) -> None:
    async with serving(Receiver([Answer(400, '{"error": "unknown event"}')])) as receiver:
        attempts = await deliver(
            client,
            WebhookTarget(receiver.url, SECRET),
            event="e",
            delivery_id="d",
            payload={},
            sleep=Sleeps(),
        )
    [attempt] = attempts
    assert (attempt.status_code, attempt.ok, attempt.retryable) == (400, False, False)
    assert attempt.error == 'HTTP 400 Bad Request: {"error": "unknown event"}'
    assert len(receiver.received) == 1


async def test_a_redirect_is_a_final_failure_naming_the_new_location(
    client: httpx.AsyncClient,
) -> None:
    moved = Answer(301, headers={"Location": "https://new.example.com/hook"})
    async with serving(Receiver([moved, Answer(200)])) as receiver:
        attempt = await post_webhook(
            client, WebhookTarget(receiver.url, SECRET), event="e", delivery_id="d", payload={}
        )
    assert (attempt.status_code, attempt.ok, attempt.retryable) == (301, False, False)
    assert attempt.error is not None and "https://new.example.com/hook" in attempt.error
    assert len(receiver.received) == 1


async def test_a_refused_connection_is_retryable(client: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    attempt = await post_webhook(
        client, WebhookTarget(url, SECRET), event="e", delivery_id="d", payload={}
    )
    assert (attempt.status_code, attempt.ok, attempt.retryable) == (None, False, True)
    assert attempt.error is not None and attempt.error.startswith("could not reach the receiver: ")


async def test_a_receiver_that_does_not_answer_in_time_is_retryable(
    client: httpx.AsyncClient,
) -> None:
    async with serving(Receiver([Answer(200, delay_s=0.5)])) as receiver:
        attempt = await post_webhook(
            client,
            WebhookTarget(receiver.url, SECRET, timeout_s=0.1),
            event="e",
            delivery_id="d",
            payload={},
        )
    assert (attempt.status_code, attempt.ok, attempt.retryable) == (None, False, True)
    assert attempt.error == "no answer within 0.1 s"
    assert attempt.duration_ms < 400


async def test_a_url_that_is_not_http_is_not_retried(client: httpx.AsyncClient) -> None:
    attempt = await post_webhook(
        client, WebhookTarget("ftp://example.com/x", SECRET), event="e", delivery_id="d", payload={}
    )
    assert (attempt.ok, attempt.retryable) == (False, False)


def test_backoff_grows_by_the_factor_up_to_the_cap_and_ends() -> None:
    backoff = Backoff(jitter=0.0)
    assert [backoff.delay_after(n) for n in range(1, 7)] == [10.0, 30.0, 90.0, 270.0, 810.0, None]
    capped = Backoff(first_s=1000.0, factor=10.0, attempts=4, jitter=0.0)
    assert [capped.delay_after(n) for n in range(1, 5)] == [1000.0, 3600.0, 3600.0, None]


def test_backoff_jitter_stays_within_its_share() -> None:
    backoff = Backoff()
    assert backoff.delay_after(2, random=lambda: 0.0) == pytest.approx(27.0)
    assert backoff.delay_after(2, random=lambda: 0.5) == pytest.approx(30.0)
    assert backoff.delay_after(2, random=lambda: 0.999999) == pytest.approx(33.0, abs=1e-3)


def test_backoff_honours_a_longer_retry_after_but_not_past_the_cap() -> None:
    backoff = Backoff(jitter=0.0)
    assert backoff.delay_after(1, retry_after_s=5.0) == 10.0
    assert backoff.delay_after(1, retry_after_s=600.0) == 600.0
    assert backoff.delay_after(1, retry_after_s=timedelta(days=1).total_seconds()) == 3600.0
    assert backoff.delay_after(6, retry_after_s=5.0) is None
