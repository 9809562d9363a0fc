"""Cursor pagination: ``{"items": [...], "next_cursor": ...}`` on every list endpoint.

A cursor is opaque to clients (base64 of the last key seen), so that the ordering key can
change without breaking them, and stable under inserts, unlike page numbers.
"""

from __future__ import annotations

import base64
import binascii
from typing import Generic, TypeVar

import orjson
from pydantic import BaseModel

from chargeops.core.errors import InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: str | int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"k": key})).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | int | None:
    if cursor is None or cursor == "":
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = data["k"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidInput("invalid cursor: pass back next_cursor as it was given") from None
    if not isinstance(key, (str, int)):
        raise InvalidInput("invalid cursor: pass back next_cursor as it was given")
    return key
