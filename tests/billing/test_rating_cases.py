"""Rating, case by case, each figure computed by hand in the test's docstring or comment.

Sessions are at a site in Europe/Berlin; times in names are local wall-clock times.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chargeops.billing import (
    ChargingState,
    CostDimension,
    DimensionType,
    MeterReading,
    PeriodKind,
    RatedSession,
    Reservation,
    SessionUsage,
    StateInterval,
    StatusChange,
    Tariff,
    build_timeline,
    describe_tariff,
    parse_tariff,
    quote,
    rate_session,
    tariff_in_force,
    to_ocpi,
)
from chargeops.core.errors import InvalidInput

BERLIN = ZoneInfo("Europe/Berlin")
ZONE = "Europe/Berlin"


def at(year: int, month: int, day: int, hour: int, minute: int = 0, fold: int = 0) -> datetime:
    """Berlin wall-clock time as an aware UTC instant (fold=1: the second 02:30 of a
    fall-back night)."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold).astimezone(UTC)


def component(kind: str, price: str, step: int = 1, vat: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "price": price, "step_size": step}
    if vat is not None:
        out["vat"] = vat
    return out


def element(*components: dict[str, Any], **restrictions: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"price_components": list(components)}
    if restrictions:
        out["restrictions"] = restrictions
    return out


def tariff(*elements: dict[str, Any], **fields: Any) -> Tariff:
    return parse_tariff({"currency": "EUR", "elements": list(elements), **fields})


def charging(
    start: datetime,
    end: datetime,
    energy_wh: int = 0,
    *,
    idle_from: datetime | None = None,
    reservation: Reservation | None = None,
) -> SessionUsage:
    """Energy charged evenly from start to ``idle_from`` (default: the end), then idle.
    Two readings only: everything between them is interpolated."""
    charge_end = idle_from or end
    readings = [MeterReading(start, 50_000), MeterReading(charge_end, 50_000 + energy_wh)]
    intervals = [StateInterval(start, charge_end, ChargingState.CHARGING)]
    if charge_end < end:
        intervals.append(StateInterval(charge_end, end, ChargingState.IDLE))
    return SessionUsage(start, end, ZONE, readings, intervals, reservation)


def totals(rated: RatedSession) -> tuple[str, str]:
    assert rated.total.incl_vat is not None
    return str(rated.total.excl_vat), str(rated.total.incl_vat)


# --------------------------------------------------------------------------- time of day


def test_energy_price_changes_at_18_00_local_time() -> None:
    """0.30/kWh before 18:00, 0.40 after; 17:30-18:30, 10 kWh evenly:
    5 kWh x 0.30 + 5 kWh x 0.40 = 1.50 + 2.00 = 3.50 (no VAT given: incl. = excl.)."""
    t = tariff(
        element(component("ENERGY", "0.40"), start_time="18:00", end_time="08:00"),
        element(component("ENERGY", "0.30")),
    )
    rated = rate_session(charging(at(2026, 6, 3, 17, 30), at(2026, 6, 3, 18, 30), 10_000), t)
    assert totals(rated) == ("3.50", "3.50")
    first, second = rated.periods
    assert (first.end, first.energy_wh, first.energy_element) == (at(2026, 6, 3, 18), 5000, 1)
    assert (second.start, second.energy_wh, second.energy_element) == (at(2026, 6, 3, 18), 5000, 0)
    assert [d.type for d in first.dimensions] == [DimensionType.ENERGY, DimensionType.TIME]
    assert first.dimensions[0].volume == Decimal(5)


def test_end_time_alone_means_before_that_time() -> None:
    t = tariff(
        element(component("ENERGY", "0.30"), end_time="18:00"),
        element(component("ENERGY", "0.40")),
    )
    rated = rate_session(charging(at(2026, 6, 3, 17, 30), at(2026, 6, 3, 18, 30), 10_000), t)
    assert totals(rated) == ("3.50", "3.50")


@pytest.mark.parametrize(
    ("start", "end", "energy_wh", "expected"),
    [
        # 21:00-22:00 at 0.40, 22:00-23:00 at 0.20: 5 x 0.40 + 5 x 0.20
        ((2026, 6, 3, 21), (2026, 6, 3, 23), 10_000, "3.00"),
        # 05:00-06:00 at 0.20, 06:00-07:00 at 0.40
        ((2026, 6, 4, 5), (2026, 6, 4, 7), 10_000, "3.00"),
        # 23:00-05:00 all inside the night window: 12 x 0.20
        ((2026, 6, 3, 23), (2026, 6, 4, 5), 12_000, "2.40"),
    ],
)
def test_night_window_wraps_midnight(
    start: tuple[int, int, int, int], end: tuple[int, int, int, int], energy_wh: int, expected: str
) -> None:
    """start_time 22:00, end_time 06:00 (end before start) is the night across midnight."""
    t = tariff(
        element(component("ENERGY", "0.20"), start_time="22:00", end_time="06:00"),
        element(component("ENERGY", "0.40")),
    )
    rated = rate_session(charging(at(*start), at(*end), energy_wh), t)
    assert rated.total.excl_vat == Decimal(expected)


def test_day_of_week_changes_at_local_midnight() -> None:
    """Weekend 1.00/h, otherwise 2.00/h; Friday 23:00 to Saturday 01:00 local:
    1 h x 2.00 + 1 h x 1.00 = 3.00."""
    t = tariff(
        element(component("TIME", "1.00"), day_of_week=["SATURDAY", "SUNDAY"]),
        element(component("TIME", "2.00")),
    )
    rated = rate_session(charging(at(2026, 6, 5, 23), at(2026, 6, 6, 1)), t)
    assert rated.total.excl_vat == Decimal("3.00")
    assert [p.time_element for p in rated.periods] == [1, 0]
    assert rated.periods[0].end == at(2026, 6, 6, 0)


