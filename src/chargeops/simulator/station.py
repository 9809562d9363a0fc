"""What a simulated charging station does, independent of the OCPP version it speaks.

A :class:`Station` is a small state machine per connector::

    IDLE (Available) -> PREPARING (plugged in, Authorize) -> STARTING (StartTransaction)
      -> CHARGING (periodic meter values) -> STOPPING (StopTransaction) -> FINISHING -> IDLE

It talks to the CSMS only through a :class:`CsmsLink`, the version-neutral port an OCPP
wiring implements (``v16.py`` for 1.6J, ``v201.py`` for 2.0.1). Commands from the
CSMS arrive as plain method calls (:meth:`Station.remote_start`, ...) that only change
state and wake the connector; the connector task then sends whatever follows, because a
handler that awaited a call to the CSMS would deadlock the connection's read loop.

A station's state outlives its connection. When the connection drops mid-session the
car keeps charging; after the reconnect the station boots again, reports where each
connector is, and carries on: a StartTransaction or StopTransaction that got no answer is
sent again with the same values, as real chargers do and as the CSMS must tolerate.
Reservations, the local authorization list, charging profiles and a firmware update or
log upload in progress outlive it too.

What a command sets going (a firmware update, a log upload, a device model report) runs
as a *follow-up*: a task beside the connectors, started once the command's answer is out,
that reports its progress through the link. The limits of the charging profiles
(``profiles.py``) are put on the connectors' meters, so the power reported obeys them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Protocol
from urllib.parse import urlsplit

from chargeops.simulator.journal import Journal
from chargeops.simulator.local_list import ListEntry, ListUpdate, LocalList
from chargeops.simulator.meter import ConnectorMeter, Ev, MeterSample, ReadingContext
from chargeops.simulator.profiles import (
    ChargingProfile,
    ChargingProfiles,
    CompositeSchedule,
    ConnectorLoad,
    Purpose,
)
from chargeops.simulator.transfers import (
    FirmwareStatus,
    FirmwareUpdate,
    LogRequest,
    UploadError,
    UploadStatus,
    can_upload_to,
    firmware_version,
    upload,
)

logger = logging.getLogger("chargeops.simulator")

FIRMWARE_VERSION = "chargeops-sim-1.0"


class ConnectorStatus(StrEnum):
    """The status a connector reports; a wiring maps it to its version's vocabulary."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"


class BootStatus(StrEnum):
    """The CSMS's answer to a boot: go on, wait and ask again, or refused for now."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class StopReason(StrEnum):
    """Why a transaction ended, as reported in the stop message."""

    EV_DISCONNECTED = "EVDisconnected"
    LOCAL = "Local"
    REMOTE = "Remote"
    SOFT_RESET = "SoftReset"
    HARD_RESET = "HardReset"
    UNLOCK_COMMAND = "UnlockCommand"
    DE_AUTHORIZED = "DeAuthorized"


class CommandStatus(StrEnum):
    """The station's answer to a CSMS command, before a wiring spells it for its version."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    SCHEDULED = "Scheduled"
    NOT_SUPPORTED = "NotSupported"
    #: Accepted, and an earlier request of the same kind still running was cancelled.
    ACCEPTED_CANCELED = "AcceptedCanceled"
    OCCUPIED = "Occupied"
    UNAVAILABLE = "Unavailable"
    UNKNOWN = "Unknown"


class BootReason(StrEnum):
    """Why the station boots, where the station knows better than its wiring (which
    follows resets and triggers itself)."""

    FIRMWARE_UPDATE = "FirmwareUpdate"


class TriggerKind(StrEnum):
    """Messages the CSMS may ask the station to send now."""

    BOOT_NOTIFICATION = "BootNotification"
    HEARTBEAT = "Heartbeat"
    STATUS_NOTIFICATION = "StatusNotification"
    METER_VALUES = "MeterValues"


class SessionEnd(Enum):
    """How a connection's session ended: for good, or to boot again at once (Reset)."""

    STOPPED = "stopped"
    REBOOT = "reboot"


@dataclass(frozen=True, slots=True)
class BootResult:
    """The CSMS's answer to a boot; ``interval_s`` is the heartbeat or retry interval."""

    status: BootStatus
    interval_s: int


@dataclass(frozen=True, slots=True)
class StartResult:
    """The transaction id the CSMS knows the session by, and whether the token was accepted."""

    transaction_id: str
    accepted: bool


class CsmsCallError(Exception):
    """The CSMS answered a call with a CALLERROR (or an answer that failed validation)."""

    def __init__(self, action: str, code: str, description: str) -> None:
        super().__init__(f"{action}: {code} {description}".rstrip())
        self.action = action
        self.code = code
        self.description = description


@dataclass(frozen=True, slots=True)
class StationSpec:
    """What a station is: identity, hardware, and the tokens its drivers present."""

    station_id: str
    serial_number: str
    connector_count: int
    max_power_w: int
    id_tag: str
    other_id_tags: Sequence[str] = ()
    initial_register_wh: Sequence[float] = ()
    vendor: str = "chargeops"
    model: str = "Simulator"
    firmware_version: str = FIRMWARE_VERSION

    @property
    def meter_type(self) -> str:
        """Reported in the boot so the CSMS can tell AC from DC simulated hardware."""
        return "chargeops-sim DC" if self.max_power_w > 22_000 else "chargeops-sim AC"

    @property
    def meter_serial_number(self) -> str:
        """A meter serial derived from the station's, stable across runs."""
        return f"M{self.serial_number}"[:25]


