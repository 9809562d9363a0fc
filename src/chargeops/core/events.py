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
