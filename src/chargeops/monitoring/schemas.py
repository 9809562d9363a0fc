"""Response and request shapes of the monitoring API (times in UTC, minutes and
percentages as decimal strings, exactly as computed)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chargeops.monitoring.availability import StationUptime
from chargeops.monitoring.exclusions import CAUSES
from chargeops.monitoring.health import Overview, StationHealth
from chargeops.monitoring.models import Anomaly, Fault, OutageExclusion
from chargeops.monitoring.timeline import Entry, Timeline
from chargeops.monitoring.uptime import Uptime


class FaultOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    station_id: str
    evse_id: int
    connector_id: int
    source: str = Field(description="status (StatusNotification) or event (NotifyEvent)")
    code: str
    vendor_code: str | None
    vendor_id: str | None
    info: str | None
    status: str | None = Field(description="the connector's status when it was raised")
    raised_at: datetime
    last_reported_at: datetime
    reports: int
    cleared_at: datetime | None
    cleared_by: str | None

    @classmethod
    def of(cls, row: Fault) -> FaultOut:
        return cls.model_validate(row)


class AnomalyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    station_id: str
    evse_id: int
    detector: str
    summary: str
    detail: dict[str, Any]
    session_id: int | None
    detected_at: datetime
    last_detected_at: datetime
    occurrences: int
    cleared_at: datetime | None

    @classmethod
    def of(cls, row: Anomaly) -> AnomalyOut:
        return cls.model_validate(row)


class IntervalOut(BaseModel):
    start: datetime
    end: datetime


class UptimeOut(BaseModel):
    """23 CFR 680.116(b): (total - (outage - excluded)) / total x 100."""

    since: datetime
    until: datetime
    total_minutes: Decimal
    outage_minutes: Decimal
    excluded_minutes: Decimal
    uptime_percent: Decimal | None = Field(description="cut to 3 decimals; null: no time")
    outages: list[IntervalOut] = []

    @classmethod
    def of(cls, u: Uptime) -> UptimeOut:
        return cls(
            since=u.period.start,
            until=u.period.end,
            total_minutes=u.total_minutes,
            outage_minutes=u.outage_minutes,
            excluded_minutes=u.excluded_minutes,
            uptime_percent=u.percent,
            outages=[IntervalOut(start=o.start, end=o.end) for o in u.outages],
        )


class PortUptimeOut(UptimeOut):
    evse_id: int


class StationUptimeOut(BaseModel):
    station_id: str
    overall: UptimeOut | None = Field(description="null: never connected in the period")
    ports: list[PortUptimeOut]

    @classmethod
    def of(cls, u: StationUptime) -> StationUptimeOut:
        return cls(
            station_id=u.station_id,
            overall=UptimeOut.of(u.overall) if u.overall else None,
            ports=[
                PortUptimeOut(evse_id=evse, **UptimeOut.of(p).model_dump())
                for evse, p in sorted(u.ports.items())
            ],
        )


class SiteUptimeOut(BaseModel):
    site_id: int
    overall: UptimeOut | None
    stations: list[StationUptimeOut]


class OfflineStationOut(BaseModel):
    station_id: str
    since: datetime
    reason: str


class OverviewOut(BaseModel):
    stations: int
    online: int
    offline: int
    never_connected: int
    connectors_by_status: dict[str, int]
    open_faults: int
    open_anomalies: int
    faults_by_code: dict[str, int]
    stations_with_faults: list[str]
    offline_stations: list[OfflineStationOut]
    faulted_stations: int = Field(description="stations with at least one open fault")

    @classmethod
    def of(cls, o: Overview) -> OverviewOut:
        return cls(
            stations=o.stations,
            online=o.online,
            offline=o.offline,
            never_connected=o.never_connected,
            connectors_by_status=o.connectors_by_status,
            open_faults=o.open_faults,
            open_anomalies=o.open_anomalies,
            faults_by_code=o.faults_by_code,
            stations_with_faults=o.stations_with_faults,
            offline_stations=[
                OfflineStationOut(station_id=s, since=since, reason=r)
                for s, since, r in o.offline_stations
            ],
            faulted_stations=o.faulted_stations,
        )


class ConnectorHealthOut(BaseModel):
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    since: datetime


class StationHealthOut(BaseModel):
    station_id: str
    online: bool | None = Field(description="null: never connected since monitoring began")
    state_since: datetime | None
    state_reason: str | None
    socket_open: bool
    last_heard_at: datetime | None = Field(description="last message (written every ~30 s)")
    last_boot_at: datetime | None
    firmware_version: str | None
    firmware_status: str | None
    connectors: list[ConnectorHealthOut]
    open_faults: list[FaultOut]
    recent_anomalies: list[AnomalyOut]
    uptime: dict[str, StationUptimeOut] = Field(description="over the last 24h, 7d and 30d")

    @classmethod
    def of(cls, h: StationHealth) -> StationHealthOut:
        s, c = h.station, h.connectivity
        return cls(
            station_id=s.id,
            online=c.online if c else None,
            state_since=c.since if c else None,
            state_reason=c.reason if c else None,
            socket_open=s.online,
            last_heard_at=s.last_seen_at,
            last_boot_at=s.last_boot_at,
            firmware_version=s.firmware_version,
            firmware_status=s.firmware_status,
            connectors=[
                ConnectorHealthOut(
                    evse_id=x.evse_id,
                    connector_id=x.connector_id,
                    status=x.status,
                    error_code=x.error_code,
                    info=x.info,
                    since=x.updated_at,
                )
                for x in h.connectors
            ],
            open_faults=[FaultOut.of(f) for f in h.open_faults],
            recent_anomalies=[AnomalyOut.of(a) for a in h.recent_anomalies],
            uptime={k: StationUptimeOut.of(u) for k, u in h.uptime.items()},
        )


class ExclusionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station_id: str | None = Field(None, description="a station, or")
    site_id: int | None = Field(None, description="every station of a site")
    evse_id: int | None = Field(None, description="one port of the station; null: all")
    starts_at: datetime
    ends_at: datetime
    cause: Literal[tuple(CAUSES)] = Field(  # type: ignore[valid-type]
        description="; ".join(f"{k}: {v}" for k, v in CAUSES.items())
    )
    note: str | None = Field(None, max_length=2000)


class ExclusionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    station_id: str | None
    site_id: int | None
    evse_id: int | None
    starts_at: datetime
    ends_at: datetime
    cause: str
    note: str | None
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: OutageExclusion) -> ExclusionOut:
        return cls.model_validate(row)


class TimelineEntryOut(BaseModel):
    at: datetime
    kind: str = Field(description="connectivity, status, fault, anomaly or exclusion")
    label: str = Field(description="in a word: a status, Online, Fault, Fault over...")
    words: str
    tone: Literal["up", "down", "info"]
    evse_id: int | None
    connector_id: int | None
    ref_id: int | None = Field(description="the fault's, anomaly's or declared outage's id")

    @classmethod
    def of(cls, e: Entry) -> TimelineEntryOut:
        return cls(
            at=e.at,
            kind=e.kind,
            label=e.label,
            words=e.words,
            tone=e.tone,
            evse_id=e.evse_id,
            connector_id=e.connector_id,
            ref_id=e.ref_id,
        )


class TimelineOut(BaseModel):
    station_id: str
    since: datetime
    until: datetime
    entries: list[TimelineEntryOut] = Field(description="newest first")
    truncated: bool = Field(description="more happened in the period: older entries left out")

    @classmethod
    def of(cls, t: Timeline) -> TimelineOut:
        return cls(
            station_id=t.station_id,
            since=t.since,
            until=t.until,
            entries=[TimelineEntryOut.of(e) for e in t.entries],
            truncated=t.truncated,
        )
