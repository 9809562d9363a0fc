"""Tariffs read from OCPI 2.2.1 JSON and written back: nothing lost, bad input named."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from chargeops.billing import (
    DayOfWeek,
    DimensionType,
    Price,
    PriceComponent,
    ReservationRestriction,
    Restrictions,
    Tariff,
    TariffElement,
    TariffType,
    minor_unit,
    parse_tariff,
    to_ocpi,
)
from chargeops.core.errors import InvalidInput

# Every field OCPI 2.2.1 defines for a Tariff, its elements and restrictions.
FULL = """
{
  "country_code": "DE",
  "party_id": "CHO",
  "id": "ac-22-2026",
  "currency": "EUR",
  "type": "AD_HOC_PAYMENT",
  "tariff_alt_text": [
    {"language": "en", "text": "0.39 EUR/kWh, idle fee after 60 min"},
    {"language": "de", "text": "0,39 EUR/kWh, Blockiergebühr ab 60 Min"}
  ],
  "tariff_alt_url": "https://example.com/prices",
  "min_price": {"excl_vat": 1.00, "incl_vat": 1.19},
  "max_price": {"excl_vat": 60.00},
  "elements": [
    {
      "price_components": [
        {"type": "FLAT", "price": 2.00, "vat": 20.0, "step_size": 1},
        {"type": "TIME", "price": 5.00, "vat": 20.0, "step_size": 300}
      ],
      "restrictions": {"reservation": "RESERVATION"}
    },
    {
      "price_components": [{"type": "ENERGY", "price": 0.49, "vat": 19.0, "step_size": 1}],
      "restrictions": {
        "start_time": "18:00",
        "end_time": "08:00",
        "start_date": "2026-01-01",
        "end_date": "2026-07-01",
        "day_of_week": ["SATURDAY", "SUNDAY"],
        "min_kwh": 0.5,
        "max_kwh": 80,
        "min_current": 16,
        "max_current": 500,
        "min_power": 50.5,
        "max_power": 350,
        "min_duration": 0,
        "max_duration": 86400
      }
    },
    {
      "price_components": [
        {"type": "ENERGY", "price": 0.39, "vat": 19.0, "step_size": 100},
        {"type": "PARKING_TIME", "price": 6.00, "step_size": 60},
        {"type": "FLAT", "price": 0.35, "vat": 0, "step_size": 0}
      ]
    }
  ],
  "start_date_time": "2026-01-01T00:00:00Z",
  "end_date_time": "2027-01-01T00:00:00Z",
  "energy_mix": {"is_green_energy": true, "supplier_name": "Stadtwerke"},
  "last_updated": "2025-12-15T09:30:00Z"
}
"""


def full() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FULL)
    return data


def test_reads_every_field_as_ocpi_defines_it() -> None:
    t = parse_tariff(full(), version=3)
    assert (t.id, t.version, t.country_code, t.party_id) == ("ac-22-2026", 3, "DE", "CHO")
    assert t.type == TariffType.AD_HOC_PAYMENT
    assert t.min_price == Price(Decimal("1.00"), Decimal("1.19"))
    assert t.max_price == Price(Decimal(60), None)
    assert t.start_date_time == datetime(2026, 1, 1, tzinfo=UTC)
    assert t.tariff_alt_text[1].language == "de"
    assert t.energy_mix == {"is_green_energy": True, "supplier_name": "Stadtwerke"}
    reservation, night, default = t.elements
    assert reservation.restrictions == Restrictions(reservation=ReservationRestriction.RESERVATION)
    assert night.restrictions == Restrictions(
        start_time=time(18, 0),
        end_time=time(8, 0),
        start_date=date(2026, 1, 1),
        end_date=date(2026, 7, 1),
        min_kwh=Decimal("0.5"),
        max_kwh=Decimal(80),
        min_current=Decimal(16),
        max_current=Decimal(500),
        min_power=Decimal("50.5"),
        max_power=Decimal(350),
        min_duration=0,
        max_duration=86400,
        day_of_week=(DayOfWeek.SATURDAY, DayOfWeek.SUNDAY),
    )
    assert default.restrictions is None
    assert default.price_components == (
        PriceComponent(DimensionType.ENERGY, Decimal("0.39"), 100, Decimal(19)),
        PriceComponent(DimensionType.PARKING_TIME, Decimal(6), 60, None),
        PriceComponent(DimensionType.FLAT, Decimal("0.35"), 0, Decimal(0)),
    )


def test_round_trip_through_ocpi_keeps_the_tariff() -> None:
    t = parse_tariff(full(), version=3)
    again = parse_tariff(to_ocpi(t), version=3)
    assert again == t
    assert hash(again) == hash(t)


def test_round_trip_through_json_text_keeps_every_number_exact() -> None:
    """Decimal out, JSON text, floats in: prices of a few digits survive exactly."""
    t = parse_tariff(full())
    text = json.dumps(to_ocpi(t), default=float)
    assert parse_tariff(json.loads(text)) == t


def test_writing_gives_back_the_ocpi_document() -> None:
    """Read with exact decimals (json parse_float=Decimal) and written back: the same
    document, apart from timestamps, which are always written with milliseconds."""
    data = json.loads(FULL, parse_float=Decimal)
    out = to_ocpi(parse_tariff(data))
    for name in ("start_date_time", "end_date_time", "last_updated"):
        assert out.pop(name).endswith(".000Z")
        data.pop(name)
    assert out == data


def test_numbers_are_read_through_their_text_not_kept_as_float() -> None:
    data = full()
    data["elements"][2]["price_components"][0]["price"] = 0.1
    t = parse_tariff(data)
    assert t.elements[2].price_components[0].price == Decimal("0.1")
    assert str(t.elements[2].price_components[0].price) == "0.1"
    data["elements"][2]["price_components"][0]["price"] = "0.3899"
    assert parse_tariff(data).elements[2].price_components[0].price == Decimal("0.3899")


def test_absent_vat_stays_absent_and_zero_stays_zero() -> None:
    t = parse_tariff(full())
    parking, flat = t.elements[2].price_components[1:]
    assert parking.vat is None
    assert flat.vat == Decimal(0)
    written = to_ocpi(t)["elements"][2]["price_components"]
    assert "vat" not in written[1]
    assert written[2]["vat"] == 0


def test_restrictions_none_and_empty_are_kept_apart() -> None:
    data = full()
    data["elements"][2]["restrictions"] = {}
    t = parse_tariff(data)
    assert t.elements[2].restrictions == Restrictions()
    assert to_ocpi(t)["elements"][2]["restrictions"] == {}


def test_a_minimal_internal_tariff_needs_only_currency_and_elements() -> None:
    t = parse_tariff(
        {
            "currency": "EUR",
            "elements": [{"price_components": [{"type": "FLAT", "price": 0, "step_size": 1}]}],
        }
    )
    assert t.id is None and t.version is None and t.last_updated is None
    assert to_ocpi(t) == {
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "FLAT", "price": Decimal(0), "step_size": 1}]}],
    }


def mutate(path: str, value: Any) -> dict[str, Any]:
    """The full document with one field set (``value=...`` deletes it)."""
    data = copy.deepcopy(full())
    node: Any = data
    keys: list[str | int] = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        node = node[key]
    if value is ...:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("currency", "euro", "currency: not an ISO 4217 code"),
        ("currency", ..., "currency: required"),
        ("elements", [], "elements: needs at least one"),
        ("elements", ..., "elements: must be a list"),
        ("elements.0.price_components", [], "elements[0].price_components: needs at least one"),
        (
            "elements.2.price_components.0.price",
            "abc",
            "elements[2].price_components[0].price: not a number",
        ),
        (
            "elements.2.price_components.0.price",
            -0.1,
            "elements[2].price_components[0].price: must not be negative",
        ),
        (
            "elements.2.price_components.0.price",
            True,
            "elements[2].price_components[0].price: must be a number",
        ),
        ("elements.2.price_components.0.price", float("nan"), "not a finite number"),
        (
            "elements.2.price_components.0.type",
            "KWH",
            "elements[2].price_components[0].type: 'KWH' is not one of",
        ),
        (
            "elements.2.price_components.0.step_size",
            1.5,
            "elements[2].price_components[0].step_size: must be a whole number",
        ),
        (
            "elements.2.price_components.0.step_size",
            ...,
            "elements[2].price_components[0].step_size: required",
        ),
        (
            "elements.2.price_components.0.vat",
            -1,
            "elements[2].price_components[0].vat: must not be negative",
        ),
        (
            "elements.2.price_components.0.stepsize",
            5,
            "elements[2].price_components[0].stepsize: unknown field",
        ),
        (
            "elements.1.restrictions.start_time",
            "24:00",
            "elements[1].restrictions.start_time: '24:00' is not a time of day",
        ),
        ("elements.1.restrictions.end_time", "8:00", "elements[1].restrictions.end_time"),
        (
            "elements.1.restrictions.start_date",
            "2026-02-30",
            "elements[1].restrictions.start_date: '2026-02-30' is not a date",
        ),
        ("elements.1.restrictions.end_date", "01.07.2026", "elements[1].restrictions.end_date"),
        (
            "elements.1.restrictions.day_of_week",
            ["SATURDAY", "Sunday"],
            "elements[1].restrictions.day_of_week[1]: 'Sunday' is not one of",
        ),
        (
            "elements.1.restrictions.day_of_week",
            "SATURDAY",
            "elements[1].restrictions.day_of_week: must be a list",
        ),
        (
            "elements.1.restrictions.day_of_week",
            ["SUNDAY", "SUNDAY"],
            "elements[1].restrictions.day_of_week: repeats a day",
        ),
        (
            "elements.1.restrictions.min_kwh",
            90,
            "elements[1].restrictions.min_kwh: must be below max_kwh",
        ),
        (
            "elements.1.restrictions.min_power",
            400,
            "elements[1].restrictions.min_power: must be below max_power",
        ),
        (
            "elements.1.restrictions.min_duration",
            86400,
            "elements[1].restrictions.min_duration: must be below max_duration",
        ),
        (
            "elements.1.restrictions.start_date",
            "2026-07-01",
            "elements[1].restrictions.start_date: must be below end_date",
        ),
        (
            "elements.1.restrictions.min_duration",
            -5,
            "elements[1].restrictions.min_duration: must not be negative",
        ),
        ("elements.1.restrictions.max_kw", 5, "elements[1].restrictions.max_kw: unknown field"),
        (
            "elements.1.restrictions.reservation",
            "YES",
            "elements[1].restrictions.reservation: 'YES' is not one of",
        ),
        ("elements.1.restrictions", [], "elements[1].restrictions: must be an object"),
        (
            "elements.0.price_components.0.type",
            "ENERGY",
            "elements[0].price_components: a reservation element prices FLAT and TIME only",
        ),
        ("min_price", {"excl_vat": 70}, "min_price: is above max_price"),
        ("min_price", {"incl_vat": 1}, "min_price.excl_vat: required"),
        ("max_price", {"excl_vat": 1, "vat": 1}, "max_price.vat: unknown field"),
        ("type", "CHEAP", "type: 'CHEAP' is not one of"),
        ("start_date_time", "yesterday", "start_date_time: not an ISO 8601 timestamp"),
        ("end_date_time", "2025-01-01T00:00:00Z", "start_date_time: must be before end_date_time"),
        ("tariff_alt_text", [{"language": "en"}], "tariff_alt_text[0].text: must be a string"),
        ("energy_mix", "green", "energy_mix: must be an object"),
        ("min_prize", {"excl_vat": 1}, "min_prize: unknown field"),
    ],
)
def test_bad_input_is_refused_naming_the_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_tariff(mutate(path, value))
    assert message in raised.value.detail


def test_not_an_object_at_all() -> None:
    with pytest.raises(InvalidInput, match="tariff: must be an object"):
        parse_tariff([])


def test_values_built_in_code_are_checked_too() -> None:
    energy = PriceComponent(DimensionType.ENERGY, Decimal("0.30"))
    with pytest.raises(InvalidInput, match="price: must not be negative"):
        PriceComponent(DimensionType.ENERGY, Decimal("-0.30"))
    with pytest.raises(InvalidInput, match="needs at least one"):
        Tariff("EUR", ())
    with pytest.raises(InvalidInput, match="needs a time zone"):
        Tariff("EUR", (TariffElement((energy,)),), last_updated=datetime(2026, 1, 1))


@pytest.mark.parametrize(("currency", "places"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KWD", 3)])
def test_money_is_rounded_to_the_currencys_minor_unit(currency: str, places: int) -> None:
    assert minor_unit(currency) == places
