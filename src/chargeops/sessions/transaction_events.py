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

The commonest event, an Updated carrying meter values, takes a short path: the
connection remembers each open transaction as its last committed event left it
(:class:`OpenTransaction`), so an Updated in sequence costs an appended event row and
its appended samples, plus one UPDATE only when the charging state changes. Everything
else (Started, Ended, a token, an event out of order, the first event after a
reconnect) takes the full path, which derives the session from what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from chargeops.core import events
from chargeops.core.charging import (
    Authorization,
    TransactionEventReport,
    TransactionEventType,
)
from chargeops.sessions.models import ChargingSession, MeterValue, TransactionEvent
from chargeops.sessions.service import ACTIVE, COMPLETED, record_samples
from chargeops.storage.writer import Work

ENERGY_REGISTER = "Energy.Active.Import.Register"
NO_TOKEN = "NoAuthorization"  # authorization of a transaction no token started (yet)


_SESSIONS: Any = ChargingSession.__table__


@dataclass(frozen=True, slots=True)
class SeqNos:
    """The seqNos stored for a transaction, kept small: one unbroken run (what a charger
    in sequence produces) and the few stored outside it."""

    low: int
    high: int  # every seqNo from low to high is stored
    others: frozenset[int] = frozenset()

    @classmethod
    def of(cls, stored: set[int] | frozenset[int]) -> SeqNos:
        low = high = min(stored)
        while high + 1 in stored:
            high += 1
        return cls(low, high, frozenset(n for n in stored if not low <= n <= high))

    def __contains__(self, seq_no: int) -> bool:
        return self.low <= seq_no <= self.high or seq_no in self.others

    def add(self, seq_no: int) -> SeqNos:
        if seq_no != self.high + 1:
            return SeqNos(self.low, self.high, self.others | {seq_no})
        high = seq_no
        while high + 1 in self.others:
            high += 1
        others = self.others
        if others:
            others = frozenset(n for n in others if not self.low <= n <= high)
        return SeqNos(self.low, high, others)

    @property
    def newest(self) -> int:
        return max(self.high, *self.others) if self.others else self.high


@dataclass(frozen=True, slots=True)
class OpenTransaction:
    """What a connection remembers of a transaction after an event was committed."""

    session_id: int
    started_at: datetime
    seen: SeqNos
    charging_state: str | None
    has_token: bool
    evse_id: int


@dataclass(frozen=True, slots=True)
class EventOutcome:
    session_id: int
    duplicate: bool
    # to remember for the next event, once committed; None when the transaction ended
    state: OpenTransaction | None = None


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


def _event_row(
    station_id: str, session_id: int, event: TransactionEventReport, at: datetime
) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "station_id": station_id,
        "transaction_id": event.transaction_ref,
        "seq_no": event.seq_no,
        "event_type": event.event_type.value,
        "trigger_reason": event.trigger_reason,
        "timestamp": event.timestamp,
        "offline": event.offline,
        "charging_state": event.charging_state,
        "payload": _payload(event),
        "received_at": at,
    }


async def _store_event(
    work: Work, station_id: str, session_id: int, event: TransactionEventReport, at: datetime
) -> bool:
    """Insert the event; False if this (transaction, seqNo) was stored before."""
    table: Any = TransactionEvent.__table__
    dialect = work.session.sync_session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .values(**_event_row(station_id, session_id, event, at))
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


def _in_sequence(known: OpenTransaction | None, event: TransactionEventReport) -> bool:
    """May this event take the short path? (see the module doc)"""
    return (
        known is not None
        and event.event_type is TransactionEventType.UPDATED
        and event.seq_no not in known.seen
        and event.timestamp >= known.started_at
        and (event.id_tag is None or known.has_token)
        and (event.evse_id is None or known.evse_id != 0)
        and event.remote_start_id is None
        and event.reservation_id is None
    )


async def apply_transaction_event(
    work: Work,
    station_id: str,
    ocpp_version: str,
    event: TransactionEventReport,
    authorization: Authorization | None,
    *,
    at: datetime,
    known: OpenTransaction | None = None,
) -> EventOutcome:
    """Store one TransactionEvent and fold it into its session (see the module doc).

    ``known`` is what the connection remembers of this transaction (the ``state`` of
    the previous outcome); it is never changed here, since a unit may run twice.
    """
    if known is not None and event.seq_no in known.seen:
        return EventOutcome(known.session_id, duplicate=True, state=known)
    if known is not None and _in_sequence(known, event):
        return await _apply_in_sequence(work, station_id, event, known, at)
    return await _apply_in_full(work, station_id, ocpp_version, event, authorization, at)


