"""Tables owned by monitoring: connectivity, faults, anomalies, declared outage
exclusions, and the log of OCPP frames.

Faults and anomalies are kept as intervals (raised/detected ... cleared). At most one is
open per station, port and condition (a partial unique index), so a condition reported
again while open is counted on the open row instead of opening a second one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from chargeops.storage.base import Base
from chargeops.storage.types import UTCDateTime

_OPEN = text("cleared_at IS NULL")


class StationConnectivity(Base):
    """Whether each station can be reached now, and since when. Online needs an open
    WebSocket and a message within the heartbeat interval plus a grace period; a socket
    that stays open while nothing comes is ``silent`` (offline)."""

    __tablename__ = "station_connectivity"

    station_id: Mapped[str] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    online: Mapped[bool] = mapped_column(Boolean)
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(32))


class ConnectivityChange(Base):
    """Every online/offline transition with its time and why: the timeline that
    connectivity uptime is computed from."""

    __tablename__ = "connectivity_changes"
    __table_args__ = (Index("ix_connectivity_changes_station_at", "station_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    online: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # connected, disconnected, silent (no message in time), heard (a message after
    # silence), server_stopped (chargeops was not running)
    reason: Mapped[str] = mapped_column(String(32))


class Fault(Base):
    """A problem a station reported: a StatusNotification error code (1.6), a Faulted
    connector (2.0.1), or a NotifyEvent problem (2.0.1). Open until the station says it
    is over, the connector recovers, or an operator closes it."""

    __tablename__ = "faults"
    __table_args__ = (
        Index(
            "uq_faults_open",
            "station_id",
            "evse_id",
            "connector_id",
            "source",
            "condition",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
        Index("ix_faults_raised", "raised_at"),
        Index("ix_faults_station_raised", "station_id", "raised_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)  # 0: the station itself
    connector_id: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # status | event
    # what is wrong, as a key: "OverVoltage" (1.6), "Faulted" (2.0.1 status),
    # "ConnectorPlugRetentionLock/Problem" (2.0.1 event: component/variable)
    condition: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(100))  # the error code shown to people
    vendor_code: Mapped[str | None] = mapped_column(String(255))
    vendor_id: Mapped[str | None] = mapped_column(String(255))
    info: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(32))  # the connector's status then
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reports: Mapped[int] = mapped_column(Integer, default=1)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # station (it said so), recovery (the connector works again), superseded (another
    # error code replaced it), or the email of the operator who closed it
    cleared_by: Mapped[str | None] = mapped_column(String(254))


class Anomaly(Base):
    """Something a detector found wrong that no station reported: slow charging, a
    meter running backwards, a session stuck in Charging, a reboot loop..."""

    __tablename__ = "anomalies"
    __table_args__ = (
        Index(
            "uq_anomalies_open",
            "station_id",
            "evse_id",
            "detector",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
        Index("ix_anomalies_detected", "detected_at"),
        Index("ix_anomalies_station_detected", "station_id", "detected_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)  # 0: the station as a whole
    detector: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    session_id: Mapped[int | None] = mapped_column(Integer)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutageExclusion(Base):
    """Time the operator declares not to count against uptime (23 CFR 680.116(b)):
    a maintenance window declared ahead, or an outage marked as caused by the grid,
    vandalism, a natural disaster... Covers one port (``evse_id``), a whole station, or
    every station of a site."""

    __tablename__ = "outage_exclusions"
    __table_args__ = (Index("ix_outage_exclusions_period", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str | None] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    evse_id: Mapped[int | None] = mapped_column(Integer)  # None: every port
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OcppMessage(Base):
    """One OCPP-J frame as it crossed the wire, in or out. No foreign key: the log is
    written in batches off the hot path, and a frame from a station being deleted is
    still worth keeping until retention removes it."""

    __tablename__ = "ocpp_messages"
    __table_args__ = (
        Index("ix_ocpp_messages_station_at", "station_id", "at"),
        Index("ix_ocpp_messages_at", "at"),
        Index("ix_ocpp_messages_unique_id", "station_id", "unique_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    station_id: Mapped[str] = mapped_column(String(48))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    message_type: Mapped[int] = mapped_column(SmallInteger)  # 2 CALL, 3 RESULT, 4 ERROR
    unique_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))  # a result's: its CALL's
    frame: Mapped[str] = mapped_column(Text)
