"""Facts published on the bus after they are committed, for whoever subscribes.

Billing, alerts, monitoring and reports react to these; none of them needs to know which
OCPP version produced the fact, or that a gateway exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DomainEvent:
    station_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class StationConnected(DomainEvent):
    ocpp_version: str


@dataclass(frozen=True, slots=True)
class StationDisconnected(DomainEvent):
    pass


@dataclass(frozen=True, slots=True)
class TransferStatusChanged(DomainEvent):
    """A station reported progress of a file transfer we asked for: a firmware download
    (FirmwareStatusNotification) or a diagnostics/log upload (Diagnostics- or
    LogStatusNotification)."""

    transfer: str  # "firmware" or "diagnostics"
    status: str
    request_id: int | None  # 2.0.1 names the request it reports on; 1.6 does not


@dataclass(frozen=True, slots=True)
class StationMoved(DomainEvent):
    """A station was put at another site (None: at no site): what may charge there, and
    at what price, may have changed."""

    site_id: int | None


@dataclass(frozen=True, slots=True)
class StationBooted(DomainEvent):
    vendor: str
    model: str
    firmware_version: str | None
    registration: str


@dataclass(frozen=True, slots=True)
class ConnectorStatusChanged(DomainEvent):
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    vendor_error_code: str | None


@dataclass(frozen=True, slots=True)
class MeterSampled(DomainEvent):
    evse_id: int
    session_id: int | None
    samples: int


@dataclass(frozen=True, slots=True)
class AuthorizationChecked(DomainEvent):
    id_tag: str
    status: str
    evse_id: int | None


@dataclass(frozen=True, slots=True)
class TransactionStarted(DomainEvent):
    session_id: int
    evse_id: int
    id_tag: str | None
    meter_start_wh: int | None


@dataclass(frozen=True, slots=True)
class TransactionEnded(DomainEvent):
    session_id: int
    evse_id: int
    energy_wh: int | None
    stop_reason: str | None


@dataclass(frozen=True, slots=True)
class FileReceived(DomainEvent):
    """A station uploaded a file we asked for (diagnostics, a log)."""

    file_id: int
    command_id: int | None
    purpose: str
    filename: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class SecurityEventReported(DomainEvent):
    """A station reported a security event (2.0.1 SecurityEventNotification): a
    firmware tampering attempt, a failed login on its local port, a reset by watchdog..."""

    kind: str
    tech_info: str | None


@dataclass(frozen=True, slots=True)
class FaultRaised(DomainEvent):
    """Monitoring opened a fault: a station reported a problem (error code, Faulted
    connector, NotifyEvent problem)."""

    fault_id: int
    evse_id: int
    connector_id: int
    code: str
    info: str | None
    vendor_code: str | None


@dataclass(frozen=True, slots=True)
class FaultCleared(DomainEvent):
    fault_id: int
    evse_id: int
    connector_id: int
    code: str
    cleared_by: str


@dataclass(frozen=True, slots=True)
class ConnectivityChanged(DomainEvent):
    """A station became reachable or stopped being so (socket closed, or silent past its
    heartbeat interval and the grace period)."""

    online: bool
    reason: str


@dataclass(frozen=True, slots=True)
class AnomalyDetected(DomainEvent):
    anomaly_id: int
    evse_id: int
    detector: str
    summary: str


@dataclass(frozen=True, slots=True)
class AnomalyCleared(DomainEvent):
    anomaly_id: int
    evse_id: int
    detector: str


@dataclass(frozen=True, slots=True)
class NotificationPosted(DomainEvent):
    """A console notification was stored for a person: their open consoles show it at
    once. ``station_id`` is the station it is about, or ""."""

    user_id: int
    notification_id: int
    subject: str
    severity: str | None
    link: str | None
