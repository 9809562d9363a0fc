"""Measurement units: everything is stored in base units (Wh, W, VA, var, varh)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from chargeops.core.errors import InvalidInput

# unit as a charger sends it -> (base unit, factor to reach it)
_TO_BASE: dict[str, tuple[str, Decimal]] = {
    "kWh": ("Wh", Decimal(1000)),
    "kW": ("W", Decimal(1000)),
    "kVA": ("VA", Decimal(1000)),
    "kvar": ("var", Decimal(1000)),
    "kvarh": ("varh", Decimal(1000)),
}

UNITS = frozenset(
    {
        "Wh",
        "kWh",
        "varh",
        "kvarh",
        "W",
        "kW",
        "VA",
        "kVA",
        "var",
        "kvar",
        "A",
        "V",
        "Celsius",
        "Fahrenheit",
        "K",
        "Percent",
        "Hertz",
    }
)


def parse_decimal(text: str) -> Decimal:
    """A decimal value as chargers send it (a string in OCPP 1.6, a number in 2.0.1)."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise InvalidInput(f"not a decimal number: {text!r}") from exc
    if not value.is_finite():
        raise InvalidInput(f"not a finite number: {text!r}")
    return value


def to_base(value: Decimal, unit: str) -> tuple[Decimal, str]:
    """Convert a value to its base unit: ``12.5 kWh`` becomes ``12500 Wh``."""
    base, factor = _TO_BASE.get(unit, (unit, Decimal(1)))
    if factor == 1:
        return value, base
    scaled = value * factor
    # 1.5 kWh is 1500 Wh, not 1.5E+3 or 1500.0
    whole = scaled.to_integral_value()
    plain = whole if scaled == whole else scaled
    return plain, base


def energy_wh(value: Decimal, unit: str) -> int:
    """An energy register value in whole Wh (half-up rounding of a fraction of a Wh)."""
    base_value, base = to_base(value, unit)
    if base != "Wh":
        raise InvalidInput(f"not an active energy unit: {unit}")
    return int(base_value.to_integral_value(rounding="ROUND_HALF_UP"))