@dataclass(frozen=True, slots=True)
class Timing:
    """How fast the simulated world moves; all in seconds, ranges as (low, high)."""

    meter_interval_s: float = 5.0
    charge_duration_s: tuple[float, float] = (45.0, 240.0)
    idle_between_sessions_s: tuple[float, float] = (10.0, 60.0)
    unplug_delay_s: float = 2.0
    #: Used when the CSMS answers a boot with interval 0 (it leaves the choice to us).
    default_interval_s: float = 60.0
    #: Between the steps of a firmware update (Downloading, Downloaded, Installing...).
    transfer_step_s: float = 1.0


class CsmsLink(Protocol):
    """The station's port to the CSMS; one implementation per OCPP version.

    Every method sends one message and waits for its answer. A CALLERROR or an invalid
    answer raises :class:`CsmsCallError`; a lost connection or a timeout raises whatever
    the transport raises, which ends the session (and the station reconnects).
    """

    async def boot(self, spec: StationSpec, reason: BootReason | None = None) -> BootResult: ...

    async def heartbeat(self) -> None: ...

    async def status(self, connector_id: int, status: ConnectorStatus) -> None: ...

    async def authorize(self, id_tag: str) -> bool: ...

    async def start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start_wh: int,
        timestamp: datetime,
        reservation_id: int | None = None,
    ) -> StartResult: ...

    async def meter_values(
        self, connector_id: int, transaction_id: str | None, sample: MeterSample
    ) -> None: ...

    async def stop_transaction(
        self,
        transaction_id: str,
        id_tag: str,
        meter_stop_wh: int,
        timestamp: datetime,
        reason: StopReason,
        sample: MeterSample,
    ) -> None: ...

    async def firmware_status(self, status: FirmwareStatus, request_id: int | None) -> None: ...

    async def upload_status(self, status: UploadStatus, request_id: int | None) -> None: ...

    async def reservation_expired(self, reservation_id: int) -> None: ...


class Phase(Enum):
    """Where a connector is in its charging cycle; each phase resumes after a reconnect."""

    IDLE = "idle"
    PREPARING = "preparing"
    STARTING = "starting"
    CHARGING = "charging"
    STOPPING = "stopping"
    FINISHING = "finishing"


@dataclass(frozen=True, slots=True)
class Reservation:
    """A connector held for one driver until ``expires_at`` (ReserveNow)."""

    reservation_id: int
    id_tag: str
    expires_at: datetime

    def holds_for(self, id_tag: str) -> bool:
        return self.id_tag.casefold() == id_tag.casefold()


@dataclass(slots=True, eq=False)
class Connector:
    """One connector's state; kept across reconnects so a session survives an outage."""

    connector_id: int
    meter: ConnectorMeter
    phase: Phase = Phase.IDLE
    status: ConnectorStatus | None = None
    operative: bool = True
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: Monotonic time the current phase waits for (next session, next sample, unplug).
    due_at: float = 0.0
    ends_at: float = 0.0
    id_tag: str = ""
    remote_id_tag: str | None = None
    authorized: bool = False
    transaction_id: str | None = None
    meter_start_wh: int = 0
    started_at: datetime | None = None
    stop_reason: StopReason | None = None
    meter_stop_wh: int = 0
    stopped_at: datetime | None = None
    stop_sample: MeterSample | None = None
    reservation: Reservation | None = None
    #: The reservation the present transaction was started on (sent with its start).
    reservation_id: int | None = None
    #: A TxProfile that came with a remote start, installed when the transaction starts.
    remote_profile: ChargingProfile | None = None

    def idle_status(self) -> ConnectorStatus:
        """Available, Reserved or Unavailable: what an idle connector shows."""
        if not self.operative:
            return ConnectorStatus.UNAVAILABLE
        return ConnectorStatus.AVAILABLE if self.reservation is None else ConnectorStatus.RESERVED

    def reported_status(self) -> ConnectorStatus:
        """The status that matches the phase, sent for every connector after a (re)boot."""
        if self.phase is Phase.IDLE:
            return self.idle_status()
        if self.phase in (Phase.PREPARING, Phase.STARTING):
            return ConnectorStatus.PREPARING
        if self.phase is Phase.CHARGING:
            return ConnectorStatus.CHARGING
        return ConnectorStatus.FINISHING


def utcnow() -> datetime:
    """Wall-clock time for messages: UTC, timezone-aware."""
    return datetime.now(UTC)


def _monotonic() -> float:
    return time.monotonic()


def _monotonic_at(moment: datetime) -> float:
    """The monotonic time of a wall-clock moment, for waits measured in monotonic time."""
    return _monotonic() + (moment - utcnow()).total_seconds()


@dataclass(slots=True, eq=False)
class _FollowUp:
    """Work a command set going; ``lasting`` work starts over after a reconnect."""

    key: str
    run: Callable[[CsmsLink], Awaitable[None]]
    lasting: bool
    task: asyncio.Task[None] | None = None