def test_start_and_end_dates_are_local_inclusive_and_exclusive() -> None:
    """A promotion valid 2026-06-06 (inclusive) to 2026-06-07 (exclusive): 0.10 instead of
    0.40 per kWh. 22:00 on the 5th to 02:00 on the 7th, 1 kWh per hour for 28 h:
    2 h before (0.80) + 24 h promotion (2.40) + 2 h after (0.80) = 4.00."""
    t = tariff(
        element(component("ENERGY", "0.10"), start_date="2026-06-06", end_date="2026-06-07"),
        element(component("ENERGY", "0.40")),
    )
    rated = rate_session(charging(at(2026, 6, 5, 22), at(2026, 6, 7, 2), 28_000), t)
    assert rated.total.excl_vat == Decimal("4.00")


# --------------------------------------------------------------------------- DST


def night_and_day() -> Tariff:
    return tariff(
        element(component("TIME", "2.00"), start_time="22:00", end_time="06:00"),
        element(component("TIME", "3.00")),
    )


def test_spring_forward_night_is_an_hour_shorter() -> None:
    """Sat 2026-03-28 21:00 CET to Sun 07:00 CEST is 9 real hours. The night 22:00-06:00
    lasts 7 of them (02:00 never happens): 7 x 2.00 + 2 x 3.00 = 20.00."""
    start, end = at(2026, 3, 28, 21), at(2026, 3, 29, 7)
    assert end - start == timedelta(hours=9)
    rated = rate_session(charging(start, end), night_and_day())
    assert rated.total.excl_vat == Decimal("20.00")
    assert rated.charging_s == Decimal(9 * 3600)


def test_fall_back_night_is_an_hour_longer() -> None:
    """Sat 2026-10-24 21:00 CEST to Sun 07:00 CET is 11 real hours, 9 of them night:
    9 x 2.00 + 2 x 3.00 = 24.00."""
    start, end = at(2026, 10, 24, 21), at(2026, 10, 25, 7)
    assert end - start == timedelta(hours=11)
    rated = rate_session(charging(start, end), night_and_day())
    assert rated.total.excl_vat == Decimal("24.00")


def half_past_two() -> Tariff:
    return tariff(element(component("TIME", "6.00"), start_time="02:30", end_time="03:30"))


def test_a_window_inside_the_skipped_hour_starts_when_the_clock_jumps() -> None:
    """On 2026-03-29 the local clock goes from 02:00 to 03:00. 02:30-03:30 then exists
    only as 03:00-03:30 CEST: 0.5 h x 6.00 = 3.00."""
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    rated = rate_session(charging(start, start + timedelta(hours=3)), half_past_two())
    assert rated.total.excl_vat == Decimal("3.00")
    priced = [p for p in rated.periods if p.time_element is not None]
    assert [(p.start, p.end) for p in priced] == [
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, tzinfo=UTC))
    ]


def test_a_window_inside_the_repeated_hour_counts_twice() -> None:
    """On 2026-10-25 the local clock goes from 03:00 CEST back to 02:00 CET. 02:30-03:30
    happens as 02:30-03:00 CEST and again as 02:30-03:30 CET: 1.5 h x 6.00 = 9.00."""
    start = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 02:00 CEST
    rated = rate_session(charging(start, start + timedelta(hours=3)), half_past_two())
    assert rated.total.excl_vat == Decimal("9.00")
    priced = [(p.start, p.end) for p in rated.periods if p.time_element is not None]
    utc = [(p[0].strftime("%H:%M"), p[1].strftime("%H:%M")) for p in priced]
    # 02:30 CEST is 00:30 UTC; the clock turns back at 01:00 UTC; 02:30 CET is 01:30 UTC
    assert utc == [("00:30", "01:00"), ("01:30", "02:30")]
    assert priced[1][0] == at(2026, 10, 25, 2, 30, fold=1)


@pytest.mark.parametrize(("sunday", "hours"), [((2026, 3, 29), 23), ((2026, 10, 25), 25)])
def test_a_dst_sunday_has_23_or_25_hours(sunday: tuple[int, int, int], hours: int) -> None:
    """1.00 per hour on Sundays only, a session from Saturday 23:00 to Monday 01:00."""
    t = tariff(element(component("TIME", "1.00"), day_of_week=["SUNDAY"]))
    day = date(*sunday)
    start = at(day.year, day.month, day.day - 1, 23)
    end = at(day.year, day.month, day.day + 1, 1)
    rated = rate_session(charging(start, end), t)
    assert rated.total.excl_vat == Decimal(hours)


# --------------------------------------------------------------------------- step_size


def test_time_step_of_300_s_bills_started_5_minutes() -> None:
    """6.00/h billed per 5 min: 61 min becomes 65 min = 6.50."""
    t = tariff(element(component("TIME", "6.00", step=300)))
    start = at(2026, 6, 3, 10)
    rated = rate_session(charging(start, start + timedelta(minutes=61)), t)
    assert rated.total.excl_vat == Decimal("6.50")
    assert rated.dimension(CostDimension.TIME).billed == Decimal(65 * 60)


def test_energy_step_of_1000_wh_bills_started_kwh() -> None:
    """0.30/kWh billed per kWh: 12.3 kWh becomes 13 kWh = 3.90."""
    t = tariff(element(component("ENERGY", "0.30", step=1000)))
    start = at(2026, 6, 3, 10)
    rated = rate_session(charging(start, start + timedelta(hours=1), 12_300), t)
    assert rated.total.excl_vat == Decimal("3.90")
    assert rated.dimension(CostDimension.ENERGY).billed == Decimal(13_000)


