"""OCPP-J framing: ``[2, id, action, payload]``, ``[3, id, payload]``, ``[4, id, code,
description, details]``. Parsing never raises: a bad frame becomes a value that says what
was wrong and, where it could be read, the unique id to answer it with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from chargeops.protocol.errors import ErrorCode

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_UNIQUE_ID = 36

# Enough to answer a frame whose JSON is broken but whose start is intact.
_LEADING_ID = re.compile(r'^\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')


@dataclass(frozen=True, slots=True)
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    unique_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallErrorFrame:
    unique_id: str
    code: str
    description: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame we could not use. ``unique_id`` is set when an answer can be addressed."""

    reason: str
    unique_id: str | None = None
    code: str = ErrorCode.RPC_FRAMEWORK_ERROR


Frame = Call | CallResult | CallErrorFrame | BadFrame


def parse(text: str | bytes) -> Frame:
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        match = _LEADING_ID.match(raw)
        return BadFrame("the frame is not valid JSON", match.group(1) if match else None)
    if not isinstance(message, list) or not message:
        return BadFrame("an OCPP-J frame is a JSON array")
    unique_id = message[1] if len(message) > 1 and isinstance(message[1], str) else None
    if unique_id is not None and not 0 < len(unique_id) <= MAX_UNIQUE_ID:
        return BadFrame(f"the unique id must be 1 to {MAX_UNIQUE_ID} characters")
    kind = message[0]
    if unique_id is None:
        return BadFrame("the frame has no readable unique id")
    if kind == CALL:
        if len(message) != 4 or not isinstance(message[2], str):
            return BadFrame("a CALL is [2, uniqueId, action, payload]", unique_id)
        if not isinstance(message[3], dict):
            return BadFrame(
                "the payload of a CALL must be a JSON object",
                unique_id,
                ErrorCode.FORMATION_VIOLATION,
            )
        return Call(unique_id, message[2], message[3])
    if kind == CALLRESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            return BadFrame("a CALLRESULT is [3, uniqueId, payload]")
        return CallResult(unique_id, message[2])
    if kind == CALLERROR:
        if len(message) < 4:
            return BadFrame("a CALLERROR is [4, uniqueId, code, description, details]")
        details = message[4] if len(message) > 4 and isinstance(message[4], dict) else {}
        return CallErrorFrame(unique_id, str(message[2]), str(message[3]), details)
    return BadFrame(
        f"unknown message type {kind!r}", unique_id, ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED
    )


def call(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([CALL, unique_id, action, payload]).decode()


def call_result(unique_id: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([CALLRESULT, unique_id, payload]).decode()


def call_error(
    unique_id: str, code: str, description: str, details: dict[str, Any] | None = None
) -> str:
    return orjson.dumps([CALLERROR, unique_id, code, description, details or {}]).decode()
