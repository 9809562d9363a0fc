"""API shapes of tariffs, prices, quotes and CDRs. Money is a string of the exact
decimal (``"0.30"``), times are UTC, energy is Wh unless a field says kWh."""

from __future__ import annotations

from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chargeops.billing.models import Cdr, Tariff, TariffAssignment, TariffVersion
from chargeops.billing.revenue import CurrencyTotal, DayRevenue
from chargeops.billing.tariffs import (
    DayOfWeek,
    DimensionType,
    Price,
    describe_tariff,
    parse_tariff,
)

_UNITS = {
    DimensionType.ENERGY: "kWh",
    DimensionType.TIME: "hour",
    DimensionType.PARKING_TIME: "hour",
    DimensionType.FLAT: "session",
}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- tariffs


class TariffIn(_In):
    name: str = Field(max_length=200)
    currency: str | None = Field(
        None, description="ISO 4217; default: the document's", min_length=3, max_length=3
    )
    document: dict[str, Any] | None = Field(
        None, description="an OCPI 2.2.1 Tariff object: the first version"
    )
    valid_from: datetime | None = Field(
        None, description="when the first version takes effect (default: now)"
    )


class TariffChanges(_In):
    name: str = Field(max_length=200)


class VersionIn(_In):
    document: dict[str, Any] = Field(description="an OCPI 2.2.1 Tariff object")
    valid_from: datetime | None = Field(
        None,
        description="in force from (default: now) until the next version's valid_from; "
        "sessions are priced by the version in force when they started",
    )


class VersionOut(BaseModel):
    id: int
    tariff_id: int
    version: int
    valid_from: datetime
    created_at: datetime
    document: dict[str, Any] = Field(description="the OCPI 2.2.1 Tariff, numbers as strings")
    description: str = Field(description="the tariff in words, prices incl. VAT")

    @classmethod
    def of(cls, row: TariffVersion) -> VersionOut:
        return cls(
            id=row.id,
            tariff_id=row.tariff_id,
            version=row.version,
            valid_from=row.valid_from,
            created_at=row.created_at,
            document=row.document,
            description=describe_tariff(parse_tariff(row.document)),
        )


class AssignmentIn(_In):
    scope: Literal["connector", "station", "site", "default"] = Field(
        description="connector (station_id + evse_id), station, site or default (network)"
    )
    site_id: int | None = None
    station_id: str | None = None
    evse_id: int | None = Field(None, description="the EVSE (1.6: the connector number)")
    organization_id: int | None = Field(
        None, description="only for this organization's cards and members (a customer group)"
    )
    plan: str | None = Field(
        None, description="only for drivers on this subscription plan (plans come later)"
    )
    valid_from: datetime | None = Field(None, description="default: now")


class AssignmentOut(BaseModel):
    id: int
    tariff_id: int
    scope: str
    site_id: int | None
    station_id: str | None
    evse_id: int | None
    organization_id: int | None
    plan: str | None
    valid_from: datetime
    removed_at: datetime | None

    @classmethod
    def of(cls, row: TariffAssignment) -> AssignmentOut:
        return cls(
            id=row.id,
            tariff_id=row.tariff_id,
            scope=row.scope,
            site_id=row.site_id,
            station_id=row.station_id,
            evse_id=row.evse_id,
            organization_id=row.organization_id,
            plan=row.plan,
            valid_from=row.valid_from,
            removed_at=row.removed_at,
        )


class TariffOut(BaseModel):
    id: int
    name: str
    currency: str
    created_at: datetime
    updated_at: datetime
    versions: int = Field(description="how many versions it has")
    version_in_force: VersionOut | None = Field(description="the version in force now, if any")
    assignments: list[AssignmentOut] = Field(description="where it is assigned now")

    @classmethod
    def of(
        cls,
        row: Tariff,
        versions: int,
        in_force: TariffVersion | None,
        assignments: list[TariffAssignment],
    ) -> TariffOut:
        return cls(
            id=row.id,
            name=row.name,
            currency=row.currency,
            created_at=row.created_at,
            updated_at=row.updated_at,
            versions=versions,
            version_in_force=VersionOut.of(in_force) if in_force is not None else None,
            assignments=[AssignmentOut.of(a) for a in assignments],
        )


# --------------------------------------------------------------------------- prices


class MoneyOut(BaseModel):
    excl_vat: Decimal
    incl_vat: Decimal | None