def test_step_size_of_the_last_relevant_component_rounds_the_session_total() -> None:
    """0.40/kWh (step 1 Wh) before 18:00, 0.30/kWh (step 1000 Wh) after; 17:30-18:30,
    5.1 kWh evenly. Total 5,100 Wh rounded by the last component to 6,000 Wh; the extra
    900 Wh at that component's price: 2.55 x 0.40 + 3.45 x 0.30 = 1.02 + 1.035 = 2.055,
    rounded once, half up: 2.06."""
    t = tariff(
        element(component("ENERGY", "0.40"), end_time="18:00"),
        element(component("ENERGY", "0.30", step=1000)),
    )
    rated = rate_session(charging(at(2026, 6, 3, 17, 30), at(2026, 6, 3, 18, 30), 5_100), t)
    assert rated.exact_excl == Decimal("2.055")
    assert rated.total.excl_vat == Decimal("2.06")
    lines = {(line.element, line.quantity, line.billed) for line in rated.lines}
    assert lines == {(0, Decimal(2550), Decimal(2550)), (1, Decimal(2550), Decimal(3450))}


# --------------------------------------------------------------------------- min / max price


def test_min_price_lifts_a_small_session_excl_and_incl() -> None:
    """OCPI's example: 0.25/kWh, 10 % VAT, min_price 0.50 / 0.55. 1 kWh would be
    0.25 / 0.275: billed 0.50 / 0.55. 3 kWh is 0.75 / 0.825 -> 0.83: no minimum."""
    t = tariff(
        element(component("ENERGY", "0.25", vat="10")),
        min_price={"excl_vat": "0.50", "incl_vat": "0.55"},
    )
    start = at(2026, 6, 3, 10)
    small = rate_session(charging(start, start + timedelta(minutes=10), 1_000), t)
    assert totals(small) == ("0.50", "0.55")
    assert small.min_price_applied
    assert small.total_before_limits.excl_vat == Decimal("0.25")
    larger = rate_session(charging(start, start + timedelta(minutes=30), 3_000), t)
    assert totals(larger) == ("0.75", "0.83")
    assert not larger.min_price_applied


def test_min_price_excl_only_lifts_incl_in_proportion() -> None:
    """min_price 0.50 excl. VAT, no incl. figure: 1 kWh at 0.25 + 10 % becomes 0.50 and
    0.275 x 0.50 / 0.25 = 0.55 incl."""
    t = tariff(element(component("ENERGY", "0.25", vat="10")), min_price={"excl_vat": "0.50"})
    start = at(2026, 6, 3, 10)
    rated = rate_session(charging(start, start + timedelta(minutes=10), 1_000), t)
    assert totals(rated) == ("0.50", "0.55")


def test_max_price_excl_only_caps_incl_in_proportion() -> None:
    """max_price 10.00 excl. only; 0.50 start fee (20 %) + 50 kWh at 0.25 (10 %) is 13.00 /
    14.35: capped to 10.00 and 14.35 x 10 / 13 = 11.0385 -> 11.04."""
    t = tariff(
        element(component("FLAT", "0.50", vat="20"), component("ENERGY", "0.25", vat="10")),
        max_price={"excl_vat": "10.00"},
    )
    start = at(2026, 6, 3, 10)
    rated = rate_session(charging(start, start + timedelta(hours=2), 50_000), t)
    assert totals(rated) == ("10.00", "11.04")
    assert rated.max_price_applied


# --------------------------------------------------------------------------- idle fees


def test_idle_fee_after_the_session_has_lasted_an_hour() -> None:
    """0.39/kWh and 0.10/min (6.00/h) parking from 60 minutes into the session, 19 % VAT.
    45 min charging 11 kWh, then 45 min idle: parking is billed from minute 60 to 90.
    11 x 0.39 + 0.5 h x 6.00 = 4.29 + 3.00 = 7.29; x 1.19 = 8.6751 -> 8.68."""
    t = tariff(
        element(component("ENERGY", "0.39", vat="19")),
        element(component("PARKING_TIME", "6.00", vat="19"), min_duration=3600),
    )
    start = at(2026, 6, 3, 10)
    rated = rate_session(
        charging(
            start, start + timedelta(minutes=90), 11_000, idle_from=start + timedelta(minutes=45)
        ),
        t,
    )
    assert totals(rated) == ("7.29", "8.68")
    assert rated.parking_s == Decimal(45 * 60)
    assert rated.dimension(CostDimension.PARKING_TIME).billed == Decimal(30 * 60)
    kinds = [(p.kind, p.time_element) for p in rated.periods]
    assert kinds == [
        (PeriodKind.CHARGING, None),
        (PeriodKind.IDLE, None),
        (PeriodKind.IDLE, 1),
    ]


def test_energy_while_idle_is_still_energy_and_parking_is_not_charging_time() -> None:
    """Idle stretches are PARKING_TIME, not TIME; what little energy flows is priced."""
    t = tariff(
        element(
            component("ENERGY", "0.50"),
            component("TIME", "1.00"),
            component("PARKING_TIME", "9.00"),
        )
    )
    start = at(2026, 6, 3, 10)
    usage = SessionUsage(
        start,
        start + timedelta(hours=2),
        ZONE,
        [MeterReading(start, 0), MeterReading(start + timedelta(hours=2), 2_000)],
        [
            StateInterval(start, start + timedelta(hours=1), ChargingState.CHARGING),
            StateInterval(
                start + timedelta(hours=1), start + timedelta(hours=2), ChargingState.IDLE
            ),
        ],
    )
    rated = rate_session(usage, t)
    # 2 kWh x 0.50 + 1 h x 1.00 + 1 h x 9.00
    assert rated.total.excl_vat == Decimal("11.00")
    assert rated.charging_s == rated.parking_s == Decimal(3600)


