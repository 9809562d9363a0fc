"""What every OCPP version shares about timestamps and sampled values."""

from __future__ import annotations

from datetime import datetime

from chargeops.core.clock import parse_timestamp
from chargeops.core.errors import InvalidInput
from chargeops.protocol.errors import CallError, ErrorCode

DEFAULT_MEASURAND = "Energy.Active.Import.Register"

# What the spec leaves implicit: a sample without a unit is in the measurand's usual unit.
_UNIT_BY_MEASURAND_PREFIX = (
    ("Energy.Reactive", "varh"),
    ("Energy.Active", "Wh"),
    ("Power.Reactive", "var"),
    ("Power.Factor", ""),
    ("Power", "W"),
    ("Current", "A"),
    ("Voltage", "V"),
    ("SoC", "Percent"),
    ("Temperature", "Celsius"),
    ("Frequency", ""),
    ("RPM", ""),
)


def timestamp(value: str, field: str) -> datetime:
    """Parse a charger's dateTime leniently; a value that is none is a CALLERROR."""
    try:
        return parse_timestamp(value)
    except InvalidInput:
        raise CallError(
            ErrorCode.TYPE_CONSTRAINT_VIOLATION,
            f"{field} is not a dateTime: {value!r}",
            {"field": field},
        ) from None


def default_unit(measurand: str) -> str:
    for prefix, unit in _UNIT_BY_MEASURAND_PREFIX:
        if measurand.startswith(prefix):
            return unit
    return "Wh"
