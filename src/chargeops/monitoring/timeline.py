"""A station's story, newest first: when it could be reached and when not, what its
connectors reported, the faults and anomalies opened and closed, and the outages
declared for it. What support reads first when a station "has been acting up".

Each source is read with the window and the limit applied (one query per kind of
entry, newest first); the entries are put into words here and merged, so that the
words are the same for the API and the console. Connector reports that repeat the
previous report of the same connector (a charger resends its status after a reconnect)
are left out: the timeline shows changes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.errors import InvalidInput, NotFound
from chargeops.monitoring import connectivity, faults
from chargeops.monitoring.exclusions import CAUSES
from chargeops.monitoring.models import Anomaly, ConnectivityChange, Fault, OutageExclusion
from chargeops.stations.models import ConnectorStatusChange, Station

CONNECTIVITY = "connectivity"
STATUS = "status"
FAULT = "fault"
ANOMALY = "anomaly"
EXCLUSION = "exclusion"
KINDS = {
    CONNECTIVITY: "Connectivity",
    STATUS: "Connector status",
    FAULT: "Faults",
    ANOMALY: "Anomalies",
    EXCLUSION: "Declared outages",
}
MAX_LIMIT = 1000
Tone = Literal["up", "down", "info"]  # good news, bad news, neither

_ONLINE_WORDS = {
    connectivity.CONNECTED: "Connected",
    connectivity.HEARD: "Heard from again after a silence",
}
_OFFLINE_WORDS = {
    connectivity.DISCONNECTED: "Disconnected",
    connectivity.SILENT: "Went silent: no message within its heartbeat interval and the grace",
    connectivity.SERVER_STOPPED: "Unreachable: chargeops was not running",
}
_CLEARED_WORDS = {
    faults.CLEARED_BY_STATION: "the station said it is over",
    faults.CLEARED_BY_RECOVERY: "the connector works again",
    faults.SUPERSEDED: "another error code replaced it",
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing that happened. ``label`` is the short word a page shows as a badge
    (a status, "Online", "Fault"...), ``words`` the sentence."""

    at: datetime
    kind: str
    label: str
    words: str
    tone: Tone
    evse_id: int | None = None
    connector_id: int | None = None
    ref_id: int | None = None  # the fault's, anomaly's or declared outage's id


@dataclass(frozen=True, slots=True)
class Timeline:
    station_id: str
    since: datetime
    until: datetime
    entries: list[Entry]
    truncated: bool  # there were more in the window than the limit: older ones left out


async def station_timeline(
    db: AsyncSession,
    station_id: str,
    *,
    since: datetime,
    until: datetime,
    kinds: Iterable[str] = (),
    limit: int = 200,
) -> Timeline:
    """Entries with ``since <= at < until``, newest first, at most ``limit``;
    ``kinds`` (of :data:`KINDS`) narrows them, empty: all."""
    if until <= since:
        raise InvalidInput("the period must end after it starts")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be from 1 to {MAX_LIMIT}")
    wanted = set(kinds) or set(KINDS)
    if unknown := wanted - set(KINDS):
        raise InvalidInput(f"kind must be among: {', '.join(KINDS)} (not {', '.join(unknown)})")
    station = await db.get(Station, station_id)
    if station is None:
        raise NotFound(f"station {station_id} is not registered")
    reader = _Reader(db, station, since, until, limit + 1)
    sources: list[list[Entry]] = []
    if CONNECTIVITY in wanted:
        sources.append(await reader.connectivity())
    if STATUS in wanted:
        sources.append(await reader.statuses())
    if FAULT in wanted:
        sources.extend(await reader.faults())
    if ANOMALY in wanted:
        sources.extend(await reader.anomalies())
    if EXCLUSION in wanted:
        sources.append(await reader.exclusions())
    merged = newest_first(sources, limit + 1)
    return Timeline(station_id, since, until, merged[:limit], len(merged) > limit)


def newest_first(sources: Sequence[Sequence[Entry]], limit: int) -> list[Entry]:
    """The newest ``limit`` entries of several lists, each newest first already."""
    merged = heapq.merge(*sources, key=lambda e: e.at, reverse=True)
    return [entry for entry, _ in zip(merged, range(limit), strict=False)]


