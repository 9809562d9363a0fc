"""The alert engine: facts from the bus and periodic checks, judged against the enabled
rules, opening and clearing incidents. Each reaction is one unit of the writer, so the
incident, its notes and its notifications commit together or not at all.

- station_offline: the periodic check opens an incident for stations offline longer than
  the rule's minutes (a station that comes back sooner never bothers anyone); coming
  back online clears it.
- connector_faulted / anomaly: opened on FaultRaised / AnomalyDetected, cleared on
  FaultCleared (once no fault is open on that connector) / AnomalyCleared.
- uptime_below: an hourly check of each station's uptime over the rule's window, once
  monitoring has known the station for a day (or the whole window, if shorter).
- session_interrupted, firmware_failed, security_event: opened on the event; they are
  events, not states, so a person resolves them (firmware_failed also clears when the
  next update installs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.alerts import incidents, rules
from chargeops.alerts.incidents import Firing, Links
from chargeops.alerts.models import AlertRule, Incident
from chargeops.bus import Bus
from chargeops.core import events
from chargeops.core.clock import utcnow
from chargeops.monitoring import availability
from chargeops.monitoring.models import Fault, StationConnectivity
from chargeops.monitoring.uptime import Interval
from chargeops.stations.models import Station
from chargeops.storage.jobs import Scheduler
from chargeops.storage.writer import GroupCommitWriter, UnitFn, Work, WriterClosed

log = logging.getLogger(__name__)

OFFLINE = "offline"
UPTIME = "uptime"
FIRMWARE = "firmware"


class AlertEngine:
    def __init__(
        self,
        writer: GroupCommitWriter,
        sessions: async_sessionmaker[AsyncSession],
        links: Links,
        *,
        clock: Callable[[], datetime] = utcnow,
        check_every_s: float = 30.0,
    ) -> None:
        self._writer = writer
        self._sessions = sessions
        self.links = links
        self._clock = clock
        self._check_every = timedelta(seconds=check_every_s)

    def install(self, bus: Bus, scheduler: Scheduler) -> None:
        bus.subscribe(events.ConnectivityChanged, self.on_connectivity)
        bus.subscribe(events.FaultRaised, self.on_fault_raised)
        bus.subscribe(events.FaultCleared, self.on_fault_cleared)
        bus.subscribe(events.AnomalyDetected, self.on_anomaly)
        bus.subscribe(events.AnomalyCleared, self.on_anomaly_cleared)
        bus.subscribe(events.TransactionEnded, self.on_transaction_ended)
        bus.subscribe(events.TransferStatusChanged, self.on_transfer)
        bus.subscribe(events.SecurityEventReported, self.on_security_event)
        scheduler.add("alerts.offline", self._check_every, self.check_offline)
        scheduler.add("alerts.escalation", self._check_every, self.escalate)
        scheduler.add("alerts.uptime", timedelta(hours=1), self.check_uptime)

    async def start(self) -> None:
        now = self._clock()
        await self._writer.submit(lambda w: rules.ensure_defaults(w, now=now))

    # --- facts from the bus ---------------------------------------------------------

    async def on_connectivity(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.ConnectivityChanged)
        if event.online:
            await self._clear(
                rules_kind="station_offline", station_id=event.station_id, condition=OFFLINE
            )
            return

        async def unit(w: Work) -> None:
            # a rule with 0 minutes fires at once; others wait for the periodic check
            for rule in await self._rules(w, "station_offline", event.station_id):
                if rule.params["minutes"] <= 0:
                    await self._fire(
                        w, rule, _offline(event.station_id, event.occurred_at, event.reason)
                    )

        await self._submit(unit)

    async def on_fault_raised(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.FaultRaised)

        async def unit(w: Work) -> None:
            for rule in await self._rules(w, "connector_faulted", event.station_id):
                codes = rule.params.get("codes")
                if codes and event.code not in codes:
                    continue
                where = f"EVSE {event.evse_id}" if event.evse_id else "the station"
                info = f": {event.info}" if event.info else ""
                vendor = f" (vendor code {event.vendor_code})" if event.vendor_code else ""
                await self._fire(
                    w,
                    rule,
                    Firing(
                        station_id=event.station_id,
                        condition=_fault_condition(event.evse_id, event.connector_id),
                        title=f"{event.station_id} {where} faulted: {event.code}",
                        detail=f"{event.code}{vendor}{info}",
                        started_at=event.occurred_at,
                        evse_id=event.evse_id,
                    ),
                )

        await self._submit(unit)

    async def on_fault_cleared(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.FaultCleared)

        async def unit(w: Work) -> None:
            still = await w.session.scalar(
                select(Fault.id).where(
                    Fault.station_id == event.station_id,
                    Fault.evse_id == event.evse_id,
                    Fault.connector_id == event.connector_id,
                    Fault.cleared_at.is_(None),
                )
            )
            if still is None:
                await incidents.clear(
                    w,
                    "connector_faulted",
                    event.station_id,
                    _fault_condition(event.evse_id, event.connector_id),
                    now=self._clock(),
                    links=self.links,
                )

        await self._submit(unit)

    async def on_anomaly(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.AnomalyDetected)

        async def unit(w: Work) -> None:
            for rule in await self._rules(w, "anomaly", event.station_id):
                detectors = rule.params.get("detectors")
                if detectors and event.detector not in detectors:
                    continue
                await self._fire(
                    w,
                    rule,
                    Firing(
                        station_id=event.station_id,
                        condition=f"anomaly:{event.detector}:{event.evse_id}",
                        title=f"{event.station_id}: {event.detector.replace('_', ' ')}",
                        detail=event.summary,
                        started_at=event.occurred_at,
                        evse_id=event.evse_id,
                    ),
                )

        await self._submit(unit)

    async def on_anomaly_cleared(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.AnomalyCleared)
        await self._clear(
            rules_kind="anomaly",
            station_id=event.station_id,
            condition=f"anomaly:{event.detector}:{event.evse_id}",
        )

    async def on_transaction_ended(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.TransactionEnded)
        if not event.stop_reason:
            return

        async def unit(w: Work) -> None:
            for rule in await self._rules(w, "session_interrupted", event.station_id):
                if event.stop_reason not in (rule.params.get("reasons") or []):
                    continue
                await self._fire(
                    w,
                    rule,
                    Firing(
                        station_id=event.station_id,
                        condition=f"interrupted:{event.evse_id}",
                        title=f"{event.station_id} EVSE {event.evse_id}: session interrupted "
                        f"({event.stop_reason})",
                        detail=f"session {event.session_id} ended by {event.stop_reason} "
                        f"after {event.energy_wh or 0} Wh",
                        started_at=event.occurred_at,
                        evse_id=event.evse_id,
                    ),
                )

        await self._submit(unit)

    async def on_transfer(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.TransferStatusChanged)
        if event.transfer != "firmware":
            return
        if event.status == "Installed":
            await self._clear(
                rules_kind="firmware_failed", station_id=event.station_id, condition=FIRMWARE
            )
            return
        if event.status not in rules.FIRMWARE_FAILURES:
            return

        async def unit(w: Work) -> None:
            for rule in await self._rules(w, "firmware_failed", event.station_id):
                await self._fire(
                    w,
                    rule,
                    Firing(
                        station_id=event.station_id,
                        condition=FIRMWARE,
                        title=f"{event.station_id}: firmware update failed ({event.status})",
                        detail=f"the station reported {event.status}",
                        started_at=event.occurred_at,
                    ),
                )

        await self._submit(unit)

    async def on_security_event(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.SecurityEventReported)

        async def unit(w: Work) -> None:
            for rule in await self._rules(w, "security_event", event.station_id):
                types = rule.params.get("types")
                if types and event.kind not in types:
                    continue
                info = f": {event.tech_info}" if event.tech_info else ""
                await self._fire(
                    w,
                    rule,
                    Firing(
                        station_id=event.station_id,
                        condition=f"security:{event.kind}",
                        title=f"{event.station_id}: security event {event.kind}",
                        detail=f"{event.kind}{info}",
                        started_at=event.occurred_at,
                    ),
                )

        await self._submit(unit)

    # --- periodic checks ------------------------------------------------------------

    async def check_offline(self, now: datetime) -> int:
        """Open incidents for stations offline longer than each rule allows."""

        async def unit(w: Work) -> int:
            opened = 0
            for rule in await self._rules(w, "station_offline", None):
                minutes = rule.params["minutes"]
                stmt = (
                    select(StationConnectivity, Station.site_id)
                    .join(Station, Station.id == StationConnectivity.station_id)
                    .where(
                        StationConnectivity.online.is_(False),
                        StationConnectivity.since <= now - timedelta(minutes=minutes),
                    )
                )
                if rule.site_id is not None:
                    stmt = stmt.where(Station.site_id == rule.site_id)
                for state, _ in (await w.session.execute(stmt)).all():
                    if await _alerted(w, rule, state.station_id, OFFLINE, since=state.since):
                        continue
                    await self._fire(w, rule, _offline(state.station_id, state.since, state.reason))
                    opened += 1
            return opened

        return await self._writer.submit(unit)

    async def escalate(self, now: datetime) -> int:
        return await self._writer.submit(
            lambda w: incidents.escalate_due(w, now=now, links=self.links)
        )

    async def check_uptime(self, now: datetime) -> int:
        """Stations whose uptime over a rule's window is below its percentage."""
        async with self._sessions() as db:
            checks: list[tuple[AlertRule, str, float | None]] = []
            for rule in await rules.rules_of(db, "uptime_below"):
                period = Interval(now - timedelta(hours=rule.params["window_hours"]), now)
                stmt = select(Station.id).order_by(Station.id)
                if rule.site_id is not None:
                    stmt = stmt.where(Station.site_id == rule.site_id)
                # a station known for minutes is not judged on a month: a fault in its
                # first hour would read as 0 %; it needs a day (or the window) of history
                needed = Decimal(min(rule.params["window_hours"], 24) * 60)
                for station_id in (await db.scalars(stmt)).all():
                    result = await availability.station_uptime(db, station_id, period)
                    overall = result.overall
                    ports = len(result.ports) or 1  # the overall figure adds their minutes
                    judged = overall is not None and overall.total_minutes >= needed * ports
                    percent = overall.percent if overall is not None and judged else None
                    checks.append(
                        (rule, station_id, float(percent) if percent is not None else None)
                    )

        async def unit(w: Work) -> int:
            opened = 0
            for rule, station_id, percent in checks:
                if percent is None:
                    continue
                if percent < rule.params["percent"]:
                    hours = rule.params["window_hours"]
                    await self._fire(
                        w,
                        rule,
                        Firing(
                            station_id=station_id,
                            condition=UPTIME,
                            title=f"{station_id}: uptime {percent:.3f}% over {hours:g} h",
                            detail=f"below the {rule.params['percent']:g}% the rule asks for",
                            started_at=now,
                        ),
                    )
                    opened += 1
                else:
                    await incidents.clear(
                        w, "uptime_below", station_id, UPTIME, now=now, links=self.links
                    )
            return opened

        return await self._writer.submit(unit)

    # --- inside ---------------------------------------------------------------------

    async def _rules(self, w: Work, kind: str, station_id: str | None) -> list[AlertRule]:
        """Enabled rules of ``kind`` that cover the station (its site's, or the network's)."""
        found = await rules.rules_of(w.session, kind)
        if station_id is None:
            return found
        site_id = await w.session.scalar(select(Station.site_id).where(Station.id == station_id))
        return [r for r in found if r.site_id is None or r.site_id == site_id]

    async def _fire(self, w: Work, rule: AlertRule, firing: Firing) -> None:
        await incidents.fire(w, rule, firing, now=self._clock(), links=self.links)

    async def _clear(self, *, rules_kind: str, station_id: str, condition: str) -> None:
        await self._submit(
            lambda w: incidents.clear(
                w, rules_kind, station_id, condition, now=self._clock(), links=self.links
            )
        )

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
                log.info("alert not evaluated: shutting down")
                return


def _fault_condition(evse_id: int, connector_id: int) -> str:
    return f"fault:{evse_id}/{connector_id}"


def _offline(station_id: str, since: datetime, reason: str) -> Firing:
    why = {
        "silent": "nothing came within its heartbeat interval",
        "disconnected": "its connection closed",
        "server_stopped": "chargeops was not running",
    }.get(reason, reason)
    return Firing(
        station_id=station_id,
        condition=OFFLINE,
        title=f"{station_id} is offline",
        detail=f"offline: {why}",
        started_at=since,
    )


async def _alerted(
    w: Work, rule: AlertRule, station_id: str, condition: str, *, since: datetime
) -> bool:
    """Whether this stretch of the condition already has its incident: one unresolved,
    or one opened since it began (resolved by a person while the station is still
    down: not reopened every check)."""
    found = await w.session.scalar(
        select(Incident.id)
        .where(
            Incident.rule_id == rule.id,
            Incident.station_id == station_id,
            Incident.condition == condition,
            Incident.resolved_at.is_(None) | (Incident.opened_at >= since),
        )
        .limit(1)
    )
    return found is not None