# --------------------------------------------------------------------------- VAT


def test_vat_is_applied_to_the_exact_amount_and_rounded_once() -> None:
    """0.3899/kWh, 19 % VAT, 7.5 kWh: 2.92425 excl. -> 2.92; incl. 3.4798575 -> 3.48.
    Rounding excl. first and adding VAT to 2.92 would give 3.47."""
    t = tariff(element(component("ENERGY", "0.3899", vat="19")))
    start = at(2026, 6, 3, 10)
    rated = rate_session(charging(start, start + timedelta(hours=1), 7_500), t)
    assert totals(rated) == ("2.92", "3.48")
    assert rated.exact_incl == Decimal("3.4798575")


def test_lines_are_rounded_for_display_but_the_total_once() -> None:
    """0.005 start fee + 0.005/kWh x 1 kWh: each line shows 0.01, the total is 0.01."""
    t = tariff(element(component("FLAT", "0.005"), component("ENERGY", "0.005")))
    start = at(2026, 6, 3, 10)
    rated = rate_session(charging(start, start + timedelta(hours=1), 1_000), t)
    assert [line.cost.excl_vat for line in rated.lines] == [Decimal("0.01"), Decimal("0.01")]
    assert rated.total.excl_vat == Decimal("0.01")
    assert "ROUND_HALF_UP" in rated.rounding


def test_vat_per_component() -> None:
    """0.50 start fee at 20 %, 10 kWh at 0.25 with 10 %: 3.00 excl., 0.60 + 2.75 = 3.35."""
    t = tariff(element(component("FLAT", "0.50", vat="20"), component("ENERGY", "0.25", vat="10")))
    start = at(2026, 6, 3, 10)
    rated = rate_session(charging(start, start + timedelta(hours=1), 10_000), t)
    assert totals(rated) == ("3.00", "3.35")


def test_absent_vat_is_not_zero_percent() -> None:
    """Both cost 3.00 incl. VAT, but one line says no VAT applies and the other 0 %."""
    no_vat = tariff(element(component("ENERGY", "0.30")))
    zero = tariff(element(component("ENERGY", "0.30", vat="0")))
    start = at(2026, 6, 3, 10)
    usage = charging(start, start + timedelta(hours=1), 10_000)
    a, b = rate_session(usage, no_vat), rate_session(usage, zero)
    assert totals(a) == totals(b) == ("3.00", "3.00")
    assert a.lines[0].component.vat is None
    assert b.lines[0].component.vat == Decimal(0)
    assert "vat" not in to_ocpi(no_vat)["elements"][0]["price_components"][0]
    assert to_ocpi(zero)["elements"][0]["price_components"][0]["vat"] == Decimal(0)
    assert no_vat != zero


# --------------------------------------------------------------------------- energy thresholds


def test_max_kwh_threshold_is_crossed_between_readings() -> None:
    """0.50/kWh and 6.00/h for the first 10 kWh, then 0.30/kWh and no time price.
    Readings: 0 Wh at 0, 8 kWh at 30 min, 14 kWh at 60 min: 10 kWh is reached at 40 min.
    10 x 0.50 + 4 x 0.30 + 40 min x 6.00/h = 5.00 + 1.20 + 4.00 = 10.20."""
    t = tariff(
        element(component("ENERGY", "0.50"), component("TIME", "6.00"), max_kwh=10),
        element(component("ENERGY", "0.30")),
    )
    start = at(2026, 6, 3, 10)
    usage = SessionUsage(
        start,
        start + timedelta(hours=1),
        ZONE,
        [
            MeterReading(start, 100_000),
            MeterReading(start + timedelta(minutes=30), 108_000),
            MeterReading(start + timedelta(minutes=60), 114_000),
        ],
    )
    rated = rate_session(usage, t)
    assert rated.total.excl_vat == Decimal("10.20")
    first, second = rated.periods
    assert (first.end, first.energy_wh) == (start + timedelta(minutes=40), 10_000)
    assert (second.energy_wh, second.energy_element, second.time_element) == (4_000, 1, None)


def test_min_kwh_is_inclusive() -> None:
    """A cheaper price from 5 kWh: the 5,001st Wh is the first at the new price."""
    t = tariff(
        element(component("ENERGY", "0.20"), min_kwh=5),
        element(component("ENERGY", "0.40")),
    )
    start = at(2026, 6, 3, 10)
    rated = rate_session(charging(start, start + timedelta(hours=1), 6_000), t)
    # 5 x 0.40 + 1 x 0.20
    assert rated.total.excl_vat == Decimal("2.20")


def test_ocpi_max_duration_example() -> None:
    """OCPI's supermarket: first 30 min free, then 0.25/kWh, after 60 min 0.40/kWh, 20 %
    VAT. 40 minutes, 5 kWh in the first 30 and 1.2 kWh in the last 10: 0.30 / 0.36."""
    t = tariff(
        element(component("ENERGY", "0.00", vat="20"), max_duration=1800),
        element(component("ENERGY", "0.25", vat="20"), max_duration=3600),
        element(component("ENERGY", "0.40", vat="20")),
    )
    start = at(2026, 6, 3, 10)
    usage = SessionUsage(
        start,
        start + timedelta(minutes=40),
        ZONE,
        [
            MeterReading(start, 0),
            MeterReading(start + timedelta(minutes=30), 5_000),
            MeterReading(start + timedelta(minutes=40), 6_200),
        ],
    )
    assert totals(rate_session(usage, t)) == ("0.30", "0.36")


