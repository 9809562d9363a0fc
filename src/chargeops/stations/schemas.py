"""API shapes of stations."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chargeops.stations.models import Connector, Site, Station, StationEvent, StationVariable


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
    site_id: int | None = Field(description="the site it stands at")
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
            site_id=row.site_id,
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


class StationChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: int | None = Field(description="move it to this site; null: to no site")


class Period(BaseModel):
    weekday: int = Field(description="1 Monday ... 7 Sunday")
    begin: str = Field(description="HH:MM local time")
    end: str = Field(description="HH:MM local time; before begin: open over midnight")


class OpeningHours(BaseModel):
    """OCPI's Hours: open all the time, or regular hours per weekday."""

    twentyfourseven: bool = False
    regular_hours: list[Period] = Field(default_factory=list)


class SiteChanges(BaseModel):
    """What a PATCH may change; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    address: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = Field(None, description="ISO 3166-1 alpha-2, e.g. DE")
    latitude: Decimal | None = Field(None, description="WGS 84 degrees, -90..90")
    longitude: Decimal | None = Field(None, description="WGS 84 degrees, -180..180")
    time_zone: str | None = Field(None, description="IANA name, e.g. Europe/Berlin")
    opening_hours: OpeningHours | None = None


class SiteIn(SiteChanges):
    name: str
    time_zone: str | None = Field("UTC", description="IANA name, e.g. Europe/Berlin")


class SiteOut(BaseModel):
    id: int
    name: str
    address: str | None
    city: str | None
    postal_code: str | None
    country: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    time_zone: str
    opening_hours: dict[str, Any] | None
    station_count: int
    station_ids: list[str] | None = Field(
        None, description="the stations at the site (on GET of one site)"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Site, station_count: int, station_ids: list[str] | None = None) -> SiteOut:
        return cls(
            id=row.id,
            name=row.name,
            address=row.address,
            city=row.city,
            postal_code=row.postal_code,
            country=row.country,
            latitude=row.latitude,
            longitude=row.longitude,
            time_zone=row.time_zone,
            opening_hours=row.opening_hours,
            station_count=station_count,
            station_ids=station_ids,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