async def _apply_in_sequence(
    work: Work,
    station_id: str,
    event: TransactionEventReport,
    known: OpenTransaction,
    at: datetime,
) -> EventOutcome:
    # the unique index still stores a retry once, should the memory ever be wrong
    work.append(TransactionEvent, [_event_row(station_id, known.session_id, event, at)])
    if event.samples:
        record_samples(work, station_id, known.evse_id, known.session_id, event.samples)
        _note_samples(work, station_id, known.evse_id, known.session_id, event)
    newest = event.seq_no > known.seen.newest
    state = known.charging_state
    if newest and event.charging_state is not None and event.charging_state != state:
        state = event.charging_state
        await work.session.execute(
            update(_SESSIONS)
            .where(_SESSIONS.c.id == known.session_id)
            .values(charging_state=state, last_seq_no=event.seq_no, updated_at=at)
        )
    return EventOutcome(
        known.session_id,
        duplicate=False,
        state=OpenTransaction(
            session_id=known.session_id,
            started_at=known.started_at,
            seen=known.seen.add(event.seq_no),
            charging_state=state,
            has_token=known.has_token,
            evse_id=known.evse_id,
        ),
    )


def _note_samples(
    work: Work, station_id: str, evse_id: int, session_id: int, event: TransactionEventReport
) -> None:
    """Publish a transaction's readings as 1.6 MeterValues are published (live pages and
    the register checks follow them). An Ended event's readings are not: the session's
    end judges its whole register."""
    if event.event_type is TransactionEventType.ENDED:
        return
    at = event.samples[-1].timestamp
    work.emit(events.MeterSampled(station_id, at, evse_id, session_id, len(event.samples)))


async def _register_at(work: Work, session_id: int, *, last: bool) -> tuple[datetime, int] | None:
    """The total active-import register sample with the earliest (or latest) time."""
    order = MeterValue.timestamp.desc() if last else MeterValue.timestamp
    row = (
        await work.session.execute(
            select(MeterValue.timestamp, MeterValue.value)
            .where(
                MeterValue.session_id == session_id,
                MeterValue.measurand == ENERGY_REGISTER,
                MeterValue.phase == "",
                MeterValue.unit == "Wh",
                MeterValue.value.is_not(None),
            )
            .order_by(order)
            .limit(1)
        )
    ).one_or_none()
    if row is None or row.value is None:
        return None
    return row.timestamp, int(row.value.to_integral_value(ROUND_HALF_UP))


async def _apply_in_full(
    work: Work,
    station_id: str,
    ocpp_version: str,
    event: TransactionEventReport,
    authorization: Authorization | None,
    at: datetime,
) -> EventOutcome:
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

    # what the short path leaves in the stored events and samples only
    seen = SeqNos.of(
        set(
            (
                await work.session.execute(
                    select(TransactionEvent.seq_no).where(TransactionEvent.session_id == row.id)
                )
            ).scalars()
        )
    )
    newest = seen.newest
    if event.seq_no >= newest and event.charging_state is not None:
        row.charging_state = event.charging_state
    row.last_seq_no = newest
    if event.samples:
        record_samples(
            work, station_id, row.evse_id, row.id, event.samples, connector_id=row.connector_id
        )
        _note_samples(work, station_id, row.evse_id, row.id, event)
    await work.flush_appends(MeterValue)
    first = await _register_at(work, row.id, last=False)
    last = await _register_at(work, row.id, last=True)
    if first is not None and last is not None:
        row.first_register_at, row.meter_start_wh = first
        row.last_register_at, row.last_register_wh = last

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
    state = None
    if row.status != COMPLETED:
        state = OpenTransaction(
            session_id=row.id,
            started_at=row.started_at,
            seen=seen,
            charging_state=row.charging_state,
            has_token=row.id_tag is not None,
            evse_id=row.evse_id,
        )
    return EventOutcome(row.id, duplicate=False, state=state)