# --------------------------------------------------------------------------- power and current


def dc_fast() -> Tariff:
    return tariff(
        element(component("ENERGY", "0.69"), min_power=50),
        element(component("ENERGY", "0.49")),
    )


def dc_session(with_power: bool) -> SessionUsage:
    """120 kW for 20 min (40 kWh), then 40 kW for 30 min (20 kWh)."""
    start = at(2026, 6, 3, 10)

    def power(kw: int) -> Decimal | None:
        return Decimal(kw * 1000) if with_power else None

    return SessionUsage(
        start,
        start + timedelta(minutes=50),
        ZONE,
        [
            MeterReading(start, 0, power(120)),
            MeterReading(start + timedelta(minutes=20), 40_000, power(40)),
            MeterReading(start + timedelta(minutes=50), 60_000, power(0)),
        ],
    )


@pytest.mark.parametrize("with_power", [True, False], ids=["reported power", "register power"])
def test_dc_fast_price_applies_above_50_kw(with_power: bool) -> None:
    """40 kWh above 50 kW at 0.69 + 20 kWh at 40 kW at 0.49 = 27.60 + 9.80 = 37.40, whether
    the charger reports power or it is the mean power from the energy register."""
    rated = rate_session(dc_session(with_power), dc_fast())
    assert rated.total.excl_vat == Decimal("37.40")
    assert [(p.energy_wh, p.energy_element) for p in rated.periods] == [(40_000, 0), (20_000, 1)]


def test_ocpi_max_power_example() -> None:
    """OCPI's example: below 16 kW 0.20, 16-32 kW 0.35, otherwise 0.50. 1 kWh at 6 kW,
    40 kWh at 48 kW, 0.5 kWh at 4 kW: 0.20 + 20.00 + 0.10 = 20.30."""
    t = tariff(
        element(component("ENERGY", "0.20"), max_power=16),
        element(component("ENERGY", "0.35"), min_power=16, max_power=32),
        element(component("ENERGY", "0.50")),
    )
    start = at(2026, 6, 3, 10)
    usage = SessionUsage(
        start,
        start + timedelta(seconds=4050),
        ZONE,
        [
            MeterReading(start, 0, Decimal(6000)),
            MeterReading(start + timedelta(seconds=600), 1_000, Decimal(48_000)),
            MeterReading(start + timedelta(seconds=3600), 41_000, Decimal(4000)),
            MeterReading(start + timedelta(seconds=4050), 41_500, Decimal(0)),
        ],
    )
    assert rate_session(usage, t).total.excl_vat == Decimal("20.30")


def test_current_restriction_needs_a_reported_current() -> None:
    """1.00/h at 32 A or more, otherwise 2.00/h. One hour at 48 A then one hour at 16 A:
    3.00. Without current readings the restricted element never applies: 4.00."""
    t = tariff(
        element(component("TIME", "1.00"), min_current=32),
        element(component("TIME", "2.00")),
    )
    start = at(2026, 6, 3, 10)
    end = start + timedelta(hours=2)
    with_current = SessionUsage(
        start,
        end,
        ZONE,
        [
            MeterReading(start, 0, current_a=Decimal(48)),
            MeterReading(start + timedelta(hours=1), 11_000, current_a=Decimal(16)),
            MeterReading(end, 14_700),
        ],
    )
    assert rate_session(with_current, t).total.excl_vat == Decimal("3.00")
    without = SessionUsage(start, end, ZONE, [MeterReading(start, 0), MeterReading(end, 14_700)])
    assert rate_session(without, t).total.excl_vat == Decimal("4.00")


# --------------------------------------------------------------------------- reservations


def test_reservation_time_and_fee_come_before_the_session() -> None:
    """Reservation: 1.00 fee + 6.00/h billed per 5 min, 20 % VAT; session: 0.50 start fee
    (20 %) + 0.25/kWh (10 %). Reserved 13 min before charging 20 kWh:
    15 min x 6.00/h + 1.00 = 2.50 reservation, 0.50 + 5.00 session = 8.00;
    incl. 3.00 + 0.60 + 5.50 = 9.10."""
    t = tariff(
        element(
            component("FLAT", "1.00", vat="20"),
            component("TIME", "6.00", step=300, vat="20"),
            reservation="RESERVATION",
        ),
        element(component("FLAT", "0.50", vat="20"), component("ENERGY", "0.25", vat="10")),
    )
    start = at(2026, 6, 3, 10)
    reserved = Reservation(start - timedelta(minutes=13), start)
    rated = rate_session(
        charging(start, start + timedelta(hours=2), 20_000, reservation=reserved), t
    )
    assert totals(rated) == ("8.00", "9.10")
    assert rated.dimension(CostDimension.RESERVATION).cost.excl_vat == Decimal("2.50")
    assert rated.dimension(CostDimension.RESERVATION).billed == Decimal(15 * 60)
    assert rated.reservation_s == Decimal(13 * 60)
    assert rated.periods[0].kind == PeriodKind.RESERVATION
    assert rated.periods[0].flat_element == 0
    assert rated.periods[1].flat_element == 1


def expiring() -> Tariff:
    """OCPI's "reservation price and expire fee" tariff: 2.00/h reserved, billed per 10 min,
    4.00 if the reservation expires unused, 20 % VAT; session 0.50 + 0.25/kWh."""
    return tariff(
        element(component("TIME", "2.00", step=600, vat="20"), reservation="RESERVATION"),
        element(component("FLAT", "4.00", vat="20"), reservation="RESERVATION_EXPIRES"),
        element(component("FLAT", "0.50", vat="20"), component("ENERGY", "0.25", vat="10")),
    )


