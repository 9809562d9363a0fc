"""The OCPP message log: every frame in and out, per station, for a number of days.

It is the first thing support opens ("what did the charger really send?"), so it keeps
the raw text of every frame, even one that is not valid OCPP-J. It must also cost the
gateway nothing it would notice: :meth:`MessageLog.record` only appends to a bounded
in-memory buffer, and a task of the log's own turns what is buffered into rows and
inserts them through the group-commit writer, a bounded slice per unit of work, one unit
at a time, so the log never holds the writer long nor queues more than one unit ahead
of the chargers' messages. Past the buffer's bound (the database far behind), the
oldest frames are dropped and counted: the log loses frames before the gateway slows.

What a row says beside the frame is read at flush time, not in :meth:`record`:

- ``message_type`` 2 CALL, 3 CALLRESULT, 4 CALLERROR; **0 for anything else** (not
  JSON, not an array, an unknown type, no readable unique id). Such a frame is still
  logged, with ``unique_id`` "" unless one can be read from its start (so a frame with
  broken JSON is found beside the CALLERROR that answered it) and no action.
- ``action``: a CALL's own; a CALLRESULT's or CALLERROR's is its CALL's, remembered per
  station and direction (a small bounded map of recent CALL ids), so a search by action
  finds the answers too. A result whose CALL was not seen (the log was off, a restart
  came between, an id the charger never used) has none.

Retention is :func:`purge`, deleting in slices of ids; the search is :func:`search`,
newest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, cast

import orjson
from sqlalchemy import CursorResult, Table, and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.core.clock import utcnow
from chargeops.monitoring.models import OcppMessage
from chargeops.storage.writer import GroupCommitWriter, Work, WriterClosed

log = logging.getLogger(__name__)

T = TypeVar("T")
Direction = Literal["in", "out"]
MessageType = Literal["CALL", "CALLRESULT", "CALLERROR", "INVALID"]

INVALID, CALL, CALLRESULT, CALLERROR = 0, 2, 3, 4
TYPE_WORDS: dict[int, MessageType] = {
    CALL: "CALL",
    CALLRESULT: "CALLRESULT",
    CALLERROR: "CALLERROR",
    INVALID: "INVALID",
}
_OTHER_SIDE: dict[str, str] = {"in": "out", "out": "in"}

UNIT_ROWS = 200  # rows per insert: ~5 ms of the inline SQLite writer (25 µs a row, measured)
CALLS_PER_STATION = 64  # CALL ids remembered per station until answered
DROP_WARNING_EVERY_S = 60.0
PURGE_SLICE = 2_000  # ids per DELETE

_TABLE = cast(Table, OcppMessage.__table__)
_STATION_MAX, _UNIQUE_ID_MAX, _ACTION_MAX = 48, 64, 64  # the columns' lengths
# the unique id at the start of a frame whose JSON is broken
_LEADING_ID = re.compile(r'^\s*\[\s*\d+\s*,\s*"([^"\\]{1,64})"')

_Frame = tuple[str, str, str, datetime]  # station id, direction, text, when
NOT_JSON = object()  # what decode() gives for a frame that is not JSON


class MessageLog:
    """Buffers frames as the gateway sees them and writes them in batches.

    ``record`` is safe to call for every frame: constant time, never blocks, never
    raises. ``start`` launches the writing task; ``stop`` writes what is buffered (call
    it after the gateway stopped and before the writer stops).
    """

    def __init__(
        self,
        writer: GroupCommitWriter,
        *,
        flush_interval_s: float = 1.0,
        max_batch: int = 1000,
        max_buffer: int = 50_000,
    ) -> None:
        self._writer = writer
        self._interval = flush_interval_s
        self._max_batch = max_batch
        self._buffer: deque[_Frame] = deque(maxlen=max_buffer)
        self._full = max_buffer
        self._calls: dict[str, dict[tuple[str, str], str]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.dropped = 0  # frames lost: dropped from a full buffer, or a failed insert
        self.written = 0
        self._dropped_reported = 0
        self._warned_at = float("-inf")

    @property
    def pending(self) -> int:
        """Frames buffered, not yet written."""
        return len(self._buffer)

    def record(self, station_id: str, direction: Direction, frame: str, at: datetime) -> None:
        """Keep a frame for the next write (the oldest goes when the buffer is full)."""
        try:
            buffer = self._buffer
            if len(buffer) == self._full:
                self.dropped += 1  # the deque drops its oldest on append
            buffer.append((station_id, direction, frame, at))
            if len(buffer) >= self._max_batch and not self._wake.is_set():
                self._wake.set()
        except Exception:  # pragma: no cover - a log must never break the gateway
            pass

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="ocpp-message-log")

    async def stop(self) -> None:
        """Write everything buffered, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._report_drops(force=True)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            await self.flush()
        await self.flush()

    async def flush(self) -> None:
        """Write what is buffered now, a slice per unit of work, one unit at a time."""
        remaining = len(self._buffer)
        while remaining > 0 and self._buffer:
            take = min(remaining, UNIT_ROWS, len(self._buffer))
            remaining -= take
            frames = [self._buffer.popleft() for _ in range(take)]
            try:
                await self._writer.submit(_insert_unit(self._rows(frames)))
                self.written += take
            except WriterClosed:
                self.dropped += take + len(self._buffer)
                self._buffer.clear()
                break
            except Exception:
                self.dropped += take
                log.exception("could not write %d OCPP frames to the message log", take)
        self._report_drops()

    def _report_drops(self, *, force: bool = False) -> None:
        lost = self.dropped - self._dropped_reported
        now = time.monotonic()
        if lost and (force or now - self._warned_at >= DROP_WARNING_EVERY_S):
            log.warning(
                "message log: %d OCPP frames were not logged (buffer full or write failed); "
                "%d lost since start",
                lost,
                self.dropped,
            )
            self._dropped_reported = self.dropped
            self._warned_at = now

    def _rows(self, frames: list[_Frame]) -> list[dict[str, Any]]:
        rows = []
        for station_id, direction, text, at in frames:
            message_type, unique_id, action = self._describe(station_id, direction, text)
            rows.append(
                {
                    "station_id": _clean(station_id, _STATION_MAX),
                    "at": at,
                    "direction": direction,
                    "message_type": message_type,
                    "unique_id": _clean(unique_id, _UNIQUE_ID_MAX),
                    "action": None if action is None else _clean(action, _ACTION_MAX),
                    "frame": _clean(text),
                }
            )
        return rows

    def _describe(self, station_id: str, direction: str, text: str) -> tuple[int, str, str | None]:
        """Type, unique id and action of a frame; a result's action from its CALL."""
        message = decode(text)
        if not isinstance(message, list) or len(message) < 2:
            found = _LEADING_ID.match(text) if message is NOT_JSON else None
            return INVALID, found.group(1) if found else "", None
        kind, unique_id = message[0], message[1]
        if not isinstance(unique_id, str) or type(kind) is not int:
            return INVALID, unique_id if isinstance(unique_id, str) else "", None
        if kind == CALL:
            action = message[2] if len(message) > 2 and isinstance(message[2], str) else None
            if action is not None:
                self._remember(station_id, direction, unique_id, action)
            return CALL, unique_id, action
        if kind in (CALLRESULT, CALLERROR):
            return kind, unique_id, self._answered(station_id, direction, unique_id)
        return INVALID, unique_id, None

    def _remember(self, station_id: str, direction: str, unique_id: str, action: str) -> None:
        calls = self._calls.setdefault(station_id, {})
        calls[(direction, unique_id)] = action
        if len(calls) > CALLS_PER_STATION:
            del calls[next(iter(calls))]  # the oldest: never answered

    def _answered(self, station_id: str, direction: str, unique_id: str) -> str | None:
        calls = self._calls.get(station_id)
        if not calls:
            return None
        action = calls.pop((_OTHER_SIDE.get(direction, ""), unique_id), None)
        if not calls:
            del self._calls[station_id]
        return action


