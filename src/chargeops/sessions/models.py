"""Tables owned by the sessions domain."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chargeops.storage.base import Base
from chargeops.storage.types import DecimalText, UTCDateTime


class ChargingSession(Base):
    """One transaction. ``id`` is ours; ``transaction_id`` is what the charger calls it
    (for OCPP 1.6 we hand out our own id, so the two are equal)."""

    __tablename__ = "charging_sessions"
    __table_args__ = (
        Index("uq_charging_sessions_station_tx", "station_id", "transaction_id", unique=True),
        # the same StartTransaction sent twice (lost answer) must find the first session
        Index(
            "uq_charging_sessions_start",
            "station_id",
            "connector_id",
            "started_at",
            "meter_start_wh",
            unique=True,
        ),
        Index("ix_charging_sessions_started_at", "started_at"),
        Index("ix_charging_sessions_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    ocpp_version: Mapped[str] = mapped_column(String(8))
    transaction_id: Mapped[str | None] = mapped_column(String(36))
    connector_id: Mapped[int] = mapped_column(Integer)
    id_tag: Mapped[str] = mapped_column(String(64))
    authorization: Mapped[str] = mapped_column(String(16))
    reservation_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # active | completed
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    meter_start_wh: Mapped[int] = mapped_column(BigInteger)
    meter_stop_wh: Mapped[int | None] = mapped_column(BigInteger)
    energy_wh: Mapped[int | None] = mapped_column(BigInteger)
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    stop_id_tag: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MeterValue(Base):
    """One sampled value. ``value``/``unit`` are in base units (Wh, W, ...); the charger's
    own text is kept beside them, since signed and audited data must stay as sent."""

    __tablename__ = "meter_values"
    __table_args__ = (
        # a repeated sample (a retried MeterValues, or the same sample again in
        # StopTransaction's transactionData) is stored once
        Index(
            "uq_meter_values_sample",
            "station_id",
            "connector_id",
            "timestamp",
            "measurand",
            "phase",
            "location",
            "context",
            unique=True,
        ),
        Index("ix_meter_values_session", "session_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    connector_id: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("charging_sessions.id", ondelete="SET NULL")
    )
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    measurand: Mapped[str] = mapped_column(String(48))
    # '' rather than NULL where the charger gave none, so the unique index sees repeats
    phase: Mapped[str] = mapped_column(String(8))
    location: Mapped[str] = mapped_column(String(8))
    context: Mapped[str] = mapped_column(String(24))
    format: Mapped[str] = mapped_column(String(12))
    value: Mapped[Decimal | None] = mapped_column(DecimalText())
    unit: Mapped[str] = mapped_column(String(16))
    raw_value: Mapped[str] = mapped_column(Text)
    raw_unit: Mapped[str] = mapped_column(String(16))