def test_used_reservation_is_billed_per_started_step() -> None:
    """Charging starts 22 min after reserving: 30 min x 2.00/h = 1.00, + 0.50 + 5.00
    = 6.50; incl. 1.20 + 0.60 + 5.50 = 7.30 (OCPI's figures)."""
    start = at(2026, 6, 3, 10)
    reserved = Reservation(start - timedelta(minutes=22), start)
    usage = charging(start, start + timedelta(hours=2), 20_000, reservation=reserved)
    assert totals(rate_session(usage, expiring())) == ("6.50", "7.30")


def test_expired_reservation_pays_the_time_and_the_expiry_fee_only() -> None:
    """Reserved for an hour and never used: 1 h x 2.00 + 4.00 = 6.00 / 7.20."""
    made = at(2026, 6, 3, 10)
    expired_at = made + timedelta(hours=1)
    usage = SessionUsage(
        expired_at, expired_at, ZONE, reservation=Reservation(made, expired_at, expired=True)
    )
    rated = rate_session(usage, expiring())
    assert totals(rated) == ("6.00", "7.20")
    assert rated.dimension(CostDimension.FLAT).quantity == 0
    assert all(p.kind == PeriodKind.RESERVATION for p in rated.periods)


def test_expired_reservation_time_prefers_the_expires_element() -> None:
    """OCPI: with TIME in both, an expired reservation is timed by RESERVATION_EXPIRES.
    3.00/h reserved, 6.00/h when it expires, per 10 min, 20 %: 1.5 h -> 9.00 / 10.80."""
    t = tariff(
        element(component("TIME", "3.00", step=600, vat="20"), reservation="RESERVATION"),
        element(component("TIME", "6.00", step=600, vat="20"), reservation="RESERVATION_EXPIRES"),
        element(component("ENERGY", "0.25", vat="10")),
    )
    made = at(2026, 6, 3, 10)
    gone = made + timedelta(minutes=90)
    usage = SessionUsage(gone, gone, ZONE, reservation=Reservation(made, gone, expired=True))
    assert totals(rate_session(usage, t)) == ("9.00", "10.80")


# --------------------------------------------------------------------------- FLAT


def test_flat_is_charged_once_even_across_many_periods() -> None:
    t = tariff(
        element(component("FLAT", "1.00"), component("ENERGY", "0.40"), start_time="18:00"),
        element(component("FLAT", "2.00"), component("ENERGY", "0.30")),
    )
    rated = rate_session(charging(at(2026, 6, 3, 17, 30), at(2026, 6, 3, 18, 30), 10_000), t)
    # started before 18:00: the 2.00 fee of the element in force then; 1.50 + 2.00 energy
    assert rated.total.excl_vat == Decimal("5.50")
    assert rated.dimension(CostDimension.FLAT).cost.excl_vat == Decimal("2.00")


def test_a_restricted_flat_fee_applies_once_it_holds() -> None:
    """A 5.00 fee for sessions past 4 hours (min_duration 14400): a 3 h session does not
    pay it, a 5 h one does, once."""
    t = tariff(
        element(component("FLAT", "5.00"), min_duration=14_400),
        element(component("TIME", "1.00")),
    )
    start = at(2026, 6, 3, 10)
    assert rate_session(charging(start, start + timedelta(hours=3)), t).total.excl_vat == 3
    long = rate_session(charging(start, start + timedelta(hours=5)), t)
    assert long.total.excl_vat == Decimal("10.00")
    assert [p.flat_element for p in long.periods] == [None, 0]


def test_a_zero_length_session_still_pays_its_start_fee_and_minimum() -> None:
    t = tariff(element(component("FLAT", "0.35"), component("ENERGY", "0.30")))
    start = at(2026, 6, 3, 10)
    rated = rate_session(charging(start, start), t)
    assert rated.total.excl_vat == Decimal("0.35")
    assert rated.periods == ()


def test_free_of_charge_tariff() -> None:
    t = tariff(element(component("FLAT", "0.00")))
    start = at(2026, 6, 3, 10)
    rated = rate_session(charging(start, start + timedelta(hours=1), 7_000), t)
    assert totals(rated) == ("0.00", "0.00")
    assert describe_tariff(t).startswith("free of charge")


def test_a_dimension_no_element_prices_is_free() -> None:
    """Energy is priced only at night: a daytime session costs nothing for its energy."""
    t = tariff(element(component("ENERGY", "0.20"), start_time="22:00", end_time="06:00"))
    rated = rate_session(charging(at(2026, 6, 3, 10), at(2026, 6, 3, 11), 10_000), t)
    assert rated.total.excl_vat == 0
    assert rated.energy_wh == 10_000
    assert rated.dimension(CostDimension.ENERGY).billed == 0


# --------------------------------------------------------------------------- readings


def test_readings_out_of_order_repeated_and_going_back_are_tolerated() -> None:
    """2.0.1 samples can arrive out of order and twice; a register that goes back is held."""
    t = tariff(element(component("ENERGY", "1.00")))
    start = at(2026, 6, 3, 10)
    readings = [
        MeterReading(start + timedelta(minutes=20), 3_000),
        MeterReading(start, 1_000),
        MeterReading(start + timedelta(minutes=20), 3_000),
        MeterReading(start + timedelta(minutes=30), 2_500),  # a bad sample
        MeterReading(start + timedelta(minutes=40), 5_000),
    ]
    usage = SessionUsage(start, start + timedelta(minutes=40), ZONE, readings)
    assert rate_session(usage, t).total.excl_vat == Decimal("4.00")


