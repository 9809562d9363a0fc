"""The monitor: what runs in the background to keep health current. Faults are opened in
the transaction of the report that shows them (gateway/handlers.py calls faults.py);
everything else is here: connectivity from bus events, the silence check, and the
anomaly detectors (:mod:`chargeops.monitoring.detectors`), some on bus events, the rest
in periodic checks, as jobs of the shared scheduler.

What it costs. Reads that run for every MeterValues or every charging session use
prepared statements through the writer's connection, in small units: on SQLite that
connection is inline, where such a read costs ~0.1 ms against ~1 ms through a pooled
(aiosqlite) session. MeterValues is the commonest message, so its check stays off the
hot path and is batched: each MeterSampled only notes which session (or EVSE) has new
readings; one task then judges every noted register (one indexed query each) and opens
what it finds in the same unit, while new notes gather for the next batch. Slow charging
reads each charging session's newest readings, and its whole window only when they are
not plainly fine; it runs less often than the cheap checks. The other detectors read
through pooled sessions and submit a unit only when there is something to open, count
or clear.

Bus handlers never raise into the bus: a failure is logged, and the next fact or check
judges again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from chargeops.bus import Bus
from chargeops.core import events
from chargeops.core.clock import utcnow
from chargeops.monitoring import anomalies, connectivity
from chargeops.monitoring import detectors as d
from chargeops.monitoring.detectors import Detection, RegisterRow, Thresholds
from chargeops.monitoring.models import Anomaly
from chargeops.storage.jobs import Scheduler
from chargeops.storage.writer import GroupCommitWriter, UnitFn, Work, WriterClosed

log = logging.getLogger(__name__)

T = TypeVar("T")

_METER = (d.METER_BACKWARDS, d.METER_JUMP)
# periodic anomalies about one session, over when it ends
_OF_A_SESSION = (d.SESSION_STUCK, d.METER_SILENT, d.SLOW_CHARGING)
_MAX_LIVE_READINGS = 50  # readings of one MeterValues judged at once (more: at its end)
_METER_BATCH = 64  # registers judged per unit: a few ms inline on SQLite
_SLOW_BATCH = 10  # charging sessions judged per unit (~10 ms inline on SQLite)
_METER_GATHER_S = 0.2  # a unit costs more than a register in it: judge many at once
_SESSION_READINGS = 5000  # a session's readings judged when it ends

MeterKey = tuple[str, int, int | None]  # station, EVSE, session


@dataclass(frozen=True, slots=True)
class MonitoringConfig:
    heartbeat_interval_s: int = 300
    offline_grace_s: int = 120
    check_every_s: float = 30.0
    thresholds: Thresholds = field(default_factory=Thresholds)


@dataclass(frozen=True, slots=True)
class Clearing:
    """An open anomaly read outside the writer, to end at ``at`` if still open."""

    anomaly_id: int
    at: datetime


class Monitor:
    def __init__(
        self,
        writer: GroupCommitWriter,
        sessions: async_sessionmaker[AsyncSession],
        config: MonitoringConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._writer = writer
        self._sessions = sessions
        self.config = config
        self.thresholds = config.thresholds
        self._clock = clock
        self.silence = connectivity.Silence(config.heartbeat_interval_s, config.offline_grace_s)
        # registers with new readings, and how many readings each may have brought
        self._meters_noted: dict[MeterKey, int] = {}
        self._meters_judging = False

    def install(self, bus: Bus, scheduler: Scheduler) -> None:
        every = timedelta(seconds=self.config.check_every_s)
        bus.subscribe(events.StationConnected, self.on_connected)
        bus.subscribe(events.StationDisconnected, self.on_disconnected)
        bus.subscribe(events.MeterSampled, self.on_meter_sampled)
        bus.subscribe(events.AuthorizationChecked, self.on_authorization_checked)
        bus.subscribe(events.StationBooted, self.on_station_booted)
        bus.subscribe(events.TransactionEnded, self.on_transaction_ended)
        scheduler.add("monitoring.silence", every, self.check_silence)
        scheduler.add("monitoring.anomalies", every, self.check_sessions)
        # a condition that must last slow_charging_minutes is judged five times in them
        slow_every = max(every, timedelta(minutes=self.thresholds.slow_charging_minutes / 5))
        scheduler.add("monitoring.slow_charging", slow_every, self.check_slow_charging)

    async def recover(self) -> int:
        """At start, before the gateway takes connections: stations shown online when
        chargeops stopped went offline then."""
        at = self._clock()
        return await self._writer.submit(lambda w: connectivity.mark_all_offline(w, at=at))

    # --- connectivity ---------------------------------------------------------------------

    async def on_connected(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.StationConnected)
        await self._submit(lambda w: connectivity.on_connected(w, event))

    async def on_disconnected(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.StationDisconnected)
        await self._submit(lambda w: connectivity.on_disconnected(w, event))

    async def check_silence(self, now: datetime) -> int:
        silence = self.silence
        return await self._writer.submit(lambda w: connectivity.check_silence(w, silence, now=now))

    async def _submit(self, unit: UnitFn[object]) -> None:
        """Run a reaction; a unique index refusing it means another writer did the same
        at the same moment (several writers commit at once on PostgreSQL): run it again,
        and it finds that one and counts on it."""
        for attempt in range(3):
            try:
                await self._writer.submit(unit)
                return
            except IntegrityError:
                if attempt == 2:
                    raise
            except WriterClosed:
                log.info("connectivity change not recorded: shutting down")
                return

    # --- anomalies from facts -------------------------------------------------------------

    async def on_meter_sampled(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.MeterSampled)
        await self._safely(event, self._meter_sampled(event))

    async def on_authorization_checked(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.AuthorizationChecked)
        await self._safely(event, self._authorization_checked(event))

    async def on_station_booted(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.StationBooted)
        await self._safely(event, self._station_booted(event))

    async def on_transaction_ended(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.TransactionEnded)
        await self._safely(event, self._transaction_ended(event))

    async def _meter_sampled(self, event: events.MeterSampled) -> None:
        """Note the register; judge what is noted unless a judging is under way (it
        takes what is noted meanwhile before it stops)."""
        if event.samples <= 0 or not any(self.thresholds.enabled(x) for x in _METER):
            return
        key = (event.station_id, event.evse_id, event.session_id)
        self._meters_noted[key] = self._meters_noted.get(key, 0) + event.samples
        if self._meters_judging:
            return
        self._meters_judging = True
        try:
            await asyncio.sleep(_METER_GATHER_S)  # let the notes of a busy moment gather
            while self._meters_noted:
                batch = list(self._meters_noted.items())[:_METER_BATCH]
                for noted, _ in batch:
                    del self._meters_noted[noted]
                await self._judge_registers(batch)
        finally:
            self._meters_judging = False

    async def _judge_registers(self, batch: Sequence[tuple[MeterKey, int]]) -> int:
        """For each register, the readings a MeterValues may have brought and the one
        before them (the meter start at the beginning of a session)."""

        def read(sync: Session) -> list[tuple[MeterKey, list[RegisterRow]]]:
            conn = sync.connection()
            return [
                (key, d.register_rows(conn, *key, limit=min(n, _MAX_LIVE_READINGS) + 1))
                for key, n in batch
            ]

        async def unit(w: Work) -> int:
            found = [
                x
                for key, rows in await w.session.run_sync(read)
                for x in self._register_findings(*key, rows)
            ]
            for x in found:
                await _record(w, x)
            return len(found)

        return await _once_more_on_conflict(lambda: self._writer.submit(unit))

    def _register_findings(
        self, station_id: str, evse_id: int, session_id: int | None, rows: Iterable[RegisterRow]
    ) -> list[Detection]:
        th = self.thresholds
        steps = [
            step
            for series in d.register_series(rows).values()
            for step in d.register_steps(series, th)
            if th.enabled(step.detector)
        ]
        steps.sort(key=lambda s: s.after.at)
        return [
            d.register_detection(station_id, evse_id, step, th, session_id=session_id)
            for step in steps
        ]

    async def _authorization_checked(self, event: events.AuthorizationChecked) -> None:
        th = self.thresholds
        if not th.enabled(d.AUTH_FAILURES):
            return
        evse_id = event.evse_id or 0
        at = event.occurred_at
        if event.status == d.ACCEPTED:
            async with self._sessions() as db:
                rows = await d.open_anomalies(
                    db, detectors=[d.AUTH_FAILURES], station_id=event.station_id, evse_id=evse_id
                )
            if rows:
                await self._write([], [Clearing(r.id, at) for r in rows])
            return
        async with self._sessions() as db:
            recent = await d.recent_authorizations(
                db,
                event.station_id,
                since=at - timedelta(minutes=th.auth_failures_minutes),
                until=at,
            )
        refused = recent[: d.refusals_in_a_row(status for _, status in recent)]
        found = d.auth_failures_detection(event.station_id, evse_id, refused, th, at=at)
        if found is not None:
            await self._write([found])

    async def _station_booted(self, event: events.StationBooted) -> None:
        th = self.thresholds
        if not th.enabled(d.REBOOT_LOOP):
            return
        at = event.occurred_at
        async with self._sessions() as db:
            boots = await d.boots_between(
                db,
                event.station_id,
                since=at - timedelta(minutes=th.reboot_loop_minutes),
                until=at,
            )
        found = d.reboot_loop_detection(event.station_id, boots, th, at=at)
        if found is not None:
            await self._write([found])

    async def _transaction_ended(self, event: events.TransactionEnded) -> None:
        th = self.thresholds
        station_id, evse_id, session_id = event.station_id, event.evse_id, event.session_id
        at = event.occurred_at
        async with self._sessions() as db:
            open_rows = {
                r.detector: r
                for r in await d.open_anomalies(db, station_id=station_id, evse_id=evse_id)
            }
            recent: list[d.EndedSession] = []
            status = None
            if th.enabled(d.FAILING_STARTS):
                recent = await d.last_ended_sessions(
                    db, station_id, evse_id, limit=th.failing_starts_count
                )
                status = await d.connector_status(db, station_id, evse_id)
            rows: list[RegisterRow] = []
            if any(th.enabled(x) for x in _METER):
                rows = await db.run_sync(
                    lambda sync: d.register_rows(
                        sync.connection(),
                        station_id,
                        evse_id,
                        session_id,
                        limit=_SESSION_READINGS,
                        with_stop=True,
                    )
                )
        found: list[Detection] = []
        clearings: list[Clearing] = []

        # failing starts: judged when the session that ended is the EVSE's latest
        if recent and recent[0].id == session_id:
            failing = d.failing_starts_detection(
                station_id, evse_id, recent, th, connector_status=status
            )
            if failing is not None:
                found.append(failing)
            elif not d.is_failed_start(recent[0], th) and d.FAILING_STARTS in open_rows:
                clearings.append(Clearing(open_rows[d.FAILING_STARTS].id, at))
        # what a periodic check found about this session is over
        for detector in _OF_A_SESSION:
            row = open_rows.get(detector)
            if row is not None and row.session_id == session_id:
                clearings.append(Clearing(row.id, at))
        # the whole register of the session, its meter stop included (and a 2.0.1 Ended
        # event's readings, judged only here); a session whose register stepped normally ends
        # what an earlier session found
        steps = self._register_findings(station_id, evse_id, session_id, rows)
        found += steps
        stepped = {s.detector for s in steps}
        for detector in _METER:
            row = open_rows.get(detector)
            if row and rows and detector not in stepped and row.session_id != session_id:
                clearings.append(Clearing(row.id, at))
        if found or clearings:
            await self._write(found, clearings)

    # --- anomalies over time --------------------------------------------------------------

    async def check_anomalies(self, now: datetime) -> int:
        """Judge every time-based detector as of ``now`` (a test injects it); returns
        how many anomalies were opened, counted, brought up to date or cleared."""
        return await self.check_sessions(now) + await self.check_slow_charging(now)

    async def check_sessions(self, now: datetime) -> int:
        """Stuck sessions, silent meters, and the end of reboot loops."""
        th = self.thresholds
        found: list[Detection] = []
        clearings: list[Clearing] = []
        async with self._sessions() as db:
            snap = await _Snapshot.read(
                db, now, detectors=(d.SESSION_STUCK, d.METER_SILENT, d.REBOOT_LOOP)
            )
            # session_stuck: the oldest open session of each EVSE
            for row in snap.open_of(d.SESSION_STUCK):
                if row.session_id not in snap.sessions:
                    clearings.append(Clearing(row.id, snap.end_of(row)))
            if th.enabled(d.SESSION_STUCK):
                for group in snap.per_evse().values():
                    if (stuck := d.stuck_detection(group[0], th, now=now)) is not None:
                        found.append(stuck)
            # meter_silent: the newest charging session of each EVSE
            for row in snap.open_of(d.METER_SILENT):
                session = snap.session_of(row)
                if d.values_came_again(session, row.detail):
                    at = session.last_value_at if session is not None else None
                    clearings.append(Clearing(row.id, at or snap.end_of(row)))
            if th.enabled(d.METER_SILENT):
                for s in snap.charging():
                    if (silent := d.silent_detection(s, th, now=now)) is not None:
                        found.append(silent)
            # reboot_loop: over once a whole window passed without a boot
            loops = snap.open_of(d.REBOOT_LOOP)
            boots = await d.last_boots(db, [r.station_id for r in loops])
            for row in loops:
                over = d.reboot_loop_over(boots.get(row.station_id), th)
                if (over is None or over <= now) and now >= row.last_detected_at:
                    clearings.append(Clearing(row.id, over or now))
        return await self._write(found, clearings)

    async def check_slow_charging(self, now: datetime) -> int:
        """The newest charging session of each EVSE, against what it is allowed."""
        th = self.thresholds
        found: list[Detection] = []
        clearings: list[Clearing] = []
        async with self._sessions() as db:
            snap = await _Snapshot.read(db, now, detectors=(d.SLOW_CHARGING,))
            for row in snap.open_of(d.SLOW_CHARGING):
                session = snap.session_of(row)
                if session is None or not session.charging:
                    clearings.append(Clearing(row.id, snap.end_of(row)))
            charging = snap.charging() if th.enabled(d.SLOW_CHARGING) else []
            models = await d.device_model_rows(db, [s.station_id for s in charging])
        verdicts: list[d.SlowVerdict] = []
        for start in range(0, len(charging), _SLOW_BATCH):
            chunk = charging[start : start + _SLOW_BATCH]

            async def judge(w: Work, chunk: Sequence[d.OpenSession] = chunk) -> list[d.SlowVerdict]:
                return await w.session.run_sync(
                    lambda sync: [self._slow_verdict(sync, s, models, now) for s in chunk]
                )

            verdicts += await self._writer.submit(judge)
        for s, verdict in zip(charging, verdicts, strict=True):
            open_row = snap.open_at(s, d.SLOW_CHARGING)
            if verdict.state == "fine" and open_row and open_row.session_id == s.id:
                clearings.append(Clearing(open_row.id, now))
            elif (slow := d.slow_detection(s, verdict, th, now=now)) is not None:
                found.append(slow)
        return await self._write(found, clearings)

    def _slow_verdict(
        self,
        sync: Session,
        session: d.OpenSession,
        models: Mapping[str, Sequence[d.DeviceModelRow]],
        now: datetime,
    ) -> d.SlowVerdict:
        """Judged on the newest readings first: most sessions are plainly fine, or say
        nothing of what is allowed, and need no more. The others are judged on the
        whole window (readings hold until the next, as long as a silent meter is
        tolerated)."""
        th = self.thresholds
        conn = sync.connection()
        allowed = d.device_model_limits(models.get(session.station_id, ()), session.evse_id)

        def judge(samples: Sequence[d.Sample]) -> d.SlowVerdict:
            return d.judge_slow_charging(
                d.power_series(samples),
                [*allowed, *d.offered_limits(samples)],
                soc_percent=d.state_of_charge(samples),
                charging_since=session.charging_since,
                now=now,
                thresholds=th,
            )

        latest = d.session_samples(conn, session.id)
        verdict = judge(latest)
        if verdict.state == "fine" or verdict.limit is None:
            return verdict
        since = now - timedelta(minutes=th.slow_charging_minutes + th.meter_silent_minutes)
        return judge([*d.session_samples(conn, session.id, since=since), *latest])

    # --- writing --------------------------------------------------------------------------

    async def _write(self, found: Sequence[Detection], clearings: Sequence[Clearing] = ()) -> int:
        """Clear, then open or count, in one unit of work; how many rows it touched."""
        if not found and not clearings:
            return 0

        async def unit(w: Work) -> int:
            for c in clearings:
                await anomalies.close_by_id(w, c.anomaly_id, at=c.at)
            for x in found:
                await _record(w, x)
            return len(clearings) + len(found)

        return await _once_more_on_conflict(lambda: self._writer.submit(unit))

    async def _safely(self, event: events.DomainEvent, work: Awaitable[None]) -> None:
        try:
            await work
        except WriterClosed:
            log.info("anomaly check skipped: shutting down")
        except Exception:
            log.exception(
                "anomaly check failed",
                extra={"station_id": event.station_id, "event": type(event).__name__},
            )


async def _record(w: Work, x: Detection) -> Anomaly:
    return await anomalies.detect(
        w,
        x.station_id,
        x.evse_id,
        x.detector,
        x.summary,
        x.detail,
        at=x.at,
        session_id=x.session_id,
        ongoing=x.ongoing,
    )


@dataclass(slots=True)
class _Snapshot:
    """What a periodic check judges: the open sessions, and the open anomalies of its
    detectors."""

    now: datetime
    sessions: dict[int, d.OpenSession]
    anomalies: list[Anomaly]
    # when the sessions of open anomalies that are no longer open ended
    ended: dict[int, datetime | None]

    @classmethod
    async def read(cls, db: AsyncSession, now: datetime, *, detectors: Sequence[str]) -> _Snapshot:
        sessions = {s.id: s for s in await d.open_sessions(db)}
        rows = await d.open_anomalies(db, detectors=detectors)
        gone = [r.session_id for r in rows if r.session_id and r.session_id not in sessions]
        return cls(now, sessions, rows, await d.session_ends(db, gone))

    def per_evse(self) -> dict[tuple[str, int], list[d.OpenSession]]:
        """Each EVSE's open sessions, oldest first."""
        groups: dict[tuple[str, int], list[d.OpenSession]] = {}
        for s in sorted(self.sessions.values(), key=lambda s: (s.started_at, s.id)):
            groups.setdefault((s.station_id, s.evse_id), []).append(s)
        return groups

    def charging(self) -> list[d.OpenSession]:
        """The newest charging session of each EVSE."""
        newest: dict[tuple[str, int], d.OpenSession] = {}
        for key, group in self.per_evse().items():
            for s in group:
                if s.charging:
                    newest[key] = s
        return list(newest.values())

    def open_of(self, detector: str) -> list[Anomaly]:
        return [r for r in self.anomalies if r.detector == detector]

    def open_at(self, session: d.OpenSession, detector: str) -> Anomaly | None:
        for r in self.anomalies:
            if (r.station_id, r.evse_id, r.detector) == (
                session.station_id,
                session.evse_id,
                detector,
            ):
                return r
        return None

    def session_of(self, row: Anomaly) -> d.OpenSession | None:
        return self.sessions.get(row.session_id) if row.session_id is not None else None

    def end_of(self, row: Anomaly) -> datetime:
        """When the anomaly's session ended, or now if that is not known."""
        ended = self.ended.get(row.session_id) if row.session_id is not None else None
        return ended or self.now


async def _once_more_on_conflict(submit: Callable[[], Awaitable[T]]) -> T:
    """Two writers may open the same anomaly at once (several writers on PostgreSQL):
    the unique index stops the second, which then finds the first's row and counts."""
    try:
        return await submit()
    except IntegrityError:
        return await submit()
