"""Whether each station can be reached, with every transition kept.

A station is online while its WebSocket is open and it keeps talking: nothing for longer
than its heartbeat interval plus a grace period makes it offline (``silent``) even if
the socket looks open (a half-dead TCP connection behind a NAT can look open for hours).

Transitions arrive from bus events and from the periodic silence check, possibly out of
order (several writers commit concurrently on PostgreSQL): each one is kept in the
history at its own time, and the current state only moves to a newer transition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core import events
from chargeops.monitoring.models import ConnectivityChange, StationConnectivity
from chargeops.stations.models import Station
from chargeops.storage.writer import Work

CONNECTED = "connected"
DISCONNECTED = "disconnected"
SILENT = "silent"  # the socket may be open, but nothing came in time
HEARD = "heard"  # a message came again after silence
SERVER_STOPPED = "server_stopped"  # chargeops was not running: nobody could reach it


async def record(work: Work, station_id: str, *, online: bool, at: datetime, reason: str) -> bool:
    """Keep a transition; True if it changed the station's current state."""
    current = await work.session.get(StationConnectivity, station_id)
    if current is not None and current.online == online and current.since <= at:
        return False  # already so: a second connection replacing the first, say
    work.session.add(ConnectivityChange(station_id=station_id, online=online, at=at, reason=reason))
    if current is None:
        work.session.add(
            StationConnectivity(station_id=station_id, online=online, since=at, reason=reason)
        )
    elif current.since <= at:
        current.online, current.since, current.reason = online, at, reason
    else:
        return False  # an older transition delivered late: history only
    work.emit(events.ConnectivityChanged(station_id, at, online, reason))
    return True


async def on_connected(work: Work, event: events.StationConnected) -> None:
    await record(work, event.station_id, online=True, at=event.occurred_at, reason=CONNECTED)


async def on_disconnected(work: Work, event: events.StationDisconnected) -> None:
    await record(work, event.station_id, online=False, at=event.occurred_at, reason=DISCONNECTED)


@dataclass(frozen=True, slots=True)
class Silence:
    """How long a station may say nothing before it counts as offline."""

    heartbeat_interval_s: int
    grace_s: int

    @property
    def limit(self) -> timedelta:
        return timedelta(seconds=self.heartbeat_interval_s + self.grace_s)


async def check_silence(work: Work, silence: Silence, *, now: datetime) -> int:
    """Stations online but not heard from within the limit go offline (``silent``) from
    the moment their next heartbeat was due; silent stations heard from again (their
    socket open, a message after the silence began) come back online. Returns how many
    changed."""
    due = now - silence.limit
    interval = timedelta(seconds=silence.heartbeat_interval_s)
    quiet = await work.session.execute(
        select(Station.id, Station.last_seen_at)
        .join(StationConnectivity, StationConnectivity.station_id == Station.id)
        .where(StationConnectivity.online.is_(True), Station.last_seen_at < due)
    )
    changed = 0
    for station_id, last_seen in quiet.all():
        due_at = (last_seen or due) + interval  # the filter excludes None; mypy cannot know
        changed += await record(work, station_id, online=False, at=due_at, reason=SILENT)
    back = await work.session.execute(
        select(Station.id, Station.last_seen_at)
        .join(StationConnectivity, StationConnectivity.station_id == Station.id)
        .where(
            StationConnectivity.online.is_(False),
            StationConnectivity.reason == SILENT,
            Station.online.is_(True),
            and_(Station.last_seen_at > StationConnectivity.since, Station.last_seen_at >= due),
        )
    )
    for station_id, last_seen in back.all():
        changed += await record(work, station_id, online=True, at=last_seen or now, reason=HEARD)
    return changed


async def mark_all_offline(work: Work, *, at: datetime) -> int:
    """At start: whoever was online when chargeops stopped went offline then (their last
    message is the best we know of when)."""
    rows = await work.session.execute(
        select(StationConnectivity.station_id, Station.last_seen_at)
        .join(Station, Station.id == StationConnectivity.station_id)
        .where(StationConnectivity.online.is_(True))
    )
    changed = 0
    for station_id, last_seen in rows.all():
        changed += await record(
            work, station_id, online=False, at=min(last_seen or at, at), reason=SERVER_STOPPED
        )
    return changed


async def history(
    db: AsyncSession, station_id: str, *, since: datetime, until: datetime
) -> tuple[bool | None, list[ConnectivityChange]]:
    """The station's state at ``since`` (None: unknown, it had never connected) and its
    transitions up to ``until``, oldest first."""
    before = await db.scalar(
        select(ConnectivityChange.online)
        .where(ConnectivityChange.station_id == station_id, ConnectivityChange.at <= since)
        .order_by(ConnectivityChange.at.desc(), ConnectivityChange.id.desc())
        .limit(1)
    )
    rows = await db.scalars(
        select(ConnectivityChange)
        .where(
            ConnectivityChange.station_id == station_id,
            ConnectivityChange.at > since,
            ConnectivityChange.at < until,
        )
        .order_by(ConnectivityChange.at, ConnectivityChange.id)
    )
    return before, list(rows)