def test_a_reading_before_the_start_places_the_start_register() -> None:
    """Readings at 09:50 (0 Wh) and 10:10 (2,000 Wh), session from 10:00: 1 kWh."""
    t = tariff(element(component("ENERGY", "1.00")))
    start = at(2026, 6, 3, 10)
    usage = SessionUsage(
        start,
        start + timedelta(minutes=10),
        ZONE,
        [
            MeterReading(start - timedelta(minutes=10), 0),
            MeterReading(start + timedelta(minutes=10), 2_000),
        ],
    )
    assert rate_session(usage, t).energy_wh == 1_000


def test_session_input_is_checked() -> None:
    start = at(2026, 6, 3, 10)
    with pytest.raises(InvalidInput, match="ends before"):
        SessionUsage(start, start - timedelta(seconds=1), ZONE)
    with pytest.raises(InvalidInput, match="time_zone"):
        SessionUsage(start, start, "Europe/Atlantis")
    with pytest.raises(InvalidInput, match="time zone"):
        SessionUsage(datetime(2026, 6, 3, 10), datetime(2026, 6, 3, 11), ZONE)


# --------------------------------------------------------------------------- timeline


def test_timeline_from_ocpp16_statuses() -> None:
    start = at(2026, 6, 3, 10)

    def m(minutes: int) -> datetime:
        return start + timedelta(minutes=minutes)

    changes = [
        StatusChange(m(-1), "Preparing"),
        StatusChange(m(0), "Charging"),
        StatusChange(m(40), "SuspendedEV"),
        StatusChange(m(50), "Charging"),
        StatusChange(m(80), "Finishing"),
        StatusChange(m(85), "SuspendedEVSE"),
    ]
    assert build_timeline(start, m(100), status_changes=changes) == (
        StateInterval(m(0), m(40), ChargingState.CHARGING),
        StateInterval(m(40), m(50), ChargingState.IDLE),
        StateInterval(m(50), m(80), ChargingState.CHARGING),
        StateInterval(m(80), m(100), ChargingState.IDLE),
    )


def test_timeline_from_ocpp201_charging_states_with_the_state_before_the_start() -> None:
    start = at(2026, 6, 3, 10)
    changes = [
        StatusChange(start - timedelta(minutes=2), "EVConnected"),
        StatusChange(start + timedelta(minutes=5), "Charging"),
        StatusChange(start + timedelta(minutes=65), "SuspendedEV"),
    ]
    end = start + timedelta(minutes=90)
    assert build_timeline(start, end, status_changes=changes) == (
        StateInterval(start, start + timedelta(minutes=5), ChargingState.IDLE),
        StateInterval(
            start + timedelta(minutes=5), start + timedelta(minutes=65), ChargingState.CHARGING
        ),
        StateInterval(start + timedelta(minutes=65), end, ChargingState.IDLE),
    )


def test_timeline_from_power_when_there_is_no_status() -> None:
    """Below 200 W is not charging: reported power where there is some, otherwise the
    register's mean power (2 Wh in 10 minutes is 12 W)."""
    start = at(2026, 6, 3, 10)

    def m(minutes: int) -> datetime:
        return start + timedelta(minutes=minutes)

    readings = [
        MeterReading(m(0), 0),
        MeterReading(m(10), 1_800),  # 10.8 kW mean
        MeterReading(m(20), 1_802),  # 12 W mean: full
        MeterReading(m(30), 1_804, Decimal(7400)),
        MeterReading(m(40), 3_000, Decimal(50)),
    ]
    assert build_timeline(start, m(60), readings=readings) == (
        StateInterval(m(0), m(10), ChargingState.CHARGING),
        StateInterval(m(10), m(30), ChargingState.IDLE),
        StateInterval(m(30), m(40), ChargingState.CHARGING),
        StateInterval(m(40), m(60), ChargingState.IDLE),
    )


def test_timeline_without_anything_is_charging_and_feeds_rating() -> None:
    start = at(2026, 6, 3, 10)
    end = start + timedelta(hours=1)
    assert build_timeline(start, end) == (StateInterval(start, end, ChargingState.CHARGING),)
    assert build_timeline(start, start) == ()
    with pytest.raises(InvalidInput):
        build_timeline(end, start)


def test_gaps_in_the_intervals_count_as_charging() -> None:
    t = tariff(element(component("TIME", "1.00"), component("PARKING_TIME", "10.00")))
    start = at(2026, 6, 3, 10)
    usage = SessionUsage(
        start,
        start + timedelta(hours=3),
        ZONE,
        intervals=[
            StateInterval(
                start + timedelta(hours=1), start + timedelta(hours=2), ChargingState.IDLE
            )
        ],
    )
    rated = rate_session(usage, t)
    assert (rated.charging_s, rated.parking_s) == (Decimal(7200), Decimal(3600))
    assert rated.total.excl_vat == Decimal("12.00")


# --------------------------------------------------------------------------- quotes, words


def test_preview_a_45_minute_22_kwh_session_at_18_00_on_a_saturday() -> None:
    """0.39/kWh (0.49 from 18:00 at weekends) + 1.00 start fee, 19 % VAT:
    22 x 0.49 + 1.00 = 11.78 excl.; x 1.19 = 14.0182 -> 14.02."""
    t = tariff(
        element(
            component("ENERGY", "0.49", vat="19"),
            start_time="18:00",
            day_of_week=["SATURDAY", "SUNDAY"],
        ),
        element(component("FLAT", "1.00", vat="19"), component("ENERGY", "0.39", vat="19")),
    )
    rated = quote(
        t,
        start=datetime(2026, 6, 6, 18, 0),  # naive: wall-clock time at the site
        time_zone=ZONE,
        energy_wh=22_000,
        duration=timedelta(minutes=45),
    )
    assert totals(rated) == ("11.78", "14.02")
    assert rated.start == at(2026, 6, 6, 18)
    assert rated.charging_s == Decimal(45 * 60)


