"""What chargers tell us and what we answer, in words that belong to no OCPP version.

protocol/ translates each OCPP version into these values and back; the gateway hands
them to domain services. Nothing here knows JSON field names or message ids.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


class RegistrationStatus(enum.StrEnum):
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class AuthorizationStatus(enum.StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class DataTransferStatus(enum.StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_MESSAGE_ID = "UnknownMessageId"
    UNKNOWN_VENDOR_ID = "UnknownVendorId"


# --- what a charger reports -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StationIdentity:
    """BootNotification: who the charger says it is."""

    vendor: str
    model: str
    serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class ConnectorStatusReport:
    """StatusNotification. Connector 0 is the station as a whole."""

    connector_id: int
    status: str
    error_code: str | None
    timestamp: datetime | None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One sampled value, converted to base units (Wh, W, VA, var, varh)."""

    timestamp: datetime
    measurand: str
    value: Decimal | None  # None when the charger's text is not a number (kept raw)
    unit: str
    raw_value: str
    raw_unit: str
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    format: str | None = None


@dataclass(frozen=True, slots=True)
class MeterReport:
    """MeterValues: samples for a connector, maybe inside a transaction."""

    connector_id: int
    transaction_ref: str | None
    samples: tuple[MeterSample, ...]


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    id_tag: str


@dataclass(frozen=True, slots=True)
class TransactionStart:
    connector_id: int
    id_tag: str
    meter_start_wh: int
    timestamp: datetime
    reservation_id: int | None = None


@dataclass(frozen=True, slots=True)
class TransactionStop:
    transaction_ref: str
    meter_stop_wh: int
    timestamp: datetime
    id_tag: str | None = None
    reason: str | None = None
    samples: tuple[MeterSample, ...] = ()


@dataclass(frozen=True, slots=True)
class DataTransferRequest:
    vendor_id: str
    message_id: str | None = None
    data: Any = None


@dataclass(frozen=True, slots=True)
class DiagnosticsStatusReport:
    status: str


@dataclass(frozen=True, slots=True)
class FirmwareStatusReport:
    status: str
    request_id: int | None = None


ChargerRequest = (
    StationIdentity
    | Heartbeat
    | ConnectorStatusReport
    | MeterReport
    | AuthorizeRequest
    | TransactionStart
    | TransactionStop
    | DataTransferRequest
    | DiagnosticsStatusReport
    | FirmwareStatusReport
)


# --- what we answer ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """An answer that carries nothing but "received and stored"."""


@dataclass(frozen=True, slots=True)
class BootAnswer:
    status: RegistrationStatus
    current_time: datetime
    interval_s: int


@dataclass(frozen=True, slots=True)
class HeartbeatAnswer:
    current_time: datetime


@dataclass(frozen=True, slots=True)
class Authorization:
    """idTagInfo: may this token charge, and until when."""

    status: AuthorizationStatus
    expires_at: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class TransactionStarted:
    transaction_ref: str
    authorization: Authorization


@dataclass(frozen=True, slots=True)
class TransactionStopped:
    authorization: Authorization | None = None


@dataclass(frozen=True, slots=True)
class DataTransferAnswer:
    status: DataTransferStatus
    data: Any = None


ChargerAnswer = (
    Acknowledged
    | BootAnswer
    | HeartbeatAnswer
    | Authorization
    | TransactionStarted
    | TransactionStopped
    | DataTransferAnswer
)


@dataclass(slots=True)
class StationContext:
    """What the gateway knows about the station on the other end of a connection."""

    station_id: str
    ocpp_version: str
    registration: RegistrationStatus = RegistrationStatus.ACCEPTED
    # open transactions seen on this connection: charger's id -> our session id
    sessions: dict[str, int] = field(default_factory=dict)
