"""OCPP 2.0.1 transactions: TransactionEvents folded into the one session model.

A 2.0.1 charger names its transactions and numbers each event (seqNo). Events can come
twice (a retry after a lost answer) or out of order (a queue replayed after an outage,
an Updated that overtakes its Started). Each event is stored once, keyed by transaction
and seqNo, and every field of the session is derived by a rule that does not depend on
arrival order:

- the session starts at its earliest event and ends with its Ended event;
- the register value with the earliest timestamp is the meter start, the one with the
  latest timestamp the meter stop (Energy.Active.Import.Register, no phase = total);
- the charging state is the one of the highest seqNo seen;
- the first token seen is the token that started it.

So the same events in any order, any number of times, give the same session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from chargeops.core import events
from chargeops.core.charging import (
    Authorization,
    MeterSample,
    TransactionEventReport,
    TransactionEventType,
)
from chargeops.sessions.models import ChargingSession, TransactionEvent
from chargeops.sessions.service import ACTIVE, COMPLETED, record_samples
from chargeops.storage.writer import Work

ENERGY_REGISTER = "Energy.Active.Import.Register"
NO_TOKEN = "NoAuthorization"  # authorization of a transaction no token started (yet)


@dataclass(frozen=True, slots=True)
class EventOutcome:
    session_id: int
    duplicate: bool


def _register_wh(samples: tuple[MeterSample, ...]) -> list[tuple[datetime, int]]:
    """(time, Wh) of the total active import register samples, rounded half up to Wh."""
    out = []
    for s in samples:
        total = s.measurand == ENERGY_REGISTER and not s.phase and s.unit == "Wh"
        if total and s.value is not None:
            out.append((s.timestamp, int(s.value.to_integral_value(ROUND_HALF_UP))))
    return out


async def _session_for(
    work: Work, station_id: str, ocpp_version: str, event: TransactionEventReport, at: datetime
) -> tuple[ChargingSession, bool]:
    """The session of the event's transaction, created by whichever event comes first."""
    row = (
        await work.session.execute(
            select(ChargingSession).where(
                ChargingSession.station_id == station_id,
                ChargingSession.transaction_id == event.transaction_ref,
            )
        )
    ).scalar_one_or_none()
    if row is not None:
        return row, False
    evse_id = event.evse_id or 0
    row = ChargingSession(
        station_id=station_id,
        ocpp_version=ocpp_version,
        transaction_id=event.transaction_ref,
        evse_id=evse_id,
        connector_id=event.connector_id or (1 if evse_id else 0),
        authorization=NO_TOKEN,
        status=ACTIVE,
        started_at=event.timestamp,
        created_at=at,
        updated_at=at,
    )
    work.session.add(row)
    await work.session.flush()
    return row, True


async def _store_event(
    work: Work, station_id: str, session_id: int, event: TransactionEventReport, at: datetime
) -> bool:
    """Insert the event; False if this (transaction, seqNo) was stored before."""
    table: Any = TransactionEvent.__table__
    dialect = work.session.sync_session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .values(
            session_id=session_id,
            station_id=station_id,
            transaction_id=event.transaction_ref,
            seq_no=event.seq_no,
            event_type=event.event_type.value,
            trigger_reason=event.trigger_reason,
            timestamp=event.timestamp,
            offline=event.offline,
            charging_state=event.charging_state,
            payload=_payload(event),
            received_at=at,
        )
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )
    return await work.scalar(stmt) is not None


def _payload(event: TransactionEventReport) -> dict[str, Any]:
    """What the event said beyond its own columns, for operators and audits."""
    fields = {
        "evse_id": event.evse_id,
        "connector_id": event.connector_id,
        "id_token": event.id_tag,
        "id_token_type": event.token_type,
        "stopped_reason": event.stopped_reason,
        "remote_start_id": event.remote_start_id,
        "reservation_id": event.reservation_id,
        "time_spent_charging_s": event.time_spent_charging_s,
        "number_of_phases": event.number_of_phases,
        "samples": len(event.samples),
    }
    return {k: v for k, v in fields.items() if v is not None}


async def apply_transaction_event(
    work: Work,
    station_id: str,
    ocpp_version: str,
    event: TransactionEventReport,
    authorization: Authorization | None,
    *,
    at: datetime,
) -> EventOutcome:
    """Store one TransactionEvent and fold it into its session (see the module doc)."""
    row, created = await _session_for(work, station_id, ocpp_version, event, at)
    if not await _store_event(work, station_id, row.id, event, at):
        return EventOutcome(row.id, duplicate=True)
    was_completed = row.status == COMPLETED

    if event.timestamp < row.started_at:
        row.started_at = event.timestamp
    if event.evse_id and not row.evse_id:
        row.evse_id = event.evse_id
        row.connector_id = event.connector_id or 1
    if event.id_tag is not None:
        if row.id_tag is None:
            row.id_tag = event.id_tag
            row.id_token_type = event.token_type
            if authorization is not None:
                row.authorization = authorization.status.value
        elif event.event_type is TransactionEventType.ENDED and event.id_tag != row.id_tag:
            row.stop_id_tag = event.id_tag
    if event.remote_start_id is not None:
        row.remote_start_id = event.remote_start_id
    if event.reservation_id is not None:
        row.reservation_id = event.reservation_id
    if row.last_seq_no is None or event.seq_no > row.last_seq_no:
        row.last_seq_no = event.seq_no
        if event.charging_state is not None:
            row.charging_state = event.charging_state
    for when, wh in _register_wh(event.samples):
        if row.first_register_at is None or when < row.first_register_at:
            row.first_register_at, row.meter_start_wh = when, wh
        if row.last_register_at is None or when > row.last_register_at:
            row.last_register_at, row.last_register_wh = when, wh
    if event.event_type is TransactionEventType.ENDED:
        row.status = COMPLETED
        row.stopped_at = event.timestamp
        # 2.0.1: stoppedReason may be left out only when the reason is Local
        row.stop_reason = event.stopped_reason or "Local"
    if row.status == COMPLETED:
        row.meter_stop_wh = row.last_register_wh
        if row.meter_stop_wh is not None and row.meter_start_wh is not None:
            row.energy_wh = row.meter_stop_wh - row.meter_start_wh
    row.updated_at = at

    if event.samples:
        record_samples(
            work,
            station_id,
            row.evse_id,
            row.id,
            event.samples,
            connector_id=row.connector_id,
        )
    if created:
        work.emit(
            events.TransactionStarted(
                station_id, row.started_at, row.id, row.evse_id, row.id_tag, row.meter_start_wh
            )
        )
    if row.status == COMPLETED and not was_completed:
        work.emit(
            events.TransactionEnded(
                station_id, event.timestamp, row.id, row.evse_id, row.energy_wh, row.stop_reason
            )
        )
    return EventOutcome(row.id, duplicate=False)
