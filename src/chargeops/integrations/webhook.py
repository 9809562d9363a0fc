"""Signed webhooks: one POST of a JSON event to a receiver, and how to retry it.

What a receiver gets (implementable in any language)::

    POST <url>
    Content-Type: application/json
    User-Agent: chargeops-webhook/1
    X-Chargeops-Event: incident.opened          what happened
    X-Chargeops-Delivery: dlv_8f3a...           the same on every retry: drop repeats
    X-Chargeops-Timestamp: 1718000000           unix seconds when this attempt was sent
    X-Chargeops-Signature: sha256=<hex>         see below

    signature = "sha256=" + hex(HMAC-SHA256(key=secret (UTF-8),
                                            message=timestamp + "." + raw body bytes))

To accept a request, recompute the signature over the raw body exactly as received
(before any JSON parsing), compare it in constant time, and reject a timestamp more than
five minutes from your clock: the timestamp is inside the signature, so a captured
request cannot be replayed later. :func:`verify` does all of this. Answer any 2xx
quickly; a 408, 425, 429 or 5xx, a timeout or a refused connection is retried with
backoff (a ``Retry-After`` on 429/503 is honoured); any other answer, including a
redirect, is final.

:func:`post_webhook` makes one attempt and reports it as an :class:`Attempt` (never
raising for network or HTTP trouble), so the alerts domain can store each attempt and
schedule the next with :class:`Backoff` in a way that survives a restart. :func:`deliver`
is the same loop in memory, for callers that keep nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from chargeops.core.clock import utcnow

USER_AGENT = "chargeops-webhook/1"
_ERROR_BODY_CHARS = 300  # enough of a receiver's error page to see what it said


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    secret: str
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one HTTP attempt went, in a form worth storing and showing to an operator.

    ``status_code`` is None when no answer came (refused, timed out); ``error`` says
    what went wrong in words, None on success; ``retry_after_s`` is the receiver's
    ``Retry-After`` (429/503 only), for the next delay.
    """

    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    ok: bool
    retryable: bool
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: 10 s, 30 s, 90 s, 270 s, 810 s by default.

    Jitter (±10 %) spreads out the retries of many notifications that failed together
    when a receiver went down, so they do not all arrive at once when it comes back.
    """

    first_s: float = 10.0
    factor: float = 3.0
    max_s: float = 3600.0
    attempts: int = 6
    jitter: float = 0.1

    def delay_after(
        self,
        attempt_number: int,
        *,
        retry_after_s: float | None = None,
        random: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait after failed attempt ``attempt_number`` (1-based), or None
        when that was the last one. A receiver's ``Retry-After`` wins when it asks for
        longer, but never beyond ``max_s``: a receiver cannot park a notification for a
        day."""
        if attempt_number >= self.attempts:
            return None
        delay = min(self.first_s * self.factor ** (attempt_number - 1), self.max_s)
        delay *= 1 + self.jitter * (2 * random() - 1)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_s))
        return max(0.0, min(delay, self.max_s))


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Chargeops-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(
    secret: str,
    timestamp: str | int,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance_s: int = 300,
) -> bool:
    """Whether a request really comes from chargeops and is recent (``now`` is unix
    seconds, e.g. ``time.time()``). Pass the headers as received; anything malformed is
    simply False."""
    if isinstance(timestamp, str) and not (timestamp.isascii() and timestamp.isdigit()):
        return False  # int() would also take " 17", "+17" and "1_7": not what was signed
    sent_at = int(timestamp)
    if abs(now - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body).encode(), signature.encode())


async def post_webhook(
    client: httpx.AsyncClient,
    target: WebhookTarget,
    *,
    event: str,
    delivery_id: str,
    payload: Mapping[str, Any],
    now: Callable[[], datetime] = utcnow,
) -> Attempt:
    """Make one signed attempt. Decimals and other non-JSON values are sent as strings."""
    body = orjson.dumps(payload, default=str)
    at = now()
    timestamp = int(at.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Chargeops-Event": event,
        "X-Chargeops-Delivery": delivery_id,
        "X-Chargeops-Timestamp": str(timestamp),
        "X-Chargeops-Signature": sign(target.secret, timestamp, body),
    }
    return await post_once(
        client, target.url, content=body, headers=headers, timeout_s=target.timeout_s, at=at
    )


async def deliver(
    client: httpx.AsyncClient,
    target: WebhookTarget,
    *,
    event: str,
    delivery_id: str,
    payload: Mapping[str, Any],
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_attempt: Callable[[Attempt], Awaitable[None]] | None = None,
) -> list[Attempt]:
    """Attempt until success, a final failure, or ``backoff.attempts`` are used up.

    Everything lives in this coroutine: a restart forgets pending retries. Callers that
    must not lose a notification store each :class:`Attempt` and schedule with
    :meth:`Backoff.delay_after` instead.
    """
    attempts: list[Attempt] = []
    while True:
        attempt = await post_webhook(
            client, target, event=event, delivery_id=delivery_id, payload=payload
        )
        attempts.append(attempt)
        if on_attempt is not None:
            await on_attempt(attempt)
        if attempt.ok or not attempt.retryable:
            return attempts
        delay = backoff.delay_after(len(attempts), retry_after_s=attempt.retry_after_s)
        if delay is None:
            return attempts
        await sleep(delay)


async def post_once(
    client: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    at: datetime,
) -> Attempt:
    """POST ``content`` once and classify the outcome; shared with the SMS gateway.

    ``timeout_s`` bounds the whole exchange, not each read, so a receiver that trickles
    its answer cannot hold a worker. Only a prefix of the answer is read, for the error.
    Errors never repeat the URL: many carry a token in their path or query, and
    attempts are stored and shown.
    """
    started = time.perf_counter()

    def attempt(status: int | None, error: str | None, **more: Any) -> Attempt:
        duration_ms = round((time.perf_counter() - started) * 1000)
        return Attempt(at, status, error, duration_ms, ok=error is None, **more)

    try:
        async with asyncio.timeout(timeout_s):
            request = client.build_request(
                "POST", url, content=content, headers=headers, timeout=timeout_s
            )
            response = await client.send(request, follow_redirects=False, stream=True)
            try:
                answer = await _read_prefix(response) if not response.is_success else ""
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return attempt(None, f"no answer within {timeout_s:g} s", retryable=True)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return attempt(None, f"not a URL we can post to: {exc}", retryable=False)
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        return attempt(None, f"could not reach the receiver: {reason}", retryable=True)

    status = response.status_code
    if response.is_success:
        return attempt(status, None, retryable=False)
    if response.is_redirect:
        location = response.headers.get("Location", "(no Location)")
        error = f"HTTP {status}: redirected to {location}; redirects are not followed"
        return attempt(status, error, retryable=False)
    error = f"HTTP {status} {response.reason_phrase}" + (f": {answer}" if answer else "")
    retry_after = _retry_after_s(response, at) if status in (429, 503) else None
    return attempt(status, error, retryable=is_retryable_status(status), retry_after_s=retry_after)


def is_retryable_status(status: int) -> bool:
    """Timeouts, rate limits and server errors may pass; other 4xx will not."""
    return status in (408, 425, 429) or status >= 500


async def _read_prefix(response: httpx.Response) -> str:
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) >= _ERROR_BODY_CHARS:
            break
    text = chunks[:_ERROR_BODY_CHARS].decode(errors="replace")
    return " ".join(text.split())


def _retry_after_s(response: httpx.Response, at: datetime) -> float | None:
    """``Retry-After`` is either seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - at).total_seconds())
    except (TypeError, ValueError):  # unparsable, or a date without a zone
        return None
