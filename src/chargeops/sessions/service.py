"""Transactions and meter values: the facts that billing and reports rest on.

Every operation is idempotent: chargers resend what they did not see acknowledged, and
each resend must find what the first one stored instead of storing it again.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core import events
from chargeops.core.charging import (
    Authorization,
    MeterSample,
    TransactionStart,
    TransactionStop,
)
from chargeops.core.errors import NotFound
from chargeops.sessions.models import ChargingSession, MeterValue
from chargeops.storage.writer import Work

log = logging.getLogger(__name__)

ACTIVE = "active"
COMPLETED = "completed"
STATUSES = (ACTIVE, COMPLETED)


@dataclass(frozen=True, slots=True)
class StopOutcome:
    session: ChargingSession | None
    duplicate: bool


async def start_transaction(
    work: Work,
    station_id: str,
    ocpp_version: str,
    start: TransactionStart,
    authorization: Authorization,
    *,
    at: datetime,
) -> ChargingSession:
    """Open a session and give it a transaction id; a repeated start finds the first."""
    existing = (
        await work.session.execute(
            select(ChargingSession).where(
                ChargingSession.station_id == station_id,
                ChargingSession.evse_id == start.evse_id,
                ChargingSession.started_at == start.timestamp,
                ChargingSession.meter_start_wh == start.meter_start_wh,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        log.info(
            "repeated StartTransaction, answering with the first one's id",
            extra={"station_id": station_id, "session_id": existing.id},
        )
        return existing
    row = ChargingSession(
        station_id=station_id,
        ocpp_version=ocpp_version,
        evse_id=start.evse_id,
        connector_id=start.connector_id,
        id_tag=start.id_tag,
        authorization=authorization.status.value,
        reservation_id=start.reservation_id,
        status=ACTIVE,
        started_at=start.timestamp,
        meter_start_wh=start.meter_start_wh,
        created_at=at,
        updated_at=at,
    )
    work.session.add(row)
    await work.session.flush()
    # OCPP 1.6 lets the central system choose the transaction id: we use our own.
    row.transaction_id = str(row.id)
    work.emit(
        events.TransactionStarted(
            station_id,
            start.timestamp,
            row.id,
            start.evse_id,
            start.id_tag,
            start.meter_start_wh,
        )
    )
    return row


async def find_by_transaction(
    session: AsyncSession, station_id: str, transaction_ref: str
) -> ChargingSession | None:
    stmt = select(ChargingSession).where(
        ChargingSession.station_id == station_id,
        ChargingSession.transaction_id == transaction_ref,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def stop_transaction(
    work: Work, station_id: str, stop: TransactionStop, *, at: datetime
) -> StopOutcome:
    """Close a session with the charger's own stop time and register value.

    A second stop for a closed session changes nothing (it is a retry). A stop for a
    transaction we never saw is kept as a station event by the caller: nothing is lost.
    """
    row = await find_by_transaction(work.session, station_id, stop.transaction_ref)
    if row is None:
        return StopOutcome(None, duplicate=False)
    if row.status == COMPLETED:
        if row.meter_stop_wh != stop.meter_stop_wh or row.stopped_at != stop.timestamp:
            log.warning(
                "StopTransaction for an already completed session with different data; "
                "keeping the first",
                extra={"station_id": station_id, "session_id": row.id},
            )
        return StopOutcome(row, duplicate=True)
    row.status = COMPLETED
    row.stopped_at = stop.timestamp
    row.meter_stop_wh = stop.meter_stop_wh
    row.energy_wh = stop.meter_stop_wh - (row.meter_start_wh or 0)
    if row.meter_start_wh is not None and row.energy_wh < 0:
        log.warning(
            "meter stop below meter start: negative energy recorded as is",
            extra={"station_id": station_id, "session_id": row.id},
        )
    row.stop_reason = stop.reason or "Local"
    row.stop_id_tag = stop.id_tag
    row.updated_at = at
    if stop.samples:
        record_samples(work, station_id, row.evse_id, row.id, stop.samples)
    work.emit(
        events.TransactionEnded(
            station_id, stop.timestamp, row.id, row.evse_id, row.energy_wh, row.stop_reason
        )
    )
    return StopOutcome(row, duplicate=False)


async def resolve_session(
    session: AsyncSession, station_id: str, transaction_ref: str | None
) -> int | None:
    if transaction_ref is None:
        return None
    stmt = select(ChargingSession.id).where(
        ChargingSession.station_id == station_id,
        ChargingSession.transaction_id == transaction_ref,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def record_samples(
    work: Work,
    station_id: str,
    evse_id: int,
    session_id: int | None,
    samples: Sequence[MeterSample],
    *,
    connector_id: int | None = None,
) -> None:
    """Store samples once each (written with the rest of the batch at commit)."""
    if connector_id is None:
        connector_id = 1 if evse_id > 0 else 0
    rows = [
        {
            "station_id": station_id,
            "evse_id": evse_id,
            "connector_id": connector_id,
            "session_id": session_id,
            "timestamp": s.timestamp,
            "measurand": s.measurand,
            "phase": s.phase or "",
            "location": s.location or "",
            "context": s.context or "",
            "format": s.format or "Raw",
            "value": s.value,
            "unit": s.unit,
            "raw_value": s.raw_value,
            "raw_unit": s.raw_unit,
            "signature": dict(s.signature) if s.signature else None,
        }
        for s in samples
    ]
    work.append(MeterValue, rows)


def record_meter_report(
    work: Work,
    station_id: str,
    evse_id: int,
    session_id: int | None,
    samples: Sequence[MeterSample],
) -> None:
    """Store a MeterValues report; ``session_id`` from :func:`resolve_session`."""
    if not samples:
        return
    record_samples(work, station_id, evse_id, session_id, samples)
    work.emit(
        events.MeterSampled(station_id, samples[-1].timestamp, evse_id, session_id, len(samples))
    )


# --- reads for the API ------------------------------------------------------------------


async def list_sessions(
    session: AsyncSession,
    *,
    station_id: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
    id_tags: Collection[str] | None = None,
) -> Sequence[ChargingSession]:
    """Newest first. ``since``/``until`` bound the start time (until is exclusive);
    ``id_tags`` (lower case), when given, are the only tokens whose sessions show."""
    stmt = select(ChargingSession).order_by(ChargingSession.id.desc()).limit(limit)
    if id_tags is not None:
        stmt = stmt.where(func.lower(ChargingSession.id_tag).in_(list(id_tags)))
    if station_id is not None:
        stmt = stmt.where(ChargingSession.station_id == station_id)
    if status is not None:
        stmt = stmt.where(ChargingSession.status == status)
    if since is not None:
        stmt = stmt.where(ChargingSession.started_at >= since)
    if until is not None:
        stmt = stmt.where(ChargingSession.started_at < until)
    if before_id is not None:
        stmt = stmt.where(ChargingSession.id < before_id)
    return (await session.execute(stmt)).scalars().all()


async def get_session(
    session: AsyncSession, session_id: int, *, id_tags: Collection[str] | None = None
) -> tuple[ChargingSession, Sequence[MeterValue]]:
    """One session; NotFound also when ``id_tags`` do not include its token (someone
    else's session is not shown to exist)."""
    row = await session.get(ChargingSession, session_id)
    hidden = id_tags is not None and (row is None or (row.id_tag or "").lower() not in id_tags)
    if row is None or hidden:
        raise NotFound(f"no session {session_id}")
    values = (
        (
            await session.execute(
                select(MeterValue)
                .where(MeterValue.session_id == session_id)
                .order_by(MeterValue.timestamp, MeterValue.id)
            )
        )
        .scalars()
        .all()
    )
    return row, values