class TariffRef(BaseModel):
    id: int
    name: str
    currency: str
    version: int
    version_id: int
    valid_from: datetime


class ComponentOut(BaseModel):
    element: int = Field(description="index of the tariff element (the first that holds wins)")
    type: str = Field(description="ENERGY, TIME (charging), PARKING_TIME or FLAT")
    unit: str = Field(description="what the price is per: kWh, hour or session")
    price_excl_vat: Decimal
    price_incl_vat: Decimal
    vat: Decimal | None = Field(description="percent; null: no VAT applies (not 0 %)")
    step_size: int = Field(description="billed per this many Wh (ENERGY) or seconds (time)")
    restrictions: dict[str, Any] | None = Field(description="when the element applies")


class PriceOut(BaseModel):
    station_id: str
    evse_id: int | None
    organization_id: int | None = Field(description="whose price this is (null: everyone's)")
    at: datetime
    tariff: TariffRef
    assigned: AssignmentOut = Field(description="the assignment that chose the tariff")
    description: str = Field(description="in words, prices incl. VAT")
    description_excl_vat: str
    components: list[ComponentOut]
    min_price: MoneyOut | None
    max_price: MoneyOut | None
    document: dict[str, Any] = Field(description="the OCPI 2.2.1 Tariff in force")


def money(price: Price | None) -> MoneyOut | None:
    return None if price is None else MoneyOut(excl_vat=price.excl_vat, incl_vat=price.incl_vat)


def unit_of(kind: DimensionType) -> str:
    return _UNITS[kind]


class QuoteIn(_In):
    energy_kwh: Decimal = Field(gt=0, le=1000, description="energy to charge")
    evse_id: int | None = Field(None, ge=1, description="the EVSE (1.6: the connector number)")
    power_kw: Decimal | None = Field(
        None,
        gt=0,
        le=1000,
        description="charging power; default: the EVSE's maximum when the station reported "
        "it, else 11 kW",
    )
    start: datetime | None = Field(
        None, description="default: now; without an offset it is local time at the site"
    )
    idle_minutes: int = Field(
        0, ge=0, le=10080, description="minutes connected after charging (parking)"
    )
    organization_id: int | None = Field(
        None, description="price for this organization (tariff managers only)"
    )


class TotalOut(BaseModel):
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal


class QuoteOut(BaseModel):
    station_id: str
    evse_id: int | None
    organization_id: int | None
    tariff: TariffRef
    time_zone: str
    start: datetime
    end: datetime
    energy_wh: int
    power_kw: Decimal
    power_source: str = Field(description="request, station (its reported maximum) or default")
    charging_s: Decimal
    parking_s: Decimal
    currency: str
    total: TotalOut
    min_price_applied: bool
    max_price_applied: bool
    lines: list[dict[str, Any]]
    periods: list[dict[str, Any]]
    dimensions: list[dict[str, Any]]
    description: str


class PreviewIn(_In):
    """A draft tariff and a session to price by it, as the tariff editor's preview asks."""

    document: dict[str, Any] = Field(description="an OCPI 2.2.1 Tariff object (a draft)")
    time_zone: str = Field(
        "UTC",
        description="IANA zone the session happens in (the site's): local-time "
        "restrictions are read in it",
    )
    start: datetime | None = Field(
        None,
        description="when charging starts; without an offset it is wall-clock time in "
        "time_zone. Default: now. Or give weekday and time instead",
    )
    weekday: DayOfWeek | None = Field(
        None, description="with time: the coming such day (today if it is that day)"
    )
    time: time_of_day | None = Field(None, description="with weekday: local time of day, HH:MM")
    charging_minutes: int = Field(ge=0, le=10080, description="minutes charging")
    energy_kwh: Decimal = Field(
        ge=0, le=1000, description="energy charged, evenly over the charging minutes"
    )
    idle_minutes: int = Field(
        0, ge=0, le=10080, description="minutes connected after charging (parking)"
    )


class PreviewOut(BaseModel):
    time_zone: str
    start: datetime
    end: datetime
    energy_wh: int
    power_kw: Decimal = Field(description="mean charging power: energy over charging time")
    charging_s: Decimal
    parking_s: Decimal
    currency: str
    total: TotalOut
    min_price_applied: bool
    max_price_applied: bool
    lines: list[dict[str, Any]]
    periods: list[dict[str, Any]]
    dimensions: list[dict[str, Any]]
    description: str = Field(description="the draft in words, prices incl. VAT")


