"""Station subscriptions: a person waits to hear that a station, or one of its EVSEs, is
back in service, and is told once.

**Out of service** is offline, or every connector in question (of the EVSE, or of the
whole station) ``Faulted`` or ``Unavailable``, or the station as a whole (EVSE 0) so.
Subscribing to a station in service now is refused (Conflict, saying what is working):
there is nothing to wait for, and a subscription that fires at once teaches nothing.

**Back in service** is online with a connector in question reporting ``Available``. It
is noticed two ways:

- a connector reports ``Available`` while the station is connected: at once;
- a station that comes back online without reporting its connectors (a 1.6 charger
  that reconnects without rebooting sends no StatusNotification): the periodic check
  reads the statuses stored for it once it has been online for ``settle`` (long enough
  for a booting station to report Faulted first, if it is).

Each waiting subscriber is told once: the subscription is marked fulfilled
(``notified_at``) by a conditional UPDATE in the transaction that queues the
notification, so two writers meeting on one subscription tell the person once. Fulfilled
subscriptions are kept, so a person can see they were told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.alerts import outbox
from chargeops.alerts.incidents import Links
from chargeops.alerts.models import StationSubscription
from chargeops.bus import Bus
from chargeops.core import events
from chargeops.core.clock import format_timestamp, utcnow
from chargeops.core.errors import Conflict, NotFound
from chargeops.monitoring.models import StationConnectivity
from chargeops.stations.models import Connector, Site, Station
from chargeops.storage.jobs import Scheduler
from chargeops.storage.writer import GroupCommitWriter, UnitFn, Work, WriterClosed

log = logging.getLogger(__name__)

OUT_OF_SERVICE = frozenset({"Faulted", "Unavailable"})
AVAILABLE = "Available"
EVENT = "station.back_in_service"
ANY_EVSE = 0


@dataclass(frozen=True, slots=True)
class ServiceState:
    in_service: bool
    words: str  # what is (not) working, for the person


async def _online(db: AsyncSession, station_id: str) -> bool:
    """Monitoring's view (silent stations are offline), else whether it is connected."""
    state = await db.get(StationConnectivity, station_id)
    if state is not None:
        return state.online
    return bool(await db.scalar(select(Station.online).where(Station.id == station_id)))


async def _connectors(db: AsyncSession, station_id: str) -> Sequence[Connector]:
    stmt = (
        select(Connector)
        .where(Connector.station_id == station_id)
        .order_by(Connector.evse_id, Connector.connector_id)
    )
    return (await db.scalars(stmt)).all()


async def service_state(db: AsyncSession, station_id: str, evse_id: int) -> ServiceState:
    """Whether the station (``evse_id`` 0: any EVSE of it) is in service now."""
    if not await _online(db, station_id):
        return ServiceState(False, f"{station_id} is offline")
    rows = await _connectors(db, station_id)
    for row in rows:
        if row.evse_id == 0 and row.status in OUT_OF_SERVICE:
            return ServiceState(False, f"{station_id} as a whole is {row.status}")
    ports = [r for r in rows if r.evse_id > 0 and evse_id in (ANY_EVSE, r.evse_id)]
    if not ports:
        return ServiceState(True, f"{station_id} is online")
    working = [r for r in ports if r.status not in OUT_OF_SERVICE]
    if working:
        return ServiceState(True, f"EVSE {working[0].evse_id} is {working[0].status}")
    down = ", ".join(f"EVSE {r.evse_id} {r.status}" for r in ports)
    return ServiceState(False, down)


