"""Units: chargers send text in many units; we keep exact decimals in base units."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chargeops.core.errors import InvalidInput
from chargeops.core.units import energy_wh, parse_decimal, to_base


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12.345", Decimal("12.345")),
        ("0", Decimal("0")),
        ("-3.5", Decimal("-3.5")),
        (" 42 ", Decimal("42")),
        ("1e3", Decimal("1000")),
        ("0.1", Decimal("0.1")),
    ],
)
def test_parse_decimal_reads_numbers_exactly(text: str, value: Decimal) -> None:
    assert parse_decimal(text) == value


def test_parse_decimal_keeps_the_digits_sent() -> None:
    """No float on the way: 0.1 stays 0.1, not 0.1000000000000000055511151231257827."""
    assert str(parse_decimal("0.1")) == "0.1"


@pytest.mark.parametrize(
    "text",
    ["abc", "", "   ", "12,5", "1.2.3", "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf"],
)
def test_parse_decimal_rejects_what_is_not_a_finite_number(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_decimal(text)


@pytest.mark.parametrize(
    ("value", "unit", "expected", "base"),
    [
        ("12.345", "kWh", "12345", "Wh"),
        ("1.5", "kWh", "1500", "Wh"),
        ("0.0005", "kWh", "0.5", "Wh"),
        ("7.4", "kW", "7400", "W"),
        ("22", "kVA", "22000", "VA"),
        ("1.25", "kvar", "1250", "var"),
        ("2", "kvarh", "2000", "varh"),
        ("123", "Wh", "123", "Wh"),
        ("16.5", "A", "16.5", "A"),
        ("230", "V", "230", "V"),
        ("55", "Percent", "55", "Percent"),
    ],
)
def test_to_base_converts_kilo_units_and_leaves_others(
    value: str, unit: str, expected: str, base: str
) -> None:
    converted, converted_unit = to_base(Decimal(value), unit)

    assert converted == Decimal(expected)
    assert converted_unit == base


@pytest.mark.parametrize(("value", "text"), [("1.5", "1500"), ("12.345", "12345"), ("2", "2000")])
def test_a_whole_result_prints_as_a_plain_integer(value: str, text: str) -> None:
    """1.5 kWh prints as 1500, not 1.5E+3 nor 1500.0 (it ends up in CSVs and the API)."""
    converted, _ = to_base(Decimal(value), "kWh")

    assert str(converted) == text


def test_to_base_copes_with_very_large_values() -> None:
    converted, unit = to_base(Decimal("1e30"), "kWh")

    assert converted == Decimal("1e33")
    assert unit == "Wh"


@pytest.mark.parametrize(
    ("value", "unit", "wh"),
    [
        ("12.345", "kWh", 12345),
        ("12.3454", "kWh", 12345),
        ("12.3455", "kWh", 12346),  # half a Wh rounds up
        ("0.4", "Wh", 0),
        ("0.5", "Wh", 1),
        ("2.5", "Wh", 3),  # not banker's rounding
        ("1500", "Wh", 1500),
    ],
)
def test_energy_wh_gives_whole_wh_rounding_half_up(value: str, unit: str, wh: int) -> None:
    result = energy_wh(Decimal(value), unit)

    assert result == wh
    assert type(result) is int


@pytest.mark.parametrize("unit", ["W", "kW", "varh", "kvarh", "A"])
def test_energy_wh_refuses_what_is_not_active_energy(unit: str) -> None:
    with pytest.raises(InvalidInput):
        energy_wh(Decimal("1"), unit)