def test_quote_30_kwh_at_the_connectors_power_with_idle_time() -> None:
    """30 kWh at 22 kW takes 4,909.09 s (4,910 s); then 20 min idle, parking 6.00/h after
    90 min of session. Charging 0.30/kWh: 9.00 + parking from 5,400 s to 6,110 s:
    710 s x 6.00/h = 1.18333 -> total 10.18."""
    t = tariff(
        element(component("ENERGY", "0.30")),
        element(component("PARKING_TIME", "6.00"), min_duration=5400),
    )
    rated = quote(
        t,
        start=at(2026, 6, 3, 10),
        time_zone=ZONE,
        energy_wh=30_000,
        power_w=22_000,
        idle=timedelta(minutes=20),
    )
    assert rated.charging_s == Decimal(4910)
    assert rated.parking_s == Decimal(1200)
    assert rated.total.excl_vat == Decimal("10.18")


def test_quote_needs_a_way_to_place_the_energy_in_time() -> None:
    t = tariff(element(component("ENERGY", "0.30")))
    with pytest.raises(InvalidInput, match="power_w or duration"):
        quote(t, start=at(2026, 6, 3, 10), time_zone=ZONE, energy_wh=1000)
    with pytest.raises(InvalidInput, match="time_zone"):
        quote(t, start=at(2026, 6, 3, 10), time_zone="Nowhere/City", energy_wh=0)


def test_quote_with_power_restrictions_uses_the_quoted_power() -> None:
    rated = quote(
        dc_fast(), start=at(2026, 6, 3, 10), time_zone=ZONE, energy_wh=30_000, power_w=150_000
    )
    assert rated.total.excl_vat == Decimal("20.70")  # 30 x 0.69
    slow = quote(
        dc_fast(), start=at(2026, 6, 3, 10), time_zone=ZONE, energy_wh=30_000, power_w=22_000
    )
    assert slow.total.excl_vat == Decimal("14.70")  # 30 x 0.49


def test_describe_tariff_in_plain_words() -> None:
    t = tariff(
        element(component("ENERGY", "0.39")),
        element(component("TIME", "6.00", step=60), min_duration=3600),
        element(
            component("PARKING_TIME", "12.00"),
            min_duration=1800,
            start_time="08:00",
            end_time="20:00",
        ),
        element(component("FLAT", "1.00")),
        max_price={"excl_vat": "30.00"},
    )
    assert describe_tariff(t, incl_vat=False) == (
        "0.39 EUR per kWh, "
        "0.10 EUR per minute charging after 60 minutes (billed per started minute), "
        "0.20 EUR per minute connected but not charging from 08:00 to 20:00 after 30 minutes, "
        "1.00 EUR per session; at most 30.00 EUR per session; prices excl. VAT"
    )


def test_describe_tariff_incl_vat_and_fallbacks() -> None:
    t = tariff(
        element(component("ENERGY", "0.40", vat="19"), start_time="18:00", end_time="08:00"),
        element(component("ENERGY", "0.30", vat="19")),
        element(component("TIME", "2.00", vat="19"), day_of_week=["SATURDAY", "SUNDAY"]),
        min_price={"excl_vat": "1.00", "incl_vat": "1.19"},
    )
    assert describe_tariff(t) == (
        "0.476 EUR per kWh from 18:00 to 08:00, otherwise 0.357 EUR per kWh, "
        "2.38 EUR per hour charging at weekends; at least 1.19 EUR per session; "
        "prices incl. VAT"
    )


# --------------------------------------------------------------------------- versions


def test_a_session_is_priced_by_the_version_in_force_when_it_started() -> None:
    def version(number: int, since: str, price: str) -> Tariff:
        data = {
            "id": "T1",
            "currency": "EUR",
            "start_date_time": since,
            "elements": [element(component("ENERGY", price))],
        }
        return parse_tariff(data, version=number)

    v1 = version(1, "2026-01-01T00:00:00Z", "0.30")
    v2 = version(2, "2026-06-01T00:00:00Z", "0.35")
    versions = [v2, v1]
    assert tariff_in_force(versions, datetime(2026, 5, 31, 23, 59, tzinfo=UTC)) is v1
    assert tariff_in_force(versions, datetime(2026, 6, 1, tzinfo=UTC)) is v2
    assert tariff_in_force(versions, datetime(2025, 12, 31, tzinfo=UTC)) is None
    # a session that started under v1 and ended under v2 is priced by v1
    usage = charging(
        datetime(2026, 5, 31, 23, tzinfo=UTC), datetime(2026, 6, 1, 1, tzinfo=UTC), 10_000
    )
    chosen = tariff_in_force(versions, usage.start)
    assert chosen is not None
    rated = rate_session(usage, chosen)
    assert (rated.tariff_version, rated.total.excl_vat) == (1, Decimal("3.00"))


def test_money_is_rounded_to_the_currency_minor_unit() -> None:
    """JPY has no minor unit: 45.5 JPY/kWh x 10.01 kWh = 455.455 -> 455; x 1.10 VAT =
    501.0005 -> 501."""
    t = parse_tariff(
        {
            "currency": "JPY",
            "elements": [element(component("ENERGY", "45.5", vat="10"))],
        }
    )
    start = at(2026, 6, 3, 10)
    rated = rate_session(charging(start, start + timedelta(hours=1), 10_010), t)
    assert totals(rated) == ("455", "501")