async def subscribe(
    work: Work, user_id: int, station_id: str, evse_id: int | None, *, now: datetime
) -> tuple[StationSubscription, bool]:
    """The person's waiting subscription, made now (True) or found (False: asking twice
    is not an error). NotFound for an unknown station or EVSE; Conflict when the
    station is in service now."""
    db = work.session
    evse = evse_id or ANY_EVSE
    if await db.get(Station, station_id) is None:
        raise NotFound(f"station {station_id} does not exist")
    if evse != ANY_EVSE:
        known = await db.scalar(
            select(Connector.evse_id)
            .where(Connector.station_id == station_id, Connector.evse_id == evse)
            .limit(1)
        )
        if known is None:
            raise NotFound(f"station {station_id} has no EVSE {evse} that has reported a status")
    existing = await db.scalar(
        select(StationSubscription).where(
            StationSubscription.user_id == user_id,
            StationSubscription.station_id == station_id,
            StationSubscription.evse_id == evse,
            StationSubscription.notified_at.is_(None),
        )
    )
    if existing is not None:
        return existing, False
    state = await service_state(db, station_id, evse)
    if state.in_service:
        what = f"EVSE {evse} of {station_id}" if evse else station_id
        raise Conflict(
            f"{what} is in service now ({state.words}): there is nothing to wait for. "
            "Subscribe when it is offline or out of order to hear when it is back."
        )
    row = StationSubscription(
        user_id=user_id, station_id=station_id, evse_id=evse, created_at=now, notified_at=None
    )
    db.add(row)
    await db.flush()  # a second request at the same moment meets the unique index here
    return row, True


async def subscriptions_of(
    db: AsyncSession, user_id: int, *, status: Literal["waiting", "fulfilled"] | None = None
) -> Sequence[StationSubscription]:
    """A person's subscriptions, newest first (the last 200)."""
    stmt = (
        select(StationSubscription)
        .where(StationSubscription.user_id == user_id)
        .order_by(StationSubscription.id.desc())
        .limit(200)
    )
    if status == "waiting":
        stmt = stmt.where(StationSubscription.notified_at.is_(None))
    elif status == "fulfilled":
        stmt = stmt.where(StationSubscription.notified_at.is_not(None))
    return (await db.scalars(stmt)).all()


async def cancel(work: Work, user_id: int, subscription_id: int) -> None:
    """Remove one of the person's subscriptions (someone else's is NotFound)."""
    row = await work.session.get(StationSubscription, subscription_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"subscription {subscription_id} does not exist")
    await work.session.delete(row)
    await work.session.flush()


async def fulfil(work: Work, station_id: str, *, now: datetime, links: Links) -> int:
    """Tell the station's waiting subscribers whose EVSE (or any EVSE) is Available now;
    the caller knows the station is online. How many were told."""
    db = work.session
    waiting = (
        await db.scalars(
            select(StationSubscription)
            .where(
                StationSubscription.station_id == station_id,
                StationSubscription.notified_at.is_(None),
            )
            .order_by(StationSubscription.id)
        )
    ).all()
    if not waiting:
        return 0
    rows = await _connectors(db, station_id)
    if any(r.evse_id == 0 and r.status in OUT_OF_SERVICE for r in rows):
        return 0
    available = sorted({r.evse_id for r in rows if r.evse_id > 0 and r.status == AVAILABLE})
    if not available:
        return 0
    place = await _place(db, station_id)
    told = 0
    for sub in waiting:
        if sub.evse_id != ANY_EVSE and sub.evse_id not in available:
            continue
        claimed = await work.scalar(
            update(StationSubscription)
            .where(StationSubscription.id == sub.id, StationSubscription.notified_at.is_(None))
            .values(notified_at=now)
            .returning(StationSubscription.id)
            .execution_options(synchronize_session=False)
        )
        if claimed is None:
            continue  # another writer told them
        await outbox.notify_user(
            work, sub.user_id, _message(sub, available, place, now, links), now=now
        )
        told += 1
    return told


@dataclass(frozen=True, slots=True)
class _Where:
    words: str
    zone: ZoneInfo

    def local(self, at: datetime) -> str:
        local = at.astimezone(self.zone)
        return f"{local:%Y-%m-%d %H:%M} {'UTC' if self.zone.key == 'UTC' else local.tzname()}"