def _insert_unit(rows: list[dict[str, Any]]) -> Callable[[Work], Awaitable[None]]:
    async def unit(work: Work) -> None:
        await work.session.execute(insert(_TABLE), rows)

    return unit


def _clean(text: str, limit: int | None = None) -> str:
    """What both databases store: PostgreSQL refuses NUL in text and over-long values
    (an insert that fails would roll back the chargers' batch it shares)."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    return text if limit is None else text[:limit]


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(text: str) -> Any:
    """The frame's JSON value, or a marker object when it is not JSON. orjson first;
    the standard library for what orjson refuses but is JSON (integers past 64 bits)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return NOT_JSON


def payload_of(row: OcppMessage) -> Any:
    """What a frame carries: a CALL's or CALLRESULT's payload; a CALLERROR's code,
    description and details; None for a frame that is not OCPP-J."""
    message = decode(row.frame)
    if not isinstance(message, list):
        return None
    if row.message_type == CALL and len(message) > 3:
        return message[3]
    if row.message_type == CALLRESULT and len(message) > 2:
        return message[2]
    if row.message_type == CALLERROR and len(message) > 2:
        return {
            "errorCode": message[2],
            "errorDescription": message[3] if len(message) > 3 else None,
            "errorDetails": message[4] if len(message) > 4 else None,
        }
    return None