# --------------------------------------------------------------------------- revenue


class RevenueDayOut(BaseModel):
    day: date = Field(description="the local day (in time_zone) the sessions ended")
    currency: str | None = Field(description="null: sessions no tariff priced")
    sessions: int = Field(description="sessions that ended that day (credits not counted)")
    energy_wh: int
    excl_vat: Decimal = Field(description="net of credits")
    vat: Decimal
    incl_vat: Decimal

    @classmethod
    def of(cls, row: DayRevenue) -> RevenueDayOut:
        return cls.model_validate(row, from_attributes=True)


class RevenueTotalOut(BaseModel):
    currency: str | None
    sessions: int
    energy_wh: int
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal

    @classmethod
    def of(cls, row: CurrencyTotal) -> RevenueTotalOut:
        return cls.model_validate(row, from_attributes=True)


class RevenueOut(BaseModel):
    since: date
    until: date = Field(description="the last day, included")
    time_zone: str
    days: list[RevenueDayOut] = Field(
        description="per local day and currency, days with CDRs only, oldest first"
    )
    totals: list[RevenueTotalOut] = Field(description="per currency over the range")


# --------------------------------------------------------------------------- CDRs


class CreditIn(_In):
    reason: str = Field(min_length=1, max_length=2000)


class CdrOut(BaseModel):
    id: int
    kind: str = Field(description="original, or credit (cancels credits_cdr_id)")
    credits_cdr_id: int | None
    reason: str | None = Field(description="why a credit was issued")
    session_id: int
    station_id: str
    evse_id: int
    connector_id: int
    transaction_id: str | None
    id_tag: str | None
    organization_id: int | None = Field(description="the token's organization when rated")
    user_id: int | None = Field(description="the token's owner when rated")
    tariff_id: int | None
    tariff_name: str | None
    tariff_version: int | None
    tariff_version_id: int | None
    unpriced: bool = Field(description="no tariff applied: amounts are 0 and currency null")
    currency: str | None
    time_zone: str
    started_at: datetime
    ended_at: datetime
    energy_wh: int
    charging_s: Decimal
    parking_s: Decimal
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    has_signed_meter_data: bool = Field(
        description="whether the charger sent signed meter data (see the CDR's detail)"
    )
    billing: str | None = Field(
        description="how it is invoiced: session (a receipt), monthly, or none (unpriced "
        "or free); null for CDRs made before invoicing existed"
    )
    created_at: datetime

    @classmethod
    def fields_of(cls, row: Cdr) -> dict[str, Any]:
        return {
            "id": row.id,
            "kind": row.kind,
            "credits_cdr_id": row.credits_cdr_id,
            "reason": row.reason,
            "session_id": row.session_id,
            "station_id": row.station_id,
            "evse_id": row.evse_id,
            "connector_id": row.connector_id,
            "transaction_id": row.transaction_id,
            "id_tag": row.id_tag,
            "organization_id": row.organization_id,
            "user_id": row.user_id,
            "tariff_id": row.tariff_id,
            "tariff_name": row.tariff_name,
            "tariff_version": row.tariff_version,
            "tariff_version_id": row.tariff_version_id,
            "unpriced": row.unpriced,
            "currency": row.currency,
            "time_zone": row.time_zone,
            "started_at": row.started_at,
            "ended_at": row.ended_at,
            "energy_wh": row.energy_wh,
            "charging_s": row.charging_s,
            "parking_s": row.parking_s,
            "total_excl_vat": row.total_excl_vat,
            "total_vat": row.total_incl_vat - row.total_excl_vat,
            "total_incl_vat": row.total_incl_vat,
            "billing": row.billing,
            "has_signed_meter_data": bool(row.signed_meter_data),
            "created_at": row.created_at,
        }

    @classmethod
    def of(cls, row: Cdr) -> CdrOut:
        return cls(**cls.fields_of(row))


class CdrDetail(CdrOut):
    periods: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    summary: dict[str, Any]
    signed_meter_data: list[dict[str, Any]] | None = Field(
        description="signed meter values (OCMF...) exactly as the charger sent them"
    )

    @classmethod
    def of(cls, row: Cdr) -> CdrDetail:
        return cls(
            **cls.fields_of(row),
            periods=row.periods,
            lines=row.lines,
            summary=row.summary,
            signed_meter_data=row.signed_meter_data,
        )