async def _place(db: AsyncSession, station_id: str) -> _Where:
    site = (
        await db.execute(
            select(Site.name, Site.address, Site.city, Site.time_zone)
            .join(Station, Station.site_id == Site.id)
            .where(Station.id == station_id)
        )
    ).one_or_none()
    if site is None:
        return _Where(station_id, ZoneInfo("UTC"))
    words = f"{station_id} at " + ", ".join(p for p in (site.name, site.address, site.city) if p)
    try:
        zone = ZoneInfo(site.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return _Where(words, zone)


def _message(
    sub: StationSubscription, available: list[int], where: _Where, now: datetime, links: Links
) -> outbox.Message:
    if sub.evse_id != ANY_EVSE:
        subject = f"{sub.station_id} EVSE {sub.evse_id} is available again"
        what = f"EVSE {sub.evse_id} is Available"
    else:
        subject = f"{sub.station_id} is back in service"
        evses = ", ".join(str(e) for e in available)
        what = f"EVSE {evses} {'is' if len(available) == 1 else 'are'} Available"
    return outbox.Message(
        event=EVENT,
        subject=subject,
        text="\n".join(
            [
                f"{where.words} is online and {what} again ({where.local(now)}).",
                f"You asked to be told on {where.local(sub.created_at)}; this was a one-time "
                "notice: subscribe again to hear of the next outage's end.",
            ]
        ),
        payload={
            "subscription_id": sub.id,
            "station_id": sub.station_id,
            "evse_id": sub.evse_id or None,
            "available_evse_ids": available,
            "available_at": format_timestamp(now),
            "subscribed_at": format_timestamp(sub.created_at),
        },
        station_id=sub.station_id,
        link=links.station(sub.station_id),
    )


class BackInService:
    """Watches for stations coming back and fulfils their subscriptions (see the
    module's docstring)."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        sessions: async_sessionmaker[AsyncSession],
        links: Links,
        *,
        clock: Callable[[], datetime] = utcnow,
        settle: timedelta = timedelta(seconds=60),
        check_every: timedelta = timedelta(seconds=30),
    ) -> None:
        self._writer = writer
        self._sessions = sessions
        self.links = links
        self._clock = clock
        self.settle = settle
        self._check_every = check_every

    def install(self, bus: Bus, scheduler: Scheduler) -> None:
        bus.subscribe(events.ConnectorStatusChanged, self.on_status)
        scheduler.add("alerts.station_subscriptions", self._check_every, self.check)

    async def on_status(self, event: events.DomainEvent) -> None:
        assert isinstance(event, events.ConnectorStatusChanged)
        if event.status != AVAILABLE:
            return
        station_id = event.station_id
        async with self._sessions() as db:  # most stations have nobody waiting: a read
            waiting = await db.scalar(
                select(StationSubscription.id)
                .where(
                    StationSubscription.station_id == station_id,
                    StationSubscription.notified_at.is_(None),
                )
                .limit(1)
            )
        if waiting is None:
            return

        async def unit(w: Work) -> int:
            # the report just came over the station's connection: connected, unless it
            # closed since, when the periodic check decides once it is back
            online = await w.session.scalar(select(Station.online).where(Station.id == station_id))
            if not online:
                return 0
            return await fulfil(w, station_id, now=self._clock(), links=self.links)

        await self._submit(unit)

    async def check(self, now: datetime) -> int:
        """Fulfil what waits on stations online for ``settle`` whose stored statuses say
        Available; how many were told."""
        async with self._sessions() as db:
            stations = (
                await db.scalars(
                    select(StationSubscription.station_id)
                    .join(
                        StationConnectivity,
                        StationConnectivity.station_id == StationSubscription.station_id,
                    )
                    .where(
                        StationSubscription.notified_at.is_(None),
                        StationConnectivity.online.is_(True),
                        StationConnectivity.since <= now - self.settle,
                    )
                    .distinct()
                    .order_by(StationSubscription.station_id)
                )
            ).all()
        told = 0
        for station_id in stations:

            async def unit(w: Work, station_id: str = station_id) -> int:
                return await fulfil(w, station_id, now=now, links=self.links)

            told += await self._submit(unit)
        return told

    async def _submit(self, unit: UnitFn[int]) -> int:
        for attempt in range(3):
            try:
                return await self._writer.submit(unit)
            except IntegrityError:
                if attempt == 2:
                    raise
            except WriterClosed:
                log.info("station subscriptions not judged: shutting down")
                return 0
        return 0
