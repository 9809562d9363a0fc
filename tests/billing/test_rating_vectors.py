"""The worked figures of the OCPI 2.2.1 tariff module, reproduced exactly.

Each vector is a tariff as OCPI JSON (parsed the way it arrives: JSON numbers as float),
a session described by what happened (energy, time charging, time parked), and the totals
excl. and incl. VAT the specification states. Only the figures that every edition of the
specification agrees on are here (shared/reference/domain-facts.md); the "switching
element" step_size examples and the Saturday complex example are left out on purpose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from chargeops.billing import (
    ChargingState,
    CostDimension,
    MeterReading,
    SessionUsage,
    StateInterval,
    parse_tariff,
    rate_session,
)

START = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Berlin

ENERGY_025 = {"type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 1}
START_FEE = {"type": "FLAT", "price": 0.50, "vat": 20.0, "step_size": 1}


@dataclass(frozen=True)
class Vector:
    name: str
    tariff: dict[str, Any]
    energy_wh: int
    charging_s: int
    parked_s: int
    excl: str
    incl: str


def tariff(*components: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A one-element tariff as OCPI JSON text would decode it."""
    text = json.dumps(
        {
            "id": "vector",
            "currency": "EUR",
            **fields,
            "elements": [{"price_components": list(components)}],
        }
    )
    decoded: dict[str, Any] = json.loads(text)
    return decoded


VECTORS = [
    Vector(
        "TIME 2.00/h, 10% VAT, step 300 s: 7,103 s charging is billed as 7,200 s",
        tariff({"type": "TIME", "price": 2.00, "vat": 10.0, "step_size": 300}),
        energy_wh=0,
        charging_s=7103,
        parked_s=0,
        excl="4.00",
        incl="4.40",
    ),
    Vector(
        "ENERGY 0.25/kWh, 10% VAT: 20 kWh",
        tariff(ENERGY_025),
        energy_wh=20_000,
        charging_s=3600,
        parked_s=0,
        excl="5.00",
        incl="5.50",
    ),
    Vector(
        "ENERGY 0.25/kWh + FLAT 0.50 start fee at 20% VAT: 20 kWh",
        tariff(START_FEE, ENERGY_025),
        energy_wh=20_000,
        charging_s=3600,
        parked_s=0,
        excl="5.50",
        incl="6.10",
    ),
    Vector(
        "+ PARKING_TIME 2.00/h, step 900 s, 20% VAT: 40 min parked is billed as 45 min",
        tariff(
            START_FEE,
            {"type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 100},
            {"type": "PARKING_TIME", "price": 2.00, "vat": 20.0, "step_size": 900},
        ),
        energy_wh=20_000,
        charging_s=3600,
        parked_s=40 * 60,
        excl="7.00",
        incl="7.90",
    ),
    Vector(
        "max_price 10.00 / 11.00: 50 kWh is capped",
        tariff(START_FEE, ENERGY_025, max_price={"excl_vat": 10.00, "incl_vat": 11.00}),
        energy_wh=50_000,
        charging_s=3 * 3600,
        parked_s=0,
        excl="10.00",
        incl="11.00",
    ),
    Vector(
        "max_price 10.00 / 11.00: 30 kWh stays below the cap",
        tariff(START_FEE, ENERGY_025, max_price={"excl_vat": 10.00, "incl_vat": 11.00}),
        energy_wh=30_000,
        charging_s=2 * 3600,
        parked_s=0,
        excl="8.00",
        incl="8.85",
    ),
    Vector(
        "TIME 3.00/h + PARKING_TIME 5.00/h (step 300 s): 150 min charging + 42 min parked",
        tariff(
            {"type": "TIME", "price": 3.00, "vat": 10.0, "step_size": 60},
            {"type": "PARKING_TIME", "price": 5.00, "vat": 20.0, "step_size": 300},
        ),
        energy_wh=0,
        charging_s=150 * 60,
        parked_s=42 * 60,
        excl="11.25",
        incl="12.75",
    ),
]


def session(energy_wh: int, charging_s: int, parked_s: int) -> SessionUsage:
    """Energy charged evenly while charging, then parked: readings every minute, the way
    a charger sends Sample.Periodic values, the register starting at a non-zero value."""
    charge_end = START + timedelta(seconds=charging_s)
    end = charge_end + timedelta(seconds=parked_s)
    register = 1_234_567
    readings = [
        MeterReading(START + timedelta(seconds=s), register + energy_wh * s // charging_s)
        for s in range(0, charging_s, 60)
    ]
    readings.append(MeterReading(charge_end, register + energy_wh))
    if parked_s:
        readings.append(MeterReading(end, register + energy_wh))
    intervals = [StateInterval(START, charge_end, ChargingState.CHARGING)]
    if parked_s:
        intervals.append(StateInterval(charge_end, end, ChargingState.IDLE))
    return SessionUsage(START, end, "Europe/Berlin", readings, intervals)


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_ocpi_worked_example_costs_what_the_specification_says(vector: Vector) -> None:
    rated = rate_session(
        session(vector.energy_wh, vector.charging_s, vector.parked_s), parse_tariff(vector.tariff)
    )
    assert rated.total.excl_vat == Decimal(vector.excl)
    assert rated.total.incl_vat == Decimal(vector.incl)
    # the figures are stated to the cent, and so are ours
    assert str(rated.total.excl_vat) == vector.excl
    assert str(rated.total.incl_vat) == vector.incl


def test_time_step_bills_the_rounded_up_time_at_the_time_price() -> None:
    rated = rate_session(session(0, 7103, 0), parse_tariff(VECTORS[0].tariff))
    time = rated.dimension(CostDimension.TIME)
    assert time.quantity == Decimal(7103)
    assert time.billed == Decimal(7200)


def test_parking_step_rounds_the_parking_time_only() -> None:
    """TIME and PARKING_TIME are rounded once, together: by the last relevant component,
    here the parking one, so 150 min charging stay 150 and 42 min parked become 45."""
    rated = rate_session(session(0, 150 * 60, 42 * 60), parse_tariff(VECTORS[6].tariff))
    assert rated.dimension(CostDimension.TIME).billed == Decimal(150 * 60)
    assert rated.dimension(CostDimension.PARKING_TIME).billed == Decimal(45 * 60)
    assert rated.dimension(CostDimension.TIME).cost.excl_vat == Decimal("7.50")
    assert rated.dimension(CostDimension.PARKING_TIME).cost.excl_vat == Decimal("3.75")


def test_max_price_caps_both_totals_and_says_so() -> None:
    rated = rate_session(session(50_000, 3 * 3600, 0), parse_tariff(VECTORS[4].tariff))
    assert rated.max_price_applied
    assert rated.total_before_limits.excl_vat == Decimal("13.00")
    assert rated.total_before_limits.incl_vat == Decimal("14.35")
    below = rate_session(session(30_000, 2 * 3600, 0), parse_tariff(VECTORS[5].tariff))
    assert not below.max_price_applied