class _Reader:
    def __init__(
        self, db: AsyncSession, station: Station, since: datetime, until: datetime, limit: int
    ) -> None:
        self.db, self.station = db, station
        self.since, self.until, self.limit = since, until, limit

    def _window(self, stmt: Select[Any], column: Any) -> Select[Any]:
        return (
            stmt.where(column >= self.since, column < self.until)
            .order_by(column.desc())
            .limit(self.limit)
        )

    async def connectivity(self) -> list[Entry]:
        c = ConnectivityChange
        stmt = self._window(select(c).where(c.station_id == self.station.id), c.at)
        return [
            connectivity_entry(row) for row in await self.db.scalars(stmt.order_by(c.id.desc()))
        ]

    async def statuses(self) -> list[Entry]:
        c = ConnectorStatusChange
        stmt = self._window(select(c).where(c.station_id == self.station.id), c.timestamp)
        rows = list(await self.db.scalars(stmt.order_by(c.id.desc())))
        return [status_entry(row) for row in changes_only(rows)]

    async def faults(self) -> list[list[Entry]]:
        mine = select(Fault).where(Fault.station_id == self.station.id)
        raised = await self.db.scalars(self._window(mine, Fault.raised_at))
        cleared = await self.db.scalars(self._window(mine, Fault.cleared_at))
        return [[fault_raised(f) for f in raised], [fault_cleared(f) for f in cleared]]

    async def anomalies(self) -> list[list[Entry]]:
        mine = select(Anomaly).where(Anomaly.station_id == self.station.id)
        found = await self.db.scalars(self._window(mine, Anomaly.detected_at))
        over = await self.db.scalars(self._window(mine, Anomaly.cleared_at))
        return [[anomaly_found(a) for a in found], [anomaly_over(a) for a in over]]

    async def exclusions(self) -> list[Entry]:
        """The station's declared outages and its site's: when each began and ended."""
        e = OutageExclusion
        where = e.station_id == self.station.id
        if self.station.site_id is not None:
            where = or_(where, (e.site_id == self.station.site_id) & e.station_id.is_(None))
        rows = await self.db.scalars(
            select(e)
            .where(where, e.starts_at < self.until, e.ends_at >= self.since)
            .order_by(e.starts_at.desc())
            .limit(self.limit)
        )
        entries = [
            entry
            for row in rows
            for entry in exclusion_entries(row)
            if self.since <= entry.at < self.until
        ]
        return sorted(entries, key=lambda x: x.at, reverse=True)


def changes_only(rows: Sequence[ConnectorStatusChange]) -> list[ConnectorStatusChange]:
    """Of status reports newest first, those that differ from the connector's report
    before them (the oldest of each connector is kept: nothing before it was read)."""
    kept: list[ConnectorStatusChange] = []
    last: dict[tuple[int, int], tuple[str, str]] = {}
    for row in sorted(rows, key=lambda r: (r.timestamp, r.id)):
        key, said = (row.evse_id, row.connector_id), (row.status, row.error_code)
        if last.get(key) != said:
            kept.append(row)
        last[key] = said
    kept.reverse()
    return kept


def connectivity_entry(row: ConnectivityChange) -> Entry:
    if row.online:
        words = _ONLINE_WORDS.get(row.reason, f"Online ({row.reason})")
    else:
        words = _OFFLINE_WORDS.get(row.reason, f"Offline ({row.reason})")
    return Entry(
        row.at,
        CONNECTIVITY,
        "Online" if row.online else "Offline",
        words,
        "up" if row.online else "down",
    )


def status_entry(row: ConnectorStatusChange) -> Entry:
    parts = [f"Reported {row.status}"]
    if row.error_code and row.error_code != "NoError":
        parts.append(f"error {row.error_code}")
    if row.vendor_error_code:
        parts.append(f"vendor code {row.vendor_error_code}")
    words = ", ".join(parts) + (f": {row.info}" if row.info else "")
    bad = row.status in ("Faulted", "Unavailable", "Inoperative") or row.error_code not in (
        "",
        "NoError",
    )
    return Entry(
        row.timestamp,
        STATUS,
        row.status,
        words,
        "down" if bad else "info",
        row.evse_id,
        row.connector_id,
    )


def fault_raised(row: Fault) -> Entry:
    words = f"Fault {row.code} opened"
    if row.vendor_code:
        words += f" (vendor code {row.vendor_code})"
    if row.info:
        words += f": {row.info}"
    if row.reports > 1:
        words += f"; reported {row.reports} times"
    return Entry(
        row.raised_at, FAULT, "Fault", words, "down", row.evse_id, row.connector_id, row.id
    )


def fault_cleared(row: Fault) -> Entry:
    assert row.cleared_at is not None  # read by its clearing time
    by = row.cleared_by or ""
    why = _CLEARED_WORDS.get(by, f"closed by {by}" if by else "")
    words = f"Fault {row.code} cleared" + (f": {why}" if why else "")
    return Entry(
        row.cleared_at, FAULT, "Fault over", words, "up", row.evse_id, row.connector_id, row.id
    )


def anomaly_found(row: Anomaly) -> Entry:
    words = f"{_detector(row.detector)}: {row.summary}"
    if row.occurrences > 1:
        words += f" (found {row.occurrences} times)"
    return Entry(
        row.detected_at, ANOMALY, "Anomaly", words, "down", _evse(row.evse_id), None, row.id
    )


def anomaly_over(row: Anomaly) -> Entry:
    assert row.cleared_at is not None  # read by its clearing time
    words = f"{_detector(row.detector)} is over"
    return Entry(
        row.cleared_at, ANOMALY, "Anomaly over", words, "up", _evse(row.evse_id), None, row.id
    )


def exclusion_entries(row: OutageExclusion) -> list[Entry]:
    cause = CAUSES.get(row.cause, row.cause)
    whole = "the whole site" if row.station_id is None else "the station"
    what = f"port {row.evse_id}" if row.evse_id is not None else whole
    note = f" ({row.note})" if row.note else ""
    return [
        Entry(
            row.ends_at,
            EXCLUSION,
            "Declared outage ends",
            f"Declared outage of {what} ends: {cause}",
            "info",
            row.evse_id,
            None,
            row.id,
        ),
        Entry(
            row.starts_at,
            EXCLUSION,
            "Declared outage",
            f"Declared outage of {what} begins: {cause}{note}; declared by {row.created_by}",
            "info",
            row.evse_id,
            None,
            row.id,
        ),
    ]


def _detector(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _evse(evse_id: int) -> int | None:
    """An anomaly on EVSE 0 is about the station as a whole: no port to name."""
    return evse_id or None
