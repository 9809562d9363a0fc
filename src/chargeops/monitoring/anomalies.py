"""Anomalies as rows: opened, counted and cleared inside a unit of work, like faults.

At most one anomaly is open per station, EVSE and detector (a partial unique index).
Finding the same again counts another occurrence on the open row, and its summary and
figures become the latest ones; a finding at or before the last one counted is the same
occurrence seen again (a retried message, a second pass over the same readings) and
counts nothing. A periodic check that sees a condition still holding (``ongoing``)
refreshes the figures without counting, unless another session is now the one in that
condition. Opening publishes :class:`~chargeops.core.events.AnomalyDetected`, clearing
:class:`~chargeops.core.events.AnomalyCleared`, after the commit like every event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from chargeops.core import events
from chargeops.monitoring.models import Anomaly
from chargeops.storage.writer import Work

_SUMMARY_MAX = 500


async def find_open(work: Work, station_id: str, evse_id: int, detector: str) -> Anomaly | None:
    row: Anomaly | None = await work.session.scalar(
        select(Anomaly).where(
            Anomaly.station_id == station_id,
            Anomaly.evse_id == evse_id,
            Anomaly.detector == detector,
            Anomaly.cleared_at.is_(None),
        )
    )
    return row


async def detect(
    work: Work,
    station_id: str,
    evse_id: int,
    detector: str,
    summary: str,
    detail: dict[str, Any],
    *,
    at: datetime,
    session_id: int | None = None,
    ongoing: bool = False,
) -> Anomaly:
    """Open an anomaly, or count another occurrence on the one open (see the module
    doc); returns the row."""
    summary = summary[:_SUMMARY_MAX]
    row = await find_open(work, station_id, evse_id, detector)
    if row is None:
        row = Anomaly(
            station_id=station_id,
            evse_id=evse_id,
            detector=detector,
            summary=summary,
            detail=detail,
            session_id=session_id,
            detected_at=at,
            last_detected_at=at,
            occurrences=1,
        )
        work.session.add(row)
        await work.session.flush()  # its id, for the event
        work.emit(events.AnomalyDetected(station_id, at, row.id, evse_id, detector, summary))
        return row
    same_session = session_id is not None and row.session_id == session_id
    if ongoing and same_session:
        _update(row, summary, detail, session_id, at)
    elif at > row.last_detected_at:
        row.occurrences += 1
        _update(row, summary, detail, session_id, at)
    return row


def _update(
    row: Anomaly, summary: str, detail: dict[str, Any], session_id: int | None, at: datetime
) -> None:
    row.summary = summary
    row.detail = detail
    if session_id is not None:
        row.session_id = session_id
    row.last_detected_at = max(row.last_detected_at, at)


async def clear(
    work: Work, station_id: str, evse_id: int, detector: str, *, at: datetime
) -> Anomaly | None:
    """End the open anomaly, if any; returns it."""
    row = await find_open(work, station_id, evse_id, detector)
    if row is not None:
        close(work, row, at=at)
    return row


def close(work: Work, row: Anomaly, *, at: datetime) -> None:
    """End an open anomaly already read. Never before it was found: a clearing fact
    older than the finding (a late message) ends it at its finding."""
    if row.cleared_at is not None:
        return
    row.cleared_at = max(at, row.detected_at)
    work.emit(
        events.AnomalyCleared(row.station_id, row.cleared_at, row.id, row.evse_id, row.detector)
    )


async def close_by_id(work: Work, anomaly_id: int, *, at: datetime) -> Anomaly | None:
    """End an anomaly read earlier outside this unit, if it is still open."""
    row = await work.session.get(Anomaly, anomaly_id)
    if row is not None:
        close(work, row, at=at)
    return row
