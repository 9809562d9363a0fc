"""API shapes of stations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from chargeops.stations.models import Connector, Station, StationEvent, StationVariable


class ConnectorOut(BaseModel):
    evse_id: int = Field(description="the EVSE (1.6: the connector number)")
    connector_id: int = Field(description="the connector of that EVSE (1.6: always 1)")
    status: str
    error_code: str | None
    info: str | None = None
    vendor_error_code: str | None = None
    updated_at: datetime

    @classmethod
    def of(cls, row: Connector) -> ConnectorOut:
        return cls(
            evse_id=row.evse_id,
            connector_id=row.connector_id,
            status=row.status,
            error_code=row.error_code,
            info=row.info,
            vendor_error_code=row.vendor_error_code,
            updated_at=row.updated_at,
        )


class StationOut(BaseModel):
    id: str
    registration: str = Field(description="accepted, or pending (awaiting approval)")
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    charge_box_serial_number: str | None
    firmware_version: str | None
    meter_type: str | None
    meter_serial_number: str | None
    iccid: str | None
    imsi: str | None
    firmware_status: str | None
    diagnostics_status: str | None
    online: bool
    status: str | None = Field(
        description="status of the station as a whole (1.6 connector 0), if it reports one"
    )
    error_code: str | None
    connected_at: datetime | None
    last_boot_at: datetime | None
    last_seen_at: datetime | None
    created_at: datetime
    connectors: list[ConnectorOut]

    @classmethod
    def of(cls, row: Station, connectors: list[Connector]) -> StationOut:
        whole = next((c for c in connectors if c.evse_id == 0), None)
        return cls(
            id=row.id,
            registration=row.registration,
            ocpp_version=row.ocpp_version,
            vendor=row.vendor,
            model=row.model,
            serial_number=row.serial_number,
            charge_box_serial_number=row.charge_box_serial_number,
            firmware_version=row.firmware_version,
            meter_type=row.meter_type,
            meter_serial_number=row.meter_serial_number,
            iccid=row.iccid,
            imsi=row.imsi,
            firmware_status=row.firmware_status,
            diagnostics_status=row.diagnostics_status,
            online=row.online,
            status=whole.status if whole else None,
            error_code=whole.error_code if whole else None,
            connected_at=row.connected_at,
            last_boot_at=row.last_boot_at,
            last_seen_at=row.last_seen_at,
            created_at=row.created_at,
            connectors=[ConnectorOut.of(c) for c in connectors if c.evse_id > 0],
        )


class StationEventOut(BaseModel):
    id: int
    kind: str = Field(
        description="BootNotification, SecurityEvent, NotifyEvent, NotifyReport, "
        "DataTransfer, FirmwareStatusNotification, LogStatusNotification, Authorize..."
    )
    occurred_at: datetime
    summary: str | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: StationEvent) -> StationEventOut:
        return cls(
            id=row.id,
            kind=row.kind,
            occurred_at=row.occurred_at,
            summary=row.summary,
            payload=row.payload,
        )


class VariableOut(BaseModel):
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    attribute_type: str = Field(description="Actual, Target, MinSet or MaxSet")
    value: str | None
    mutability: str | None = Field(description="ReadOnly, WriteOnly or ReadWrite")
    persistent: bool | None
    constant: bool | None
    characteristics: dict[str, Any] | None = Field(
        description="unit, dataType, minLimit, maxLimit, valuesList, supportsMonitoring"
    )
    updated_at: datetime

    @classmethod
    def of(cls, row: StationVariable) -> VariableOut:
        return cls(
            component=row.component,
            component_instance=row.component_instance or None,
            evse_id=row.evse_id or None,
            connector_id=row.connector_id or None,
            variable=row.variable,
            variable_instance=row.variable_instance or None,
            attribute_type=row.attribute_type,
            value=row.value,
            mutability=row.mutability,
            persistent=row.persistent,
            constant=row.constant,
            characteristics=row.characteristics,
            updated_at=row.updated_at,
        )
