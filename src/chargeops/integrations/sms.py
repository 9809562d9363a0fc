"""Text messages through an HTTP SMS gateway, described by configuration, not code.

Most providers accept one POST with the number, the text and an account field or two,
as JSON or as a form, authenticated by an ``Authorization`` header. Field names and
static fields are configuration so a new provider is a settings change. The outcome is a
webhook :class:`~chargeops.integrations.webhook.Attempt`, classified the same way, so the
alerts domain stores and retries both alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode

import httpx
import orjson

from chargeops.core.clock import utcnow
from chargeops.core.errors import InvalidInput
from chargeops.integrations.webhook import Attempt, post_once

USER_AGENT = "chargeops-sms/1"
# E.164: "+", a country code that does not start with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


@dataclass(frozen=True, slots=True)
class SmsGatewayConfig:
    """One gateway. ``authorization`` is the whole header value ("Bearer x",
    "Basic ..."); ``extra`` holds static fields such as an account id; ``max_length``
    keeps a long alert from being billed as many concatenated messages."""

    url: str
    format: Literal["json", "form"] = "json"
    to_field: str = "to"
    text_field: str = "text"
    sender_field: str | None = "from"
    sender: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    authorization: str | None = None
    timeout_s: float = 10.0
    max_length: int = 640


async def send_sms(
    client: httpx.AsyncClient, config: SmsGatewayConfig, *, to: str, text: str
) -> Attempt:
    """Hand one message to the gateway. A number that is not E.164 raises
    :class:`InvalidInput` before anything is sent: no gateway would take it, and a
    retry would not change that. Network and HTTP trouble is reported, not raised."""
    if not _E164.fullmatch(to):
        raise InvalidInput(f"not a phone number in E.164 form (+ and 8 to 15 digits): {to!r}")
    if len(text) > config.max_length:
        text = text[: config.max_length - 1] + "…"
    fields = {**config.extra, config.to_field: to, config.text_field: text}
    if config.sender_field is not None and config.sender is not None:
        fields[config.sender_field] = config.sender
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if config.authorization is not None:
        headers["Authorization"] = config.authorization
    if config.format == "json":
        headers["Content-Type"] = "application/json"
        content = orjson.dumps(fields)
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        content = urlencode(fields).encode()
    return await post_once(
        client,
        config.url,
        content=content,
        headers=headers,
        timeout_s=config.timeout_s,
        at=utcnow(),
    )
