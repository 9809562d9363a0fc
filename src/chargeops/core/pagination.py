"""Cursor pagination: ``{"items": [...], "next_cursor": ...}`` on every list endpoint.

A cursor is opaque to clients (base64 of the last key seen), so that the ordering key can
change without breaking them, and stable under inserts, unlike page numbers.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import orjson
from pydantic import BaseModel

from chargeops.core.errors import InvalidInput

T = TypeVar("T")
R = TypeVar("R")

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


def before_id(cursor: str | None) -> int | None:
    """The id a newest-first page continues below (its cursor holds the last id shown)."""
    key = decode_cursor(cursor)
    if key is not None and not isinstance(key, int):
        raise InvalidInput("invalid cursor: pass back next_cursor as it was given")
    return key


def newest_first(
    rows: Sequence[R], limit: int, show: Callable[[R], T], row_id: Callable[[R], int]
) -> Page[T]:
    """A page of ``limit`` from ``rows`` fetched with ``limit + 1`` (the extra row only
    says whether there is a next page)."""
    items = [show(r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor(row_id(rows[limit - 1])) if more else None)
