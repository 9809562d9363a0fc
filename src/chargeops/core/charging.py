"""What chargers tell us and what we answer, in words that belong to no OCPP version.

protocol/ translates each OCPP version into these values and back; the gateway hands
them to domain services. Nothing here knows JSON field names or message ids.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
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
    # 2.0.1 only; a 1.6 station is told Invalid
    NOT_AT_THIS_LOCATION = "NotAtThisLocation"


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
    """StatusNotification for a connector of an EVSE. EVSE 0 / connector 0 is the station
    as a whole; an OCPP 1.6 connector n is EVSE n, connector 1."""

    evse_id: int
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
    # how signed data is signed (2.0.1 signedMeterValue: signing_method, encoding_method,
    # public_key), for transparency software to verify it
    signature: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class MeterReport:
    """MeterValues: samples of an EVSE's meter (EVSE 0: the station's main meter), maybe
    inside a transaction."""

    evse_id: int
    transaction_ref: str | None
    samples: tuple[MeterSample, ...]


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    id_tag: str
    token_type: str | None = None  # 2.0.1 IdTokenEnumType; 1.6 tags have none


@dataclass(frozen=True, slots=True)
class TransactionStart:
    """OCPP 1.6 StartTransaction: we choose the transaction id."""

    evse_id: int
    connector_id: int
    id_tag: str
    meter_start_wh: int
    timestamp: datetime
    reservation_id: int | None = None


@dataclass(frozen=True, slots=True)
class TransactionStop:
    """OCPP 1.6 StopTransaction."""

    transaction_ref: str
    meter_stop_wh: int
    timestamp: datetime
    id_tag: str | None = None
    reason: str | None = None
    samples: tuple[MeterSample, ...] = ()


class TransactionEventType(enum.StrEnum):
    STARTED = "Started"
    UPDATED = "Updated"
    ENDED = "Ended"


@dataclass(frozen=True, slots=True)
class TransactionEventReport:
    """OCPP 2.0.1 TransactionEvent: one step of a transaction the charger numbered.

    Events may arrive twice (a retry) or out of order (a queue replayed after an outage);
    ``seq_no`` says where each belongs and ``offline`` that its timestamp is the
    charger's own, from a time we could not hear it.
    """

    event_type: TransactionEventType
    transaction_ref: str
    seq_no: int
    timestamp: datetime
    trigger_reason: str
    offline: bool = False
    evse_id: int | None = None
    connector_id: int | None = None
    id_tag: str | None = None
    token_type: str | None = None
    charging_state: str | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    time_spent_charging_s: int | None = None
    number_of_phases: int | None = None
    samples: tuple[MeterSample, ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A 2.0.1 NotifyEvent entry in our words: a variable of one of the station's
    components changed, or crossed a threshold a monitor watches (``trigger`` Alerting).
    Monitoring reads problems (``Problem``, ``Tripped``... true) and their end from it."""

    component: str
    variable: str
    value: str
    trigger: str  # Alerting, Delta or Periodic
    cleared: bool = False
    evse_id: int | None = None
    connector_id: int | None = None
    component_instance: str | None = None
    variable_instance: str | None = None
    tech_code: str | None = None
    tech_info: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing a station tells us that we keep for operators and answer with thanks."""

    occurred_at: datetime | None
    summary: str
    payload: dict[str, Any]
    event: DeviceEvent | None = None  # a NotifyEvent entry, for fault detection


@dataclass(frozen=True, slots=True)
class StationNotices:
    """Messages with nothing to act on yet but worth keeping, as station events of
    ``kind``: security events, NotifyEvent, charging-limit and reservation updates..."""

    kind: str
    notices: tuple[Notice, ...]


@dataclass(frozen=True, slots=True)
class ReportedVariable:
    """One attribute of a device-model variable (OCPP 2.0.1 ReportData)."""

    component: str
    variable: str
    attribute_type: str = "Actual"
    value: str | None = None
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    mutability: str | None = None
    persistent: bool | None = None
    constant: bool | None = None
    characteristics: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class DeviceModelReport:
    """NotifyReport: part ``seq_no`` of the answer to GetBaseReport/GetReport ``request_id``."""

    request_id: int
    seq_no: int
    generated_at: datetime
    more_to_come: bool
    variables: tuple[ReportedVariable, ...]


@dataclass(frozen=True, slots=True)
class DataTransferRequest:
    vendor_id: str
    message_id: str | None = None
    data: Any = None


@dataclass(frozen=True, slots=True)
class DiagnosticsStatusReport:
    """Diagnostics (1.6) or log (2.0.1 LogStatusNotification) upload progress."""

    status: str
    request_id: int | None = None


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
    | TransactionEventReport
    | StationNotices
    | DeviceModelReport
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
class TransactionEventAnswer:
    """2.0.1: the token's verdict when the event carried one."""

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
    | TransactionEventAnswer
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
    # 2.0.1 transactions open on this connection, as sessions.transaction_events left
    # them after their last committed event: the charger's id -> its state
    transactions: dict[str, Any] = field(default_factory=dict)
