"""Drivers hear about their own sessions: started, stopped, interrupted, idle fees.

A session belongs to a driver when its token belongs to a user account. What they are
told goes through the outbox (:func:`~chargeops.alerts.outbox.notify_user`: their
channels, or the console and their account email), in the transaction that decides it.

**Once each.** Every kind of notice is claimed in :class:`SessionNotice` (primary key:
session and kind) in that same transaction, so a replayed bus event, or the periodic
check meeting a bus handler, tells nobody twice; on PostgreSQL a second writer's claim
waits for the first to commit and then finds it. Anything told about a session first
claims ``started``, so a short session's "stopped" never arrives before its "started";
a session that ended before its start was told is not said to have started.

**When.**

- ``session.started``: on ``TransactionStarted``; a 2.0.1 transaction often starts at
  plug-in and learns its token later, so the periodic check tells those once the token
  is known (for sessions started within the last hour).
- ``session.stopped`` / ``session.interrupted``: on ``TransactionEnded``, after the CDR
  is made (made here if the recorder has not yet: it is idempotent), so the message can
  say what it cost. It is ``interrupted`` when the stop reason is one the driver did not
  choose (:data:`INTERRUPTIONS`) and nothing was said of an interruption before;
  ``stopped`` otherwise, with the reason in words.
- ``session.interrupted`` while the session is open: the connector (or the station)
  reports ``Faulted``, or the station has been offline for ``offline_after`` (a short
  network blip is not worth a message, and stations keep charging offline). Once per
  session; the end is told as ``stopped`` afterwards, with its figures.
- ``session.idle_fee_started``: the car stopped charging (1.6 ``SuspendedEV`` or
  ``Finishing`` while the transaction is open, 2.0.1 chargingState ``SuspendedEV`` or
  ``EVConnected``, after it had charged) and the session's tariff charges PARKING_TIME
  from now on: the instant fees begin is found by rating the session as it stands with
  the billing engine itself, so free periods, time-of-day and duration restrictions
  count exactly as they will on the CDR. A station pausing (``SuspendedEVSE``) is not
  the car, and not told.

Times in payloads are UTC ISO 8601; texts show the site's local time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.alerts import channels, outbox
from chargeops.alerts.incidents import Links
from chargeops.alerts.models import SessionNotice
from chargeops.billing import PeriodKind, rate_session, synthesize_session
from chargeops.billing.cdrs import build_cdr, payer_of, time_zone_of
from chargeops.billing.models import Cdr
from chargeops.billing.service import tariff_for
from chargeops.billing.tariffs import DimensionType, PriceComponent, Tariff
from chargeops.bus import Bus
from chargeops.core import events
from chargeops.core.clock import format_timestamp, utcnow
from chargeops.core.errors import InvalidInput
from chargeops.monitoring.models import StationConnectivity
from chargeops.sessions.models import ChargingSession, MeterValue, TransactionEvent
from chargeops.stations.models import Connector, ConnectorStatusChange, Site, Station
from chargeops.storage.jobs import Scheduler
from chargeops.storage.writer import GroupCommitWriter, UnitFn, Work, WriterClosed
from chargeops.users.models import IdToken

log = logging.getLogger(__name__)

STARTED, INTERRUPTED, ENDED, IDLE_FEE = "started", "interrupted", "ended", "idle_fee"
ACTIVE, COMPLETED = "active", "completed"

# Stop reasons (OCPP 1.6 Reason, 2.0.1 ReasonEnumType). A normal stop is one the driver
# or their car asked for, or a limit or authorization outcome that restarting would not
# change; the driver is told it in words with the figures. Everything else, and any
# reason we do not know, is an interruption: the station or the network ended the
# session, and the driver may want to charge again or elsewhere.
NORMAL_STOPS: dict[str, str] = {
    "Local": "you stopped it at the station",
    "Remote": "it was stopped from the app or by the operator at your request",
    "EVDisconnected": "the cable was unplugged",
    "StoppedByEV": "your car ended charging",
    "SOCLimitReached": "your car reached the state of charge set for this session",
    "EnergyLimitReached": "the energy limit set for this session was reached",
    "TimeLimitReached": "the time limit set for this session was reached",
    "Timeout": "no car was connected in time",
    "DeAuthorized": "your card or app token was not accepted",
    "LocalOutOfCredit": "the credit for this session ran out",
}
INTERRUPTIONS: dict[str, str] = {
    "EmergencyStop": "the emergency stop button was pressed",
    "PowerLoss": "the station lost power",
    "Reboot": "the station restarted",
    "HardReset": "the station was restarted by the operator",
    "SoftReset": "the station was restarted by the operator",
    "ImmediateReset": "the station was restarted by the operator",
    "GroundFault": "the station detected a ground fault",
    "OvercurrentFault": "the station detected an overcurrent",
    "PowerQuality": "the power supply was out of range",
    "UnlockCommand": "the operator unlocked the connector",
    "MasterPass": "staff stopped the session with a master card",
    "Other": "the station ended it",
}

IDLE_16 = frozenset({"SuspendedEV", "Finishing"})  # connector status, transaction open
IDLE_201 = frozenset({"SuspendedEV", "EVConnected"})  # chargingState
CHARGING = "Charging"
FAULTED = "Faulted"

SERVER_STOPPED = "server_stopped"  # monitoring's reason when chargeops was not running
_LATE_START = timedelta(hours=1)  # a start told later than this is noise, not news
_ENDED_GRACE = timedelta(minutes=2)  # the bus handler's turn before the check's
_IDLE_HORIZON = timedelta(hours=48)  # how far ahead fees are looked for
_STATUS_SLACK = timedelta(minutes=1)  # a Charging reported just before the start counts


def is_interruption(reason: str | None) -> bool:
    """Whether a session ended for a reason the driver did not choose (None: Local)."""
    return reason is not None and reason not in NORMAL_STOPS


def reason_in_words(reason: str | None) -> str:
    reason = reason or "Local"
    return NORMAL_STOPS.get(reason) or INTERRUPTIONS.get(reason) or f"the station said {reason}"


def kwh_text(wh: int) -> str:
    """Energy as kWh text, three decimals: exact for integer Wh."""
    return str((Decimal(wh) / 1000).quantize(Decimal("0.001")))


def duration_text(seconds: float) -> str:
    minutes = max(int(seconds // 60), 0)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@dataclass(frozen=True, slots=True)
class FeeStart:
    """When idle fees begin for a session, and at what price."""

    at: datetime
    idle_since: datetime
    component: PriceComponent
    currency: str
    places: int

    def price_words(self) -> str:
        """The hourly price as a driver reads it: incl. VAT first, rounded for display
        (half up, to the currency's minor unit), as receipts round."""
        minor = Decimal(1).scaleb(-self.places)
        per_hour = self.component.price
        words = f"{per_hour.quantize(minor, ROUND_HALF_UP)} {self.currency} per hour"
        if self.component.vat is None:
            return words
        incl = (per_hour * (100 + self.component.vat) / 100).quantize(minor, ROUND_HALF_UP)
        return f"{incl} {self.currency} per hour incl. VAT ({words} excl. VAT)"

    def payload(self) -> dict[str, Any]:
        vat = self.component.vat
        return {
            "idle_since": format_timestamp(self.idle_since),
            "idle_fee_from": format_timestamp(self.at),
            "idle_fee": {
                "currency": self.currency,
                "price_per_hour_excl_vat": str(self.component.price),
                "vat_percent": None if vat is None else str(vat),
                "step_size_s": self.component.step_size,
            },
        }


class DriverNotifier:
    """Tells drivers about their sessions; see the module's docstring for what and when."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        sessions: async_sessionmaker[AsyncSession],
        links: Links,
        *,
        clock: Callable[[], datetime] = utcnow,
        offline_after: timedelta = timedelta(minutes=5),
        check_every: timedelta = timedelta(seconds=30),
    ) -> None:
        self._writer = writer
        self._sessions = sessions
        self.links = links
        self._clock = clock
        self.offline_after = offline_after
        self._check_every = check_every
        # stations shown offline because chargeops itself was down count from our start
        self._started_at = clock()

    def install(self, bus: Bus, scheduler: Scheduler) -> None:
        bus.subscribe(events.TransactionStarted, self.on_started)
        bus.subscribe(events.TransactionEnded, self.on_ended)
        bus.subscribe(events.ConnectorStatusChanged, self.on_status)
        scheduler.add("alerts.driver_sessions", self._check_every, self.check)

    # --- facts from the bus ---------------------------------------------------------

    async def on_started(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.TransactionStarted)
        session_id = event.session_id
        if await self._driven(session_id):
            await self._submit(lambda w: self._tell_started(w, session_id))

    async def on_ended(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.TransactionEnded)
        if await self._driven(event.session_id):
            await self._ended(event.session_id)

    async def on_status(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.ConnectorStatusChanged)
        if event.status == FAULTED:
            await self._submit(lambda w: self._tell_fault(w, event))
        elif event.status in IDLE_16:
            async with self._sessions() as db:
                ids = (
                    await db.scalars(
                        select(ChargingSession.id).where(
                            ChargingSession.station_id == event.station_id,
                            ChargingSession.evse_id == event.evse_id,
                            ChargingSession.status == ACTIVE,
                        )
                    )
                ).all()
            await self._idle_fees(ids, self._clock())

    # --- the periodic check ---------------------------------------------------------

    async def check(self, now: datetime) -> int:
        """What no single event says: starts whose token came later, stations offline
        too long, idle fees that begin now, and ends a lost event never told. Returns
        how many notices were given."""
        told = 0
        async with self._sessions() as db:
            active = (
                await db.execute(
                    select(
                        ChargingSession.id, ChargingSession.station_id, ChargingSession.started_at
                    )
                    .join(IdToken, func.lower(IdToken.id_tag) == func.lower(ChargingSession.id_tag))
                    .where(ChargingSession.status == ACTIVE, IdToken.user_id.is_not(None))
                    .order_by(ChargingSession.started_at, ChargingSession.id)
                )
            ).all()
            ended = (
                await db.scalars(
                    select(ChargingSession.id)
                    .join(IdToken, func.lower(IdToken.id_tag) == func.lower(ChargingSession.id_tag))
                    .outerjoin(
                        SessionNotice,
                        (SessionNotice.session_id == ChargingSession.id)
                        & (SessionNotice.kind == ENDED),
                    )
                    .where(
                        ChargingSession.status == COMPLETED,
                        IdToken.user_id.is_not(None),
                        SessionNotice.session_id.is_(None),
                        ChargingSession.updated_at >= now - _LATE_START,
                        ChargingSession.updated_at <= now - _ENDED_GRACE,
                    )
                    .order_by(ChargingSession.stopped_at, ChargingSession.id)
                )
            ).all()
            claimed = await _claimed(db, [row.id for row in active])
            offline = await _offline_since(db, {row.station_id for row in active})
            idle = await _not_charging(db)
        for row in active:
            done = claimed.get(row.id, set())
            if STARTED not in done and row.started_at >= now - _LATE_START:
                told += await self._submit(partial(self._tell_started, session_id=row.id))
            since = offline.get(row.station_id)
            if since is not None and since[1] == SERVER_STOPPED:
                # offline because chargeops itself was down: it counts from our start, or
                # every driver would hear of it while the stations reconnect
                since = (max(since[0], self._started_at), SERVER_STOPPED)
            if (
                INTERRUPTED not in done
                and since is not None
                and since[0] <= now - self.offline_after
            ):
                told += await self._submit(
                    partial(self._tell_offline, session_id=row.id, since=since[0])
                )
        told += await self._idle_fees(
            [
                row.id
                for row in active
                if row.id in idle and IDLE_FEE not in claimed.get(row.id, set())
            ],
            now,
        )
        for session_id in ended:
            told += await self._ended(session_id)
        return told

    # --- what is told ---------------------------------------------------------------

    async def _ended(self, session_id: int) -> int:
        try:
            # the CDR says what the session cost; the recorder makes it too, once
            await self._writer.submit(lambda w: build_cdr(w, session_id))
        except WriterClosed:
            return 0
        except Exception:
            log.exception("no CDR for the driver's notice", extra={"session_id": session_id})
        return await self._submit(lambda w: self._tell_ended(w, session_id))

    async def _idle_fees(self, session_ids: Iterable[int], now: datetime) -> int:
        """Tell the sessions among ``session_ids`` whose idle fees have begun by ``now``;
        judged outside the writer (it rates the session), told in a unit that checks the
        session is still open and the notice unclaimed."""
        due: list[tuple[int, FeeStart]] = []
        async with self._sessions() as db:
            for session_id in session_ids:
                row = await db.get(ChargingSession, session_id)
                if row is None or row.status != ACTIVE or await _owner(db, row.id_tag) is None:
                    continue
                fee = await idle_fee_start(db, row)
                if fee is not None and fee.at <= now:
                    due.append((session_id, fee))
        told = 0
        for session_id, fee in due:
            told += await self._submit(partial(self._tell_idle_fee, session_id=session_id, fee=fee))
        return told

    async def _tell_started(self, w: Work, session_id: int) -> bool:
        row = await w.session.get(ChargingSession, session_id)
        if row is None:
            return False
        owner = await _owner(w.session, row.id_tag)
        if owner is None:
            return False
        return await self._started(w, row, owner)

    async def _started(self, w: Work, row: ChargingSession, owner: int) -> bool:
        """Claim ``started``; tell it only while the session is open."""
        now = self._clock()
        if not await _claim(w, row.id, STARTED, owner, now) or row.status != ACTIVE:
            return False
        if not await channels.wants_session_notifications(w.session, owner):
            return False
        place = await _Place.of(w.session, row)
        message = outbox.Message(
            event="session.started",
            subject=f"Charging started at {place.station}",
            text="\n".join(
                [
                    f"Your charging session {row.id} started at {place.local(row.started_at)}.",
                    f"Where: {place.where}",
                    "You will be told when it ends.",
                ]
            ),
            payload=_session_payload(row),
            station_id=row.station_id,
            link=self._session_link(row.id),
        )
        await outbox.notify_user(w, owner, message, now=now)
        return True

    async def _tell(
        self,
        w: Work,
        row: ChargingSession,
        kind: str,
        message: Callable[[_Place], Awaitable[outbox.Message]],
    ) -> bool:
        """Claim ``kind`` for the session (after ``started``) and tell its driver."""
        owner = await _owner(w.session, row.id_tag)
        if owner is None:
            return False
        await self._started(w, row, owner)
        now = self._clock()
        if not await _claim(w, row.id, kind, owner, now):
            return False
        if not await channels.wants_session_notifications(w.session, owner):
            return False
        place = await _Place.of(w.session, row)
        await outbox.notify_user(w, owner, await message(place), now=now)
        return True

    async def _tell_ended(self, w: Work, session_id: int) -> bool:
        row = await w.session.get(ChargingSession, session_id)
        if row is None or row.status != COMPLETED or row.stopped_at is None:
            return False
        stopped_at = row.stopped_at
        interrupted = is_interruption(row.stop_reason) and not await _was_claimed(
            w.session, row.id, INTERRUPTED
        )

        async def message(place: _Place) -> outbox.Message:
            cdr = await w.session.scalar(
                select(Cdr).where(Cdr.session_id == row.id, Cdr.kind == "original")
            )
            energy = row.energy_wh
            duration = (stopped_at - row.started_at).total_seconds()
            why = reason_in_words(row.stop_reason)
            lines = [
                f"Your charging session {row.id} "
                f"{'was interrupted' if interrupted else 'ended'} at {place.local(stopped_at)}: "
                f"{why}.",
                f"Where: {place.where}",
                f"Energy: {kwh_text(energy)} kWh" if energy is not None else "Energy: not known",
                f"Duration: {duration_text(duration)}",
                f"Cost: {_cost_words(cdr)}",
            ]
            if interrupted:
                lines.append("If your car needs more, you can start charging again.")
            payload = _session_payload(row) | {
                "interrupted": interrupted,
                "reason_text": why,
                "cost": _cost(cdr),
                "cdr_id": cdr.id if cdr is not None else None,
            }
            if interrupted:
                payload["cause"] = "stop_reason"
            figures = f"{kwh_text(energy)} kWh" if energy is not None else "done"
            cost = _cost(cdr)
            if cost is not None:
                figures += f", {cost['total_incl_vat']} {cost['currency']}"
            subject = (
                f"Charging interrupted at {place.station}: {why}"
                if interrupted
                else f"Charging finished at {place.station}: {figures}"
            )
            return outbox.Message(
                event="session.interrupted" if interrupted else "session.stopped",
                subject=subject,
                text="\n".join(lines),
                payload=payload,
                station_id=row.station_id,
                link=self._session_link(row.id),
            )

        return await self._tell(w, row, ENDED, message)

    async def _tell_fault(self, w: Work, event: events.ConnectorStatusChanged) -> bool:
        """The connector (or the whole station, EVSE 0) faulted: its open sessions are
        interrupted, if it is still faulted (a late report of an old fault is not)."""
        current = await w.session.scalar(
            select(Connector.status).where(
                Connector.station_id == event.station_id,
                Connector.evse_id == event.evse_id,
                Connector.connector_id == event.connector_id,
            )
        )
        if current != FAULTED:
            return False
        stmt = select(ChargingSession).where(
            ChargingSession.station_id == event.station_id,
            ChargingSession.status == ACTIVE,
            ChargingSession.started_at <= event.occurred_at,
        )
        if event.evse_id:
            stmt = stmt.where(ChargingSession.evse_id == event.evse_id)
        told = False
        for row in (await w.session.scalars(stmt.order_by(ChargingSession.id))).all():

            async def message(place: _Place, row: ChargingSession = row) -> outbox.Message:
                code = event.error_code if event.error_code not in (None, "NoError") else None
                what = f"reported a fault ({code})" if code else "reported a fault"
                where = f"EVSE {event.evse_id}" if event.evse_id else "The station"
                return outbox.Message(
                    event="session.interrupted",
                    subject=f"Charging interrupted at {place.station}: {what}",
                    text="\n".join(
                        [
                            f"{where} {what} at {place.local(event.occurred_at)}, during your "
                            f"charging session {row.id}; charging has most likely stopped.",
                            f"Where: {place.where}",
                            "You will be told when the session ends, with what it cost.",
                        ]
                    ),
                    payload=_session_payload(row)
                    | {
                        "cause": "fault",
                        "error_code": event.error_code,
                        "interrupted_at": format_timestamp(event.occurred_at),
                        "energy_wh_so_far": await _energy_so_far(w.session, row),
                    },
                    station_id=row.station_id,
                    link=self._session_link(row.id),
                )

            told |= await self._tell(w, row, INTERRUPTED, message)
        return told

    async def _tell_offline(self, w: Work, session_id: int, since: datetime) -> bool:
        row = await w.session.get(ChargingSession, session_id)
        if row is None or row.status != ACTIVE:
            return False
        state = await w.session.get(StationConnectivity, row.station_id)
        if state is None or state.online:
            return False  # back already

        async def message(place: _Place) -> outbox.Message:
            return outbox.Message(
                event="session.interrupted",
                subject=f"{place.station} lost its connection during your charging session",
                text="\n".join(
                    [
                        f"Nothing has been heard from {place.station} since "
                        f"{place.local(since)}, during your charging session {row.id}.",
                        f"Where: {place.where}",
                        "Your car may still be charging: stations go on offline and report "
                        "when they are back. You will be told when the session ends.",
                    ]
                ),
                payload=_session_payload(row)
                | {
                    "cause": "offline",
                    "interrupted_at": format_timestamp(since),
                    "energy_wh_so_far": await _energy_so_far(w.session, row),
                },
                station_id=row.station_id,
                link=self._session_link(row.id),
            )

        return await self._tell(w, row, INTERRUPTED, message)

    async def _tell_idle_fee(self, w: Work, session_id: int, fee: FeeStart) -> bool:
        row = await w.session.get(ChargingSession, session_id)
        if row is None or row.status != ACTIVE:
            return False

        async def message(place: _Place) -> outbox.Message:
            return outbox.Message(
                event="session.idle_fee_started",
                subject=f"Idle fees now apply at {place.station}",
                text="\n".join(
                    [
                        f"Your car stopped charging at {place.local(fee.idle_since)} and is "
                        f"still plugged in (charging session {row.id}).",
                        f"Where: {place.where}",
                        f"Since {place.local(fee.at)} the time it stays connected costs "
                        f"{fee.price_words()}. Unplug to stop idle fees.",
                    ]
                ),
                payload=_session_payload(row) | fee.payload(),
                station_id=row.station_id,
                link=self._session_link(row.id),
            )

        return await self._tell(w, row, IDLE_FEE, message)

    # --- inside ---------------------------------------------------------------------

    async def _driven(self, session_id: int) -> bool:
        """Whether a driver's account owns the session's token: a cheap read, so the
        many sessions of cards nobody owns cost the writer nothing."""
        async with self._sessions() as db:
            owner = await db.scalar(
                select(IdToken.user_id)
                .join(
                    ChargingSession,
                    func.lower(ChargingSession.id_tag) == func.lower(IdToken.id_tag),
                )
                .where(ChargingSession.id == session_id)
            )
        return owner is not None

    def _session_link(self, session_id: int) -> str:
        return f"{self.links.base_url.rstrip('/')}/sessions/{session_id}"

    async def _submit(self, unit: UnitFn[bool]) -> int:
        """Run a unit; a unique index refusing it means another writer did the same at
        the same moment (several writers on PostgreSQL): run it again, and it finds that
        one. Returns 1 if it told someone."""
        for attempt in range(3):
            try:
                return int(await self._writer.submit(unit))
            except IntegrityError:
                if attempt == 2:
                    raise
            except WriterClosed:
                log.info("driver notice not given: shutting down")
                return 0
        return 0


async def idle_fee_start(db: AsyncSession, row: ChargingSession) -> FeeStart | None:
    """When idle fees begin for an open session whose car stopped charging (None: it
    is charging, never charged, or its tariff charges no idle time from here on)."""
    idle_since = await _idle_since(db, row)
    if idle_since is None:
        return None
    payer = await payer_of(db, row.id_tag)
    resolved = await tariff_for(
        db, row.station_id, row.evse_id, payer.organization_id, row.started_at
    )
    if resolved is None or not _charges_parking(resolved.value):
        return None
    tariff = resolved.value
    try:
        usage = synthesize_session(
            start=row.started_at,
            time_zone=await time_zone_of(db, row.station_id),
            energy_wh=max(await _energy_so_far(db, row) or 0, 0),
            duration=max(idle_since - row.started_at, timedelta(0)),
            idle=_IDLE_HORIZON,
        )
        rated = rate_session(usage, tariff)
    except InvalidInput as exc:
        log.warning("idle fees not judged: %s", exc.detail, extra={"session_id": row.id})
        return None
    for period in rated.periods:
        if period.kind != PeriodKind.IDLE or period.time_element is None:
            continue
        component = tariff.elements[period.time_element].component(DimensionType.PARKING_TIME)
        if component is not None and component.price > 0:
            return FeeStart(
                max(period.start, idle_since),
                idle_since,
                component,
                tariff.currency,
                tariff.minor_unit,
            )
    return None


def _charges_parking(tariff: Tariff) -> bool:
    return any(
        c.type == DimensionType.PARKING_TIME and c.price > 0
        for element in tariff.elements
        for c in element.price_components
    )


async def _idle_since(db: AsyncSession, row: ChargingSession) -> datetime | None:
    """Since when the car has not been charging, if it is not now and charged before."""
    states: Sequence[tuple[datetime, str]]
    if row.ocpp_version == "1.6":
        idle = IDLE_16
        states = [
            (at, status)
            for at, status in (
                await db.execute(
                    select(ConnectorStatusChange.timestamp, ConnectorStatusChange.status)
                    .where(
                        ConnectorStatusChange.station_id == row.station_id,
                        ConnectorStatusChange.evse_id == row.evse_id,
                        ConnectorStatusChange.connector_id == row.connector_id,
                        ConnectorStatusChange.timestamp >= row.started_at - _STATUS_SLACK,
                    )
                    .order_by(
                        ConnectorStatusChange.timestamp.desc(), ConnectorStatusChange.id.desc()
                    )
                    .limit(200)
                )
            ).all()
        ]
    else:
        idle = IDLE_201
        states = [
            (at, state)
            for at, state in (
                await db.execute(
                    select(TransactionEvent.timestamp, TransactionEvent.charging_state)
                    .where(
                        TransactionEvent.session_id == row.id,
                        TransactionEvent.charging_state.is_not(None),
                    )
                    .order_by(TransactionEvent.seq_no.desc())
                    .limit(200)
                )
            ).all()
            if state
        ]
    since: datetime | None = None
    for i, (at, state) in enumerate(states):
        if state in idle:
            since = at
            continue
        charged = any(s == CHARGING for _, s in states[i:])
        return max(since, row.started_at) if since is not None and charged else None
    return None


async def _not_charging(db: AsyncSession) -> set[int]:
    """Open sessions whose car is not charging now: the only ones idle fees may concern
    (one indexed read each way, instead of a rating per open session)."""
    ocpp16 = await db.scalars(
        select(ChargingSession.id)
        .join(
            Connector,
            (Connector.station_id == ChargingSession.station_id)
            & (Connector.evse_id == ChargingSession.evse_id)
            & (Connector.connector_id == ChargingSession.connector_id),
        )
        .where(
            ChargingSession.status == ACTIVE,
            ChargingSession.ocpp_version == "1.6",
            Connector.status.in_(IDLE_16),
        )
    )
    later = await db.scalars(
        select(ChargingSession.id).where(
            ChargingSession.status == ACTIVE,
            ChargingSession.ocpp_version != "1.6",
            ChargingSession.charging_state.in_(IDLE_201),
        )
    )
    return set(ocpp16.all()) | set(later.all())


async def _energy_so_far(db: AsyncSession, row: ChargingSession) -> int | None:
    """Wh charged so far, from the newest register reading (None: no reading yet)."""
    if row.status == COMPLETED and row.energy_wh is not None:
        return row.energy_wh
    if row.meter_start_wh is None:
        return None
    if row.last_register_wh is not None:
        return row.last_register_wh - row.meter_start_wh
    newest = await db.scalar(
        select(MeterValue.value)
        .where(
            MeterValue.session_id == row.id,
            MeterValue.measurand == "Energy.Active.Import.Register",
            MeterValue.phase == "",
            MeterValue.unit == "Wh",
            MeterValue.value.is_not(None),
        )
        .order_by(MeterValue.timestamp.desc())
        .limit(1)
    )
    if newest is None:
        return None
    return int(newest.to_integral_value(ROUND_HALF_UP)) - row.meter_start_wh


async def _owner(db: AsyncSession, id_tag: str | None) -> int | None:
    """The user whose token started the session (tokens are case-insensitive)."""
    if not id_tag:
        return None
    return await db.scalar(
        select(IdToken.user_id).where(func.lower(IdToken.id_tag) == id_tag.lower())
    )


async def _claim(w: Work, session_id: int, kind: str, user_id: int, now: datetime) -> bool:
    """Claim a notice; False when it was claimed before (by this or another writer)."""
    table: Any = SessionNotice.__table__
    dialect = w.session.sync_session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .values(session_id=session_id, kind=kind, user_id=user_id, at=now)
        .on_conflict_do_nothing()
        .returning(table.c.session_id)
    )
    return await w.scalar(stmt) is not None


async def _was_claimed(db: AsyncSession, session_id: int, kind: str) -> bool:
    found = await db.scalar(
        select(SessionNotice.session_id).where(
            SessionNotice.session_id == session_id, SessionNotice.kind == kind
        )
    )
    return found is not None


async def _claimed(db: AsyncSession, session_ids: Sequence[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for start in range(0, len(session_ids), 500):
        chunk = session_ids[start : start + 500]
        rows = await db.execute(
            select(SessionNotice.session_id, SessionNotice.kind).where(
                SessionNotice.session_id.in_(chunk)
            )
        )
        for session_id, kind in rows.all():
            out.setdefault(session_id, set()).add(kind)
    return out


async def _offline_since(
    db: AsyncSession, station_ids: set[str]
) -> dict[str, tuple[datetime, str]]:
    """Offline stations among ``station_ids``: since when, and why."""
    if not station_ids:
        return {}
    rows = await db.execute(
        select(
            StationConnectivity.station_id, StationConnectivity.since, StationConnectivity.reason
        ).where(
            StationConnectivity.station_id.in_(sorted(station_ids)),
            StationConnectivity.online.is_(False),
        )
    )
    return {station_id: (since, reason) for station_id, since, reason in rows.all()}


def _session_payload(row: ChargingSession) -> dict[str, Any]:
    """What every session webhook carries: ids, times (UTC ISO 8601), energy (Wh and kWh
    text)."""
    energy = row.energy_wh
    return {
        "session_id": row.id,
        "station_id": row.station_id,
        "evse_id": row.evse_id,
        "connector_id": row.connector_id,
        "transaction_id": row.transaction_id,
        "started_at": format_timestamp(row.started_at),
        "stopped_at": format_timestamp(row.stopped_at) if row.stopped_at else None,
        "duration_s": (
            int((row.stopped_at - row.started_at).total_seconds()) if row.stopped_at else None
        ),
        "energy_wh": energy,
        "energy_kwh": kwh_text(energy) if energy is not None else None,
        "stop_reason": row.stop_reason,
    }


def _cost(cdr: Cdr | None) -> dict[str, str] | None:
    if cdr is None or cdr.unpriced or cdr.currency is None:
        return None
    return {
        "currency": cdr.currency,
        "total_excl_vat": str(cdr.total_excl_vat),
        "total_incl_vat": str(cdr.total_incl_vat),
    }


def _cost_words(cdr: Cdr | None) -> str:
    if cdr is None:
        return "not priced yet: the receipt follows"
    cost = _cost(cdr)
    if cost is None:
        return "no tariff applies to this session"
    return (
        f"{cost['total_incl_vat']} {cost['currency']} incl. VAT "
        f"({cost['total_excl_vat']} excl. VAT)"
    )


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a session is, in words, and the zone its times are shown in."""

    station: str
    where: str
    zone: ZoneInfo

    @classmethod
    async def of(cls, db: AsyncSession, row: ChargingSession) -> _Place:
        site = (
            await db.execute(
                select(Site.name, Site.address, Site.city, Site.time_zone)
                .join(Station, Station.site_id == Site.id)
                .where(Station.id == row.station_id)
            )
        ).one_or_none()
        where = f"{row.station_id}, EVSE {row.evse_id}" if row.evse_id else row.station_id
        zone = ZoneInfo("UTC")
        if site is not None:
            where += " at " + ", ".join(p for p in (site.name, site.address, site.city) if p)
            with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
                zone = ZoneInfo(site.time_zone)
        return cls(row.station_id, where, zone)

    def local(self, at: datetime) -> str:
        local = at.astimezone(self.zone)
        name = "UTC" if self.zone.key == "UTC" else local.tzname()
        return f"{local:%Y-%m-%d %H:%M} {name}"