class Station:
    """One simulated charging station: its connectors' state and the behaviour driving them.

    :meth:`run_session` is called once per connection with a :class:`CsmsLink`; the
    command methods are called by the wiring's handlers for CSMS-initiated calls.
    """

    def __init__(self, spec: StationSpec, timing: Timing, rng: random.Random) -> None:
        self.spec = spec
        self.timing = timing
        self.rng = rng
        self.heartbeat_interval_s = timing.default_interval_s
        self.meter_interval_s = timing.meter_interval_s
        now = _monotonic()
        self.connectors = [
            Connector(
                connector_id=n,
                meter=ConnectorMeter(
                    spec.initial_register_wh[n - 1] if n <= len(spec.initial_register_wh) else 0.0,
                    spec.max_power_w,
                    rng,
                ),
                due_at=now + self._idle_s(),
            )
            for n in range(1, spec.connector_count + 1)
        ]
        self.booted = False
        #: Accepted boots so far; the connection loop resets its backoff when this grows.
        self.boot_count = 0
        self._ending: StopReason | None = None
        self._end_event = asyncio.Event()
        self._triggers: asyncio.Queue[tuple[TriggerKind, int | None]] = asyncio.Queue()
        #: What the station did lately, for the diagnostics log.
        self.journal = Journal()
        self.local_list = LocalList()
        self.profiles = ChargingProfiles()
        self._follow_ups: dict[str, _FollowUp] = {}
        self._to_start: asyncio.Queue[_FollowUp] = asyncio.Queue()

    @property
    def station_id(self) -> str:
        """The id the station connects with (the last segment of its URL)."""
        return self.spec.station_id

    def _log(self, level: int, msg: str, *args: object) -> None:
        """Log, and keep it in the journal (DEBUG too: the journal is the station's own log)."""
        logger.log(level, "%s: " + msg, self.station_id, *args)
        self.journal.record(utcnow(), level, msg, *args)

    def _idle_s(self) -> float:
        return self.rng.uniform(*self.timing.idle_between_sessions_s)

    # ---------------------------------------------------------------- session

    async def run_session(self, link: CsmsLink, stop: asyncio.Event) -> SessionEnd:
        """Drive the station over one connection until ``stop`` is set or a Reset asks for a reboot.

        On the way out every running transaction is stopped (reason Local, or the reset's
        reason) so nothing is left open. Transport errors propagate: the caller reconnects.
        """
        self.booted = False
        self._ending = None
        self._end_event.clear()
        while not self._triggers.empty():
            self._triggers.get_nowait()
        self._to_start = asyncio.Queue()
        for key, follow_up in list(self._follow_ups.items()):
            follow_up.task = None
            if follow_up.lasting:
                self._to_start.put_nowait(follow_up)
            else:
                del self._follow_ups[key]
        for connector in self.connectors:
            connector.wake.clear()
        watcher = asyncio.create_task(self._end_on(stop))
        try:
            if await self._boot(link):
                await self._report_all(link)
                async with asyncio.TaskGroup() as tg:
                    background = [
                        tg.create_task(self._heartbeats(link)),
                        tg.create_task(self._serve_triggers(link)),
                        tg.create_task(self._serve_follow_ups(link)),
                    ]
                    async with asyncio.TaskGroup() as connectors:
                        for connector in self.connectors:
                            connectors.create_task(self._run_connector(link, connector))
                    for task in background:
                        task.cancel()
        finally:
            watcher.cancel()
            self.booted = False
        if self._ending in (StopReason.SOFT_RESET, StopReason.HARD_RESET):
            return SessionEnd.REBOOT
        return SessionEnd.STOPPED

    async def _end_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.request_end(StopReason.LOCAL)

    def request_end(self, reason: StopReason) -> None:
        """Wind the session down: stop transactions with ``reason``, then end the connection."""
        if self._ending is not None:
            return
        self._ending = reason
        self._end_event.set()
        for connector in self.connectors:
            connector.wake.set()

    async def _wait_for_end(self, seconds: float) -> bool:
        """Sleep, unless the session is told to end first; True if it was."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._end_event.wait()
        return self._ending is not None

    async def _boot(self, link: CsmsLink) -> bool:
        """Boot until accepted; Pending and Rejected are retried after the given interval."""
        while self._ending is None:
            try:
                result = await link.boot(self.spec)
            except CsmsCallError as exc:
                self._log(logging.WARNING, "boot failed (%s), retrying", exc)
                retry_s = self.timing.default_interval_s
            else:
                interval_s = float(result.interval_s) or self.timing.default_interval_s
                if result.status is BootStatus.ACCEPTED:
                    self.heartbeat_interval_s = interval_s
                    self.booted = True
                    self.boot_count += 1
                    self._log(logging.INFO, "booted, heartbeat every %gs", interval_s)
                    return True
                self._log(logging.INFO, "boot %s, retrying in %gs", result.status, interval_s)
                retry_s = interval_s
            if await self._wait_for_end(retry_s):
                break
        return False

    async def _report_all(self, link: CsmsLink) -> None:
        """After a boot the CSMS knows nothing: report the station and every connector."""
        any_operative = any(c.operative for c in self.connectors)
        await self._send_status(
            link, 0, ConnectorStatus.AVAILABLE if any_operative else ConnectorStatus.UNAVAILABLE
        )
        for connector in self.connectors:
            await self._report(link, connector, connector.reported_status())

    async def _heartbeats(self, link: CsmsLink) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            try:
                await link.heartbeat()
            except CsmsCallError as exc:
                self._log(logging.WARNING, "heartbeat failed: %s", exc)

    async def _send_status(
        self, link: CsmsLink, connector_id: int, status: ConnectorStatus
    ) -> None:
        try:
            await link.status(connector_id, status)
        except CsmsCallError as exc:
            self._log(logging.WARNING, "status notification failed: %s", exc)

    async def _report(self, link: CsmsLink, connector: Connector, status: ConnectorStatus) -> None:
        if connector.status is not status:
            self._log(logging.DEBUG, "connector %d: %s", connector.connector_id, status)
        connector.status = status
        await self._send_status(link, connector.connector_id, status)

    async def _tell(self, what: str, message: Awaitable[None]) -> None:
        """Send a notification; one the CSMS refuses is logged, and the work goes on."""
        try:
            await message
        except CsmsCallError as exc:
            self._log(logging.WARNING, "%s failed: %s", what, exc)

    # -------------------------------------------------------------- connector

    async def _pause(self, connector: Connector, until: float | None) -> bool:
        """Wait until the monotonic time ``until`` (None: forever) or a wake; True if woken."""
        if connector.wake.is_set():
            connector.wake.clear()
            return True
        timeout = None if until is None else max(0.0, until - _monotonic())
        try:
            async with asyncio.timeout(timeout):
                await connector.wake.wait()
        except TimeoutError:
            return False
        connector.wake.clear()
        return True

    async def _run_connector(self, link: CsmsLink, c: Connector) -> None:
        """The charging cycle of one connector; returns once the session is ending."""
        while True:
            ending = self._ending
            if c.phase is Phase.IDLE:
                if ending is not None:
                    return
                reservation = c.reservation
                if reservation is not None and utcnow() >= reservation.expires_at:
                    await self._expire(link, c, reservation)
                    continue
                expiry = None if reservation is None else _monotonic_at(reservation.expires_at)
                if c.status is not c.idle_status():
                    await self._report(link, c, c.idle_status())
                if not c.operative:
                    await self._pause(c, expiry)
                    continue
                until = c.due_at if expiry is None else min(c.due_at, expiry)
                if c.remote_id_tag is None and (
                    await self._pause(c, until) or _monotonic() < c.due_at
                ):
                    continue  # woken by a command, a reservation's end or the end: look again
                self._plug_in(c)
                await self._report(link, c, ConnectorStatus.PREPARING)
            elif c.phase is Phase.PREPARING:
                if ending is not None:
                    c.phase = Phase.IDLE
                    await self._report(link, c, ConnectorStatus.AVAILABLE)
                    return
                if not c.authorized and not await self._authorize(link, c):
                    c.phase = Phase.IDLE
                    c.due_at = _monotonic() + self._idle_s()
                    continue
                self._begin_transaction(c)
            elif c.phase is Phase.STARTING:
                await self._start_transaction(link, c)
            elif c.phase is Phase.CHARGING:
                now = _monotonic()
                reason = ending or c.stop_reason
                if reason is None and now >= c.ends_at:
                    reason = StopReason.EV_DISCONNECTED
                if reason is not None:
                    self._begin_stop(c, reason)
                    continue
                if await self._pause(c, min(c.due_at, c.ends_at)):
                    continue
                if _monotonic() >= c.due_at:
                    await self._send_sample(link, c, ReadingContext.PERIODIC)
                    c.due_at = _monotonic() + self.meter_interval_s
            elif c.phase is Phase.STOPPING:
                await self._stop_transaction(link, c)
            else:  # FINISHING: the driver unplugs after a moment
                if ending is None and (await self._pause(c, c.due_at) or _monotonic() < c.due_at):
                    continue
                c.phase = Phase.IDLE
                c.due_at = _monotonic() + self._idle_s()
                if ending is not None:
                    return

    async def _expire(self, link: CsmsLink, c: Connector, reservation: Reservation) -> None:
        c.reservation = None
        self._log(
            logging.INFO,
            "connector %d: reservation %d expired",
            c.connector_id,
            reservation.reservation_id,
        )
        await self._tell("reservation status", link.reservation_expired(reservation.reservation_id))

    def _plug_in(self, c: Connector) -> None:
        """A driver arrives: with a remote start the token is already authorized; at a
        reserved connector it is the driver who reserved it."""
        c.phase = Phase.PREPARING
        if c.remote_id_tag is not None:
            c.id_tag, c.authorized = c.remote_id_tag, True
        elif c.reservation is not None:
            c.id_tag, c.authorized = c.reservation.id_tag, False
        else:
            c.id_tag, c.authorized = self._pick_id_tag(c), False
        c.remote_id_tag = None
        c.stop_reason = None
        self._log(logging.INFO, "connector %d: plugged in, token %s", c.connector_id, c.id_tag)

    def _pick_id_tag(self, c: Connector) -> str:
        """Connector 1 uses the station's own tag, others a fleet tag (not the station's own)."""
        others = self.spec.other_id_tags
        if c.connector_id == 1 or not others:
            return self.spec.id_tag
        tag = self.rng.choice(others)
        for _ in range(3):
            if tag != self.spec.id_tag:
                break
            tag = self.rng.choice(others)
        return tag

    async def _authorize(self, link: CsmsLink, c: Connector) -> bool:
        """Ask the CSMS, unless the local list accepts the token (LocalPreAuthorize)."""
        if self.local_list.accepts(c.id_tag, utcnow()):
            self._log(
                logging.INFO, "connector %d: token %s accepted locally", c.connector_id, c.id_tag
            )
            return True
        try:
            accepted = await link.authorize(c.id_tag)
        except CsmsCallError as exc:
            self._log(logging.WARNING, "authorize failed: %s", exc)
            accepted = False
        if not accepted:
            self._log(logging.INFO, "connector %d: token %s not accepted", c.connector_id, c.id_tag)
        return accepted

    def _begin_transaction(self, c: Connector) -> None:
        """Fix the start values once, so a resend after a reconnect is the same message."""
        now = _monotonic()
        c.meter.plug(Ev.random(self.rng), now)
        c.meter_start_wh = c.meter.energy_wh
        c.started_at = utcnow()
        c.phase = Phase.STARTING
        reservation, c.reservation_id = c.reservation, None
        if reservation is not None and reservation.holds_for(c.id_tag):
            c.reservation, c.reservation_id = None, reservation.reservation_id
        self._apply_limits()

    async def _start_transaction(self, link: CsmsLink, c: Connector) -> None:
        assert c.started_at is not None
        try:
            result = await link.start_transaction(
                c.connector_id, c.id_tag, c.meter_start_wh, c.started_at, c.reservation_id
            )
        except CsmsCallError as exc:
            self._log(logging.WARNING, "start transaction failed: %s", exc)
            c.meter.unplug(_monotonic())
            c.remote_profile = None
            c.phase = Phase.IDLE
            c.due_at = _monotonic() + self._idle_s()
            self._apply_limits()
            return
        c.transaction_id = result.transaction_id
        if c.remote_profile is not None:
            profile = replace(
                c.remote_profile,
                connector_id=c.connector_id,
                transaction_id=result.transaction_id,
            )
            c.remote_profile = None
            self.profiles.install(profile)
            self._log(logging.INFO, "connector %d: %s", c.connector_id, _described(profile))
        if not result.accepted:
            self._log(logging.INFO, "transaction %s: token refused", result.transaction_id)
            self._begin_stop(c, StopReason.DE_AUTHORIZED)
            return
        now = _monotonic()
        c.phase = Phase.CHARGING
        self._apply_limits()
        c.ends_at = now + self.rng.uniform(*self.timing.charge_duration_s)
        c.due_at = now + self.meter_interval_s
        self._log(
            logging.INFO,
            "connector %d: transaction %s started at %d Wh",
            c.connector_id,
            c.transaction_id,
            c.meter_start_wh,
        )
        await self._report(link, c, ConnectorStatus.CHARGING)

    async def _send_sample(self, link: CsmsLink, c: Connector, context: ReadingContext) -> None:
        self._apply_limits()  # a schedule may have moved on to its next period
        sample = c.meter.sample(_monotonic(), utcnow(), context)
        self.journal.record(
            sample.timestamp,
            logging.DEBUG,
            "connector %d: %d Wh, %.0f W, %.1f A, %.1f V",
            c.connector_id,
            sample.energy_wh,
            sample.power_w,
            sample.current_a,
            sample.voltage_v,
        )
        transaction_id = c.transaction_id if c.phase is Phase.CHARGING else None
        try:
            await link.meter_values(c.connector_id, transaction_id, sample)
        except CsmsCallError as exc:
            self._log(logging.WARNING, "meter values failed: %s", exc)

    def _begin_stop(self, c: Connector, reason: StopReason) -> None:
        """Fix the stop values once, so a resend after a reconnect is the same message."""
        now = _monotonic()
        c.stop_sample = c.meter.sample(now, utcnow(), ReadingContext.TRANSACTION_END)
        c.meter.unplug(now)
        self.profiles.end_transaction(c.connector_id)
        self._apply_limits()
        c.meter_stop_wh = max(c.stop_sample.energy_wh, c.meter_start_wh)
        c.stopped_at = c.stop_sample.timestamp
        c.stop_reason = reason
        c.phase = Phase.STOPPING

    async def _stop_transaction(self, link: CsmsLink, c: Connector) -> None:
        assert c.transaction_id is not None
        assert c.stopped_at is not None
        assert c.stop_reason is not None
        assert c.stop_sample is not None
        try:
            await link.stop_transaction(
                c.transaction_id,
                c.id_tag,
                c.meter_stop_wh,
                c.stopped_at,
                c.stop_reason,
                c.stop_sample,
            )
        except CsmsCallError as exc:
            # Resending would loop forever on a CSMS that refuses it; the CSMS has the
            # transaction and can close it from its side.
            self._log(logging.WARNING, "stop transaction failed: %s", exc)
        self._log(
            logging.INFO,
            "connector %d: transaction %s stopped (%s), %d Wh delivered",
            c.connector_id,
            c.transaction_id,
            c.stop_reason,
            c.meter_stop_wh - c.meter_start_wh,
        )
        c.transaction_id = None
        c.phase = Phase.FINISHING
        c.due_at = _monotonic() + self.timing.unplug_delay_s
        await self._report(link, c, ConnectorStatus.FINISHING)

    # ------------------------------------------------------------- triggers

    async def _serve_triggers(self, link: CsmsLink) -> None:
        """Send what TriggerMessage asked for, after its answer has gone out."""
        while True:
            kind, connector_id = await self._triggers.get()
            try:
                await self._send_triggered(link, kind, connector_id)
            except CsmsCallError as exc:
                self._log(logging.WARNING, "triggered %s failed: %s", kind, exc)

    async def _send_triggered(
        self, link: CsmsLink, kind: TriggerKind, connector_id: int | None
    ) -> None:
        targets = [c for c in self.connectors if connector_id in (None, 0, c.connector_id)]
        if kind is TriggerKind.BOOT_NOTIFICATION:
            result = await link.boot(self.spec)
            if result.status is BootStatus.ACCEPTED and result.interval_s > 0:
                self.heartbeat_interval_s = float(result.interval_s)
        elif kind is TriggerKind.HEARTBEAT:
            await link.heartbeat()
        elif kind is TriggerKind.STATUS_NOTIFICATION:
            if connector_id in (None, 0):
                any_operative = any(c.operative for c in self.connectors)
                status = ConnectorStatus.AVAILABLE if any_operative else ConnectorStatus.UNAVAILABLE
                await link.status(0, status)
            for c in targets:
                await link.status(c.connector_id, c.status or c.reported_status())
        else:
            for c in targets:
                await self._send_sample(link, c, ReadingContext.TRIGGER)

    # ------------------------------------------------------- CSMS commands

    def _connector(self, connector_id: int) -> Connector | None:
        if 1 <= connector_id <= len(self.connectors):
            return self.connectors[connector_id - 1]
        return None

    def remote_start(
        self, id_tag: str, connector_id: int | None, profile: ChargingProfile | None = None
    ) -> CommandStatus:
        """Start a session for ``id_tag`` on the given (or the first free) connector; a
        connector reserved for ``id_tag`` comes first, one reserved for another is not free.

        A ``profile`` (a TxProfile) limits the session from its start.
        """
        if connector_id is not None:
            chosen = self._connector(connector_id)
            candidates = [chosen] if chosen is not None else []
        else:
            candidates = sorted(self.connectors, key=lambda c: c.reservation is None)
        if profile is not None and profile.purpose is not Purpose.TX:
            return CommandStatus.REJECTED
        if self.booted and self._ending is None:
            for c in candidates:
                reservation = c.reservation
                if (
                    c.phase is Phase.IDLE
                    and c.operative
                    and c.remote_id_tag is None
                    and (reservation is None or reservation.holds_for(id_tag))
                ):
                    c.remote_id_tag = id_tag
                    c.remote_profile = profile
                    c.wake.set()
                    self._log(logging.INFO, "connector %d: remote start accepted", c.connector_id)
                    return CommandStatus.ACCEPTED
        return CommandStatus.REJECTED

    def remote_stop(self, transaction_id: str) -> CommandStatus:
        """Stop the transaction if it is charging here."""
        for c in self.connectors:
            if c.phase is Phase.CHARGING and c.transaction_id == transaction_id:
                c.stop_reason = StopReason.REMOTE
                c.wake.set()
                return CommandStatus.ACCEPTED
        return CommandStatus.REJECTED

    def unlock(self, connector_id: int) -> CommandStatus:
        """Unlocking a connector in use ends its transaction first, as the spec asks."""
        c = self._connector(connector_id)
        if c is None:
            return CommandStatus.NOT_SUPPORTED
        if c.phase is Phase.CHARGING:
            c.stop_reason = StopReason.UNLOCK_COMMAND
            c.wake.set()
        return CommandStatus.ACCEPTED

    def change_availability(self, connector_id: int, operative: bool) -> CommandStatus:
        """Connector 0 means the whole station; a busy connector changes after its session."""
        if connector_id == 0:
            targets = self.connectors
        else:
            chosen = self._connector(connector_id)
            if chosen is None:
                return CommandStatus.REJECTED
            targets = [chosen]
        scheduled = False
        for c in targets:
            c.operative = operative
            if c.phase is not Phase.IDLE and not operative:
                scheduled = True
            c.wake.set()
        return CommandStatus.SCHEDULED if scheduled else CommandStatus.ACCEPTED

    def reset(self, hard: bool) -> CommandStatus:
        """Accept; the wiring calls :meth:`request_end` once the answer has been sent."""
        self._log(logging.INFO, "%s reset requested", "hard" if hard else "soft")
        return CommandStatus.ACCEPTED

    def trigger(self, kind: TriggerKind, connector_id: int | None) -> CommandStatus:
        """Queue a triggered message; it is sent after the answer to the trigger."""
        if connector_id not in (None, 0) and self._connector(connector_id) is None:
            return CommandStatus.REJECTED
        if self._ending is not None:
            return CommandStatus.REJECTED
        self._triggers.put_nowait((kind, connector_id))
        return CommandStatus.ACCEPTED

    def set_heartbeat_interval(self, seconds: float) -> None:
        """Takes effect from the next heartbeat."""
        self.heartbeat_interval_s = seconds

    def set_meter_interval(self, seconds: float) -> None:
        """Takes effect from the next sample."""
        self.meter_interval_s = seconds

    # ---------------------------------------------------------- reservations

    def _reserved(self, reservation_id: int) -> Connector | None:
        for c in self.connectors:
            if c.reservation is not None and c.reservation.reservation_id == reservation_id:
                return c
        return None

    @staticmethod
    def _can_reserve(c: Connector, reservation_id: int) -> CommandStatus:
        if not c.operative:
            return CommandStatus.UNAVAILABLE
        if c.reservation is not None and c.reservation.reservation_id != reservation_id:
            return CommandStatus.OCCUPIED
        if c.phase is not Phase.IDLE or c.remote_id_tag is not None:
            return CommandStatus.OCCUPIED
        return CommandStatus.ACCEPTED

    def reserve(self, reservation: Reservation, connector_id: int | None) -> CommandStatus:
        """Hold a connector for one driver until the reservation expires.

        Connector 0 (or none named) reserves whichever connector is free: the simulator
        holds that one, which keeps a connector free for the driver as OCPP asks. The
        same reservation id again replaces the reservation, wherever it was.
        """
        if self._ending is not None or reservation.expires_at <= utcnow():
            return CommandStatus.REJECTED
        held = self._reserved(reservation.reservation_id)
        if connector_id in (None, 0):
            candidates = ([held] if held is not None else []) + self.connectors
        else:
            chosen = self._connector(connector_id)
            if chosen is None:
                return CommandStatus.REJECTED
            candidates = [chosen]
        answers = [(self._can_reserve(c, reservation.reservation_id), c) for c in candidates]
        free = [c for status, c in answers if status is CommandStatus.ACCEPTED]
        if not free:
            statuses = [status for status, _ in answers]
            return CommandStatus.OCCUPIED if CommandStatus.OCCUPIED in statuses else statuses[0]
        c = free[0]
        if held is not None and held is not c:
            held.reservation = None
            held.wake.set()
        c.reservation = reservation
        c.wake.set()
        self._log(
            logging.INFO,
            "connector %d: reserved (%d) for %s until %s",
            c.connector_id,
            reservation.reservation_id,
            reservation.id_tag,
            reservation.expires_at.astimezone(UTC).isoformat(timespec="seconds"),
        )
        return CommandStatus.ACCEPTED

    def cancel_reservation(self, reservation_id: int) -> CommandStatus:
        """Free the connector again; an unknown (or expired, or used) reservation: Rejected."""
        c = self._reserved(reservation_id)
        if c is None:
            return CommandStatus.REJECTED
        c.reservation = None
        c.wake.set()
        self._log(
            logging.INFO, "connector %d: reservation %d cancelled", c.connector_id, reservation_id
        )
        return CommandStatus.ACCEPTED

    # ------------------------------------------------------------ local list

    def update_local_list(
        self, version: int, full: bool, changes: Sequence[tuple[str, ListEntry | None]]
    ) -> ListUpdate:
        """SendLocalList: see :meth:`LocalList.update`."""
        status = self.local_list.update(version, full, changes)
        self._log(
            logging.INFO,
            "local list %s update to version %d: %s (%d tokens)",
            "full" if full else "differential",
            version,
            status,
            len(self.local_list),
        )
        return status

    # ------------------------------------------------------ charging profiles

    def _load(self, c: Connector) -> ConnectorLoad:
        in_transaction = c.phase in (Phase.CHARGING, Phase.STOPPING)
        return ConnectorLoad(
            connector_id=c.connector_id,
            max_power_w=c.meter.max_power_w,
            phases=c.meter.phases,
            transaction_id=c.transaction_id if in_transaction else None,
            session_start=c.started_at if c.phase is not Phase.IDLE else None,
        )

    def _apply_limits(self) -> None:
        """Put the profiles' limits on the meters, from now on; the station's maximum is
        shared by the connectors drawing power."""
        now, at = _monotonic(), utcnow()
        drawing = sum(1 for c in self.connectors if c.meter.ev is not None)
        for c in self.connectors:
            limit = self.profiles.limit_w(self._load(c), at, drawing)
            c.meter.set_limit(None if limit >= c.meter.max_power_w else limit, now)

    def set_charging_profile(self, connector_id: int, profile: ChargingProfile) -> CommandStatus:
        """Install ``profile`` on ``connector_id`` (0: the station), as OCPP allows:
        the station's maximum only on 0, a TxProfile only on a connector that is charging
        (and its transaction, if the profile names one)."""
        c = self._connector(connector_id)
        if connector_id != 0 and c is None:
            return CommandStatus.REJECTED
        if not profile.periods:
            return CommandStatus.REJECTED
        if profile.purpose is Purpose.STATION_MAX and connector_id != 0:
            return CommandStatus.REJECTED
        if profile.purpose is Purpose.TX:
            if c is None or c.phase is not Phase.CHARGING or c.transaction_id is None:
                return CommandStatus.REJECTED
            if profile.transaction_id not in (None, c.transaction_id):
                return CommandStatus.REJECTED
            profile = replace(profile, transaction_id=c.transaction_id)
        profile = replace(profile, connector_id=connector_id)
        self.profiles.install(profile)
        self._apply_limits()
        self._log(logging.INFO, "connector %d: %s", connector_id, _described(profile))
        return CommandStatus.ACCEPTED

    def clear_charging_profiles(
        self,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> CommandStatus:
        """ClearChargingProfile: Unknown when no profile matched."""
        cleared = self.profiles.clear(profile_id, connector_id, purpose, stack_level)
        if not cleared:
            return CommandStatus.UNKNOWN
        self._apply_limits()
        self._log(logging.INFO, "%d charging profile(s) cleared", cleared)
        return CommandStatus.ACCEPTED

    def composite_schedule(self, connector_id: int, duration_s: int) -> CompositeSchedule | None:
        """The limit ``connector_id`` (0: the whole station) will hold to over the next
        ``duration_s``; None for a connector the station does not have."""
        if connector_id == 0:
            targets = self.connectors
        else:
            chosen = self._connector(connector_id)
            if chosen is None:
                return None
            targets = [chosen]
        start = utcnow().replace(microsecond=0)
        drawing = sum(1 for c in self.connectors if c.meter.ev is not None)
        periods = self.profiles.composite(
            [self._load(c) for c in targets],
            start,
            duration_s,
            sharing=drawing if connector_id else 1,
        )
        return CompositeSchedule(start, duration_s, periods, targets[0].meter.phases)

    # -------------------------------------------------------------- follow-ups

    def follow_up(
        self, key: str, run: Callable[[CsmsLink], Awaitable[None]], *, lasting: bool = False
    ) -> bool:
        """Run ``run(link)`` beside the connectors once the present command is answered.

        Follow-ups with the same ``key`` replace each other (the running one is
        cancelled): True if one was replaced. A ``lasting`` one that a lost connection
        interrupts starts over after the reconnect, as a charger resumes a download.
        """
        old = self._follow_ups.pop(key, None)
        if old is not None and old.task is not None:
            old.task.cancel()
        follow_up = _FollowUp(key, run, lasting)
        self._follow_ups[key] = follow_up
        self._to_start.put_nowait(follow_up)
        return old is not None

    async def _serve_follow_ups(self, link: CsmsLink) -> None:
        async with asyncio.TaskGroup() as tg:
            while True:
                follow_up = await self._to_start.get()
                if self._follow_ups.get(follow_up.key) is follow_up and follow_up.task is None:
                    follow_up.task = tg.create_task(self._run_follow_up(link, follow_up))

    async def _run_follow_up(self, link: CsmsLink, follow_up: _FollowUp) -> None:
        try:
            await follow_up.run(link)
        except CsmsCallError as exc:
            self._log(logging.WARNING, "%s failed: %s", follow_up.key, exc)
        if self._follow_ups.get(follow_up.key) is follow_up:
            del self._follow_ups[follow_up.key]

    # ------------------------------------------------------------- transfers

    def update_firmware(self, update: FirmwareUpdate) -> CommandStatus:
        """Start (or restart) a firmware update; it follows once the answer is out."""
        self._log(logging.INFO, "firmware update from %s requested", update.location)
        replaced = self.follow_up(
            "firmware update", lambda link: self._install_firmware(link, update), lasting=True
        )
        return CommandStatus.ACCEPTED_CANCELED if replaced else CommandStatus.ACCEPTED

    async def _install_firmware(self, link: CsmsLink, update: FirmwareUpdate) -> None:
        """Each step a moment apart, from the retrieve date on. The new version comes
        into use with a new BootNotification, as after the reboot that activates it; the
        simulator's connectors charge on meanwhile."""
        wait_s = (update.retrieve_at - utcnow()).total_seconds()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        step_s = self.timing.transfer_step_s
        steps = (FirmwareStatus.DOWNLOADING, FirmwareStatus.DOWNLOADED, FirmwareStatus.INSTALLING)
        for status in steps:
            self._log(logging.INFO, "firmware: %s", status)
            await self._tell("firmware status", link.firmware_status(status, update.request_id))
            await asyncio.sleep(step_s)
        version = firmware_version(update.location, self.spec.firmware_version)
        self.spec = replace(self.spec, firmware_version=version)
        self._log(logging.INFO, "firmware: %s installed", version)
        try:
            result = await link.boot(self.spec, BootReason.FIRMWARE_UPDATE)
        except CsmsCallError as exc:
            self._log(logging.WARNING, "boot after the firmware update failed: %s", exc)
        else:
            if result.status is BootStatus.ACCEPTED and result.interval_s > 0:
                self.heartbeat_interval_s = float(result.interval_s)
        await self._tell(
            "firmware status", link.firmware_status(FirmwareStatus.INSTALLED, update.request_id)
        )

    def get_log(self, request: LogRequest) -> tuple[CommandStatus, str]:
        """Start a log upload; returns the answer and the name the file will have."""
        filename = f"{self.station_id}-{request.kind}-{utcnow():%Y%m%dT%H%M%SZ}.log"
        replaced = self.follow_up(
            "log upload", lambda link: self._upload_log(link, request, filename), lasting=True
        )
        status = CommandStatus.ACCEPTED_CANCELED if replaced else CommandStatus.ACCEPTED
        return status, filename

    async def _upload_log(self, link: CsmsLink, request: LogRequest, filename: str) -> None:
        """Uploading, then Uploaded or (after the retries asked for) Failed. Only the
        host is logged: an upload URL may carry a token."""
        rid = request.request_id
        host = urlsplit(request.location).netloc or request.location.split(":", 1)[0]
        if not can_upload_to(request.location):
            self._log(logging.WARNING, "log upload: cannot upload to %s", host)
            await self._tell("upload status", link.upload_status(UploadStatus.FAILED, rid))
            return
        await self._tell("upload status", link.upload_status(UploadStatus.UPLOADING, rid))
        content = self.diagnostics(request).encode()
        for attempt in range(request.retries + 1):
            if attempt:
                await asyncio.sleep(request.retry_interval_s)
            try:
                await upload(request.location, filename, content)
            except UploadError as exc:
                self._log(logging.WARNING, "log upload to %s failed: %s", host, exc)
                continue
            self._log(
                logging.INFO, "log %s (%d bytes) uploaded to %s", filename, len(content), host
            )
            await self._tell("upload status", link.upload_status(UploadStatus.UPLOADED, rid))
            return
        await self._tell("upload status", link.upload_status(UploadStatus.FAILED, rid))

    def diagnostics(self, request: LogRequest) -> str:
        """The log a GetDiagnostics / GetLog uploads: the station's state, then its journal."""
        spec = self.spec
        header = [
            f"station {spec.station_id}: {spec.vendor} {spec.model}, serial "
            f"{spec.serial_number}, firmware {spec.firmware_version}",
            f"meter {spec.meter_type} {spec.meter_serial_number}, {spec.max_power_w} W "
            f"per connector",
            f"heartbeat every {self.heartbeat_interval_s:g}s, "
            f"meter values every {self.meter_interval_s:g}s",
            f"local list version {self.local_list.version}, {len(self.local_list)} tokens",
        ]
        for c in self.connectors:
            status = c.status or c.reported_status()
            line = (
                f"connector {c.connector_id}: {status}, register {c.meter.energy_wh} Wh, "
                f"{c.meter.power_w():.0f} W"
            )
            if c.meter.limit_w is not None:
                line += f" (limited to {c.meter.limit_w:.0f} W)"
            if c.transaction_id is not None:
                line += f", transaction {c.transaction_id} for {c.id_tag}"
            if c.reservation is not None:
                line += f", reserved ({c.reservation.reservation_id}) for {c.reservation.id_tag}"
            header.append(line)
        header += [f"connector {p.connector_id}: {_described(p)}" for p in self.profiles]
        return self.journal.render(
            f"{request.kind} log of {spec.station_id}",
            header,
            utcnow(),
            request.since,
            request.until,
        )


def _described(profile: ChargingProfile) -> str:
    """A profile in a line of the log."""
    limits = ", ".join(f"{p.limit:g} {profile.unit} from {p.start_s}s" for p in profile.periods)
    return (
        f"charging profile {profile.profile_id} ({profile.purpose}, stack level "
        f"{profile.stack_level}, {profile.kind}): {limits}"
    )