# --- reading --------------------------------------------------------------------------------


async def search(
    db: AsyncSession,
    *,
    station_id: str | None = None,
    action: str | None = None,
    unique_id: str | None = None,
    direction: Direction | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[OcppMessage]:
    """Frames newest first (by time, then id); ``since`` included, ``until`` not.

    ``before_id`` continues after that frame (a page's last); a frame purged since
    means every older one is purged too, so the next page is empty.
    """
    m = OcppMessage
    stmt = select(m).order_by(m.at.desc(), m.id.desc()).limit(limit)
    if station_id is not None:
        stmt = stmt.where(m.station_id == station_id)
    if action is not None:
        stmt = stmt.where(m.action == action)
    if unique_id is not None:
        stmt = stmt.where(m.unique_id == unique_id)
    if direction is not None:
        stmt = stmt.where(m.direction == direction)
    if since is not None:
        stmt = stmt.where(m.at >= since)
    if until is not None:
        stmt = stmt.where(m.at < until)
    if before_id is not None:
        anchor = await db.scalar(select(m.at).where(m.id == before_id))
        if anchor is None:
            return []
        older = or_(m.at < anchor, and_(m.at == anchor, m.id < before_id))
        stmt = stmt.where(m.at <= anchor, older)
    return (await db.execute(stmt)).scalars().all()


# --- retention ------------------------------------------------------------------------------


async def purge(
    target: GroupCommitWriter | async_sessionmaker[AsyncSession], older_than: datetime
) -> int:
    """Delete frames logged before ``older_than``; how many went.

    In slices of ids, each its own transaction (through the writer when given one, so
    the gateway's messages pass in between): one DELETE of a month of frames would
    hold the database for as long as it takes. Ids follow logging order, so the old
    frames are a range of ids, found from both indexes; a frame of that range newer
    than the cut-off stays (``at`` is checked too).
    """

    async def bounds(work: Work) -> tuple[int | None, int | None]:
        m = OcppMessage
        low = await work.scalar(select(m.id).order_by(m.id).limit(1))
        high = await work.scalar(
            select(m.id).where(m.at < older_than).order_by(m.at.desc(), m.id.desc()).limit(1)
        )
        return low, high

    low, high = await _run(target, bounds)
    if low is None or high is None:
        return 0
    deleted = 0
    for start in range(low, high + 1, PURGE_SLICE):
        unit = _delete_unit(start, min(start + PURGE_SLICE, high + 1), older_than)
        deleted += await _run(target, unit)
    return deleted


def _delete_unit(start: int, end: int, older_than: datetime) -> Callable[[Work], Awaitable[int]]:
    async def unit(work: Work) -> int:
        c = _TABLE.c
        stmt = delete(_TABLE).where(c.id >= start, c.id < end, c.at < older_than)
        result = cast(CursorResult[Any], await work.session.execute(stmt))
        return max(result.rowcount, 0)

    return unit


async def _run(
    target: GroupCommitWriter | async_sessionmaker[AsyncSession],
    fn: Callable[[Work], Awaitable[T]],
) -> T:
    """One unit of work in its own transaction: the writer's, or a session's."""
    if isinstance(target, GroupCommitWriter):
        return await target.submit(fn)
    async with target() as session:
        result = await fn(Work(session))
        await session.commit()
        return result


async def purge_expired(
    target: GroupCommitWriter | async_sessionmaker[AsyncSession], days: int
) -> int:
    """Retention: delete what is older than ``days`` days. The one call a scheduler makes."""
    removed = await purge(target, utcnow() - timedelta(days=days))
    if removed:
        log.info("message log: %d OCPP frames older than %d days removed", removed, days)
    return removed
