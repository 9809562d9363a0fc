"""Tables owned by the sessions domain."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chargeops.storage.base import Base
from chargeops.storage.types import DecimalText, UTCDateTime


class ChargingSession(Base):
    """One transaction, whatever the OCPP version. ``id`` is ours; ``transaction_id`` is
    what the charger calls it (1.6: we hand out our own id, so the two are equal; 2.0.1:
    the charger's string)."""

    __tablename__ = "charging_sessions"
    __table_args__ = (
        Index("uq_charging_sessions_station_tx", "station_id", "transaction_id", unique=True),
        # the same StartTransaction sent twice (lost answer) must find the first session
        Index(
            "uq_charging_sessions_start",
            "station_id",
            "evse_id",
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
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    # None: a 2.0.1 transaction that started before any token was presented
    id_tag: Mapped[str | None] = mapped_column(String(64))
    id_token_type: Mapped[str | None] = mapped_column(String(20))
    remote_start_id: Mapped[int | None] = mapped_column(Integer)
    authorization: Mapped[str] = mapped_column(String(16))
    reservation_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # active | completed
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # register values; a 2.0.1 transaction learns them from its samples, which may
    # arrive out of order: the first/last register sample times say which one they are
    meter_start_wh: Mapped[int | None] = mapped_column(BigInteger)
    meter_stop_wh: Mapped[int | None] = mapped_column(BigInteger)
    energy_wh: Mapped[int | None] = mapped_column(BigInteger)
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    stop_id_tag: Mapped[str | None] = mapped_column(String(64))
    first_register_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_register_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_register_wh: Mapped[int | None] = mapped_column(BigInteger)
    charging_state: Mapped[str | None] = mapped_column(String(20))
    last_seq_no: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MeterValue(Base):
    """One sampled value. ``value``/``unit`` are in base units (Wh, W, ...); the charger's
    own text is kept beside them, since signed and audited data must stay as sent."""

    __tablename__ = "meter_values"
    __table_args__ = (
        # a repeated sample (a retried MeterValues, or the same sample again in
        # StopTransaction's transactionData) is stored once; a signed reading sent beside
        # the plain one (same instant and measurand, format SignedData) is a sample too
        Index(
            "uq_meter_values_sample",
            "station_id",
            "evse_id",
            "timestamp",
            "measurand",
            "phase",
            "location",
            "context",
            "format",
            unique=True,
        ),
        Index("ix_meter_values_session", "session_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
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
    # signed data's signing method, encoding and the meter's public key, where sent
    signature: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))


class TransactionEvent(Base):
    """An OCPP 2.0.1 TransactionEvent as received, stored once per (transaction, seqNo)."""

    __tablename__ = "transaction_events"
    __table_args__ = (
        Index("uq_transaction_events_seq", "station_id", "transaction_id", "seq_no", unique=True),
        Index("ix_transaction_events_session", "session_id", "seq_no"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("charging_sessions.id", ondelete="CASCADE"))
    station_id: Mapped[str] = mapped_column(String(48))
    transaction_id: Mapped[str] = mapped_column(String(36))
    seq_no: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(10))  # Started | Updated | Ended
    trigger_reason: Mapped[str] = mapped_column(String(32))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    offline: Mapped[bool] = mapped_column(Boolean)
    charging_state: Mapped[str | None] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
