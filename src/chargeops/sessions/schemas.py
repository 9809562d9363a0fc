"""API shapes of charging sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from chargeops.sessions.models import ChargingSession, MeterValue


class MeterValueOut(BaseModel):
    timestamp: datetime
    measurand: str
    phase: str | None
    location: str | None
    context: str | None
    format: str
    value: Decimal | None = Field(description="in base units (Wh, W, VA, var, varh, A, V...)")
    unit: str
    raw_value: str = Field(description="the value exactly as the charger sent it")
    raw_unit: str
    signature: dict[str, str] | None = Field(
        None, description="signed data's signing_method, encoding_method and public_key"
    )

    @classmethod
    def of(cls, row: MeterValue) -> MeterValueOut:
        return cls(
            timestamp=row.timestamp,
            measurand=row.measurand,
            phase=row.phase or None,
            location=row.location or None,
            context=row.context or None,
            format=row.format,
            value=row.value,
            unit=row.unit,
            raw_value=row.raw_value,
            raw_unit=row.raw_unit,
            signature=row.signature,
        )


class SessionOut(BaseModel):
    id: int
    transaction_id: int | str | None = Field(
        description="the charger's transaction id (an integer for OCPP 1.6)"
    )
    station_id: str
    evse_id: int = Field(description="the EVSE (1.6: the connector number)")
    connector_id: int = Field(description="the connector of that EVSE (1.6: always 1)")
    id_tag: str | None = Field(description="the token that started it, if any yet")
    id_token_type: str | None = Field(description="ISO14443, eMAID, Central... (2.0.1)")
    authorization: str = Field(description="the answer the token got at start")
    started_at: datetime
    stopped_at: datetime | None
    meter_start_wh: int | None = Field(description="energy register at the start, Wh")
    meter_stop_wh: int | None
    charging_state: str | None = Field(
        description="Charging, EVConnected, SuspendedEV, SuspendedEVSE, Idle (2.0.1)"
    )
    energy_wh: int | None
    status: str = Field(description="active or completed")
    stop_reason: str | None

    @classmethod
    def of(cls, row: ChargingSession) -> SessionOut:
        tx: int | str | None = row.transaction_id
        if row.ocpp_version == "1.6" and isinstance(tx, str) and tx.isdigit():
            tx = int(tx)
        return cls(
            id=row.id,
            transaction_id=tx,
            station_id=row.station_id,
            evse_id=row.evse_id,
            connector_id=row.connector_id,
            id_tag=row.id_tag,
            id_token_type=row.id_token_type,
            authorization=row.authorization,
            started_at=row.started_at,
            stopped_at=row.stopped_at,
            meter_start_wh=row.meter_start_wh,
            meter_stop_wh=row.meter_stop_wh,
            charging_state=row.charging_state,
            energy_wh=row.energy_wh,
            status=row.status,
            stop_reason=row.stop_reason,
        )


class SessionDetail(SessionOut):
    meter_values: list[MeterValueOut]

    @classmethod
    def with_values(cls, row: ChargingSession, values: Sequence[MeterValue]) -> SessionDetail:
        return cls(
            **SessionOut.of(row).model_dump(), meter_values=[MeterValueOut.of(v) for v in values]
        )
