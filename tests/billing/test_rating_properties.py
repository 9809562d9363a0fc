"""Properties of rating that must hold for any tariff and any session (hypothesis).

Tariffs are drawn from everything OCPI 2.2.1 lets a tariff say (all dimensions, every
restriction, step sizes, VAT absent or present, min/max price); sessions from a year of
start times in Europe/Berlin with its two DST Sundays over-represented, readings at
irregular intervals, power reported or not, and charging/idle stretches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargeops.billing import (
    ChargingState,
    DayOfWeek,
    DimensionType,
    MeterReading,
    Price,
    PriceComponent,
    Restrictions,
    SessionUsage,
    StateInterval,
    Tariff,
    TariffElement,
    rate_session,
)

ZONE = "Europe/Berlin"
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- tariffs


@dataclass(frozen=True)
class Allowed:
    """What a drawn tariff may contain."""

    flat: bool = True
    limits: bool = True
    steps: bool = True  # step sizes above 1 Wh / 1 s
    session_relative: bool = True  # min/max kWh and min/max duration
    energy_dependent: bool = True  # min/max kWh, power, current
    uniform_vat: bool = False  # one VAT rate (or none) for every component


prices = st.decimals(min_value=0, max_value=8, places=2) | st.sampled_from(
    [Decimal("0.3899"), Decimal("0.005"), Decimal("1.9")]
)
vats = st.none() | st.sampled_from(
    [Decimal(0), Decimal(7), Decimal("5.2"), Decimal(19), Decimal(20)]
)


def ordered_pair(values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, Any]]:
    """(low, high) with low < high, either of them possibly absent."""

    def both_or_one(pair: tuple[Any, Any]) -> st.SearchStrategy[tuple[Any, Any]]:
        low, high = sorted(pair)
        return st.sampled_from([(low, high), (low, None), (None, high)])

    return st.tuples(values, values).filter(lambda p: p[0] != p[1]).flatmap(both_or_one)


@st.composite
def restrictions(draw: st.DrawFn, allowed: Allowed) -> Restrictions | None:
    if draw(st.booleans()):
        return None
    fields: dict[str, object] = {}
    times = st.integers(0, 23 * 60 + 59).map(lambda m: time(m // 60, m % 60))
    if draw(st.booleans()):
        fields["start_time"] = draw(st.none() | times)
        fields["end_time"] = draw(st.none() | times)
    if draw(st.booleans()):
        fields["day_of_week"] = tuple(draw(st.sets(st.sampled_from(list(DayOfWeek)), min_size=1)))
    if draw(st.booleans()):
        days = st.dates(date(2026, 1, 1), date(2026, 12, 31))
        fields["start_date"], fields["end_date"] = draw(ordered_pair(days))
    if allowed.session_relative and draw(st.booleans()):
        fields["min_duration"], fields["max_duration"] = draw(
            ordered_pair(st.integers(0, 8 * 3600))
        )
    if allowed.session_relative and allowed.energy_dependent and draw(st.booleans()):
        fields["min_kwh"], fields["max_kwh"] = draw(
            ordered_pair(st.decimals(min_value=0, max_value=80, places=1))
        )
    if allowed.energy_dependent and draw(st.booleans()):
        fields["min_power"], fields["max_power"] = draw(
            ordered_pair(st.decimals(min_value=0, max_value=150, places=1))
        )
    if allowed.energy_dependent and draw(st.booleans()):
        fields["min_current"], fields["max_current"] = draw(
            ordered_pair(st.decimals(min_value=0, max_value=250, places=0))
        )
    return Restrictions(**fields)  # type: ignore[arg-type]


@st.composite
def tariffs(draw: st.DrawFn, allowed: Allowed = Allowed()) -> Tariff:
    kinds = [DimensionType.ENERGY, DimensionType.TIME, DimensionType.PARKING_TIME]
    if allowed.flat:
        kinds.append(DimensionType.FLAT)
    shared_vat = draw(vats)
    elements = []
    for _ in range(draw(st.integers(1, 4))):
        chosen = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=4, unique=True))
        components = tuple(
            PriceComponent(
                type=kind,
                price=draw(prices),
                step_size=draw(
                    st.sampled_from([1, 60, 300, 900, 1000])
                    if allowed.steps
                    else st.sampled_from([0, 1])
                ),
                vat=shared_vat if allowed.uniform_vat else draw(vats),
            )
            for kind in chosen
        )
        elements.append(TariffElement(components, draw(restrictions(allowed))))
    limits: dict[str, Price | None] = {"min_price": None, "max_price": None}
    if allowed.limits and draw(st.booleans()):
        low, high = draw(ordered_pair(st.decimals(min_value=0, max_value=60, places=2)))
        for name, value in (("min_price", low), ("max_price", high)):
            if value is not None:
                incl = draw(st.none() | st.just(value * Decimal("1.19")))
                limits[name] = Price(value, incl)
    return Tariff(currency="EUR", elements=tuple(elements), **limits)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Drawn:
    """A session as drawn: whole-second instants, register increments, states."""

    start: datetime
    steps: tuple[tuple[int, int, int | None, int | None], ...]  # (seconds, Wh, W, A)
    flips: tuple[int, ...]  # seconds after the start where the state changes
    first_state: ChargingState
    tail_s: int  # session goes on this long after the last reading

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=sum(s[0] for s in self.steps) + self.tail_s)

    def usage(self, extra_wh: Callable[[int], int] = lambda i: 0) -> SessionUsage:
        at, register = self.start, 10_000_000
        readings = []
        for i, (seconds, wh, power, current) in enumerate(self.steps):
            at += timedelta(seconds=seconds)
            register += wh + extra_wh(i)
            readings.append(
                MeterReading(
                    at,
                    register,
                    None if power is None else Decimal(power),
                    None if current is None else Decimal(current),
                )
            )
        first = MeterReading(self.start, 10_000_000, readings[0].power_w if readings else None)
        return SessionUsage(self.start, self.end, ZONE, [first, *readings], self.intervals())

    def intervals(self) -> list[StateInterval]:
        total = int((self.end - self.start).total_seconds())
        marks = sorted({f for f in self.flips if 0 < f < total})
        edges = [0, *marks, total]
        state, out = self.first_state, []
        for lo, hi in pairwise(edges):
            out.append(
                StateInterval(
                    self.start + timedelta(seconds=lo), self.start + timedelta(seconds=hi), state
                )
            )
            state = (
                ChargingState.IDLE if state == ChargingState.CHARGING else ChargingState.CHARGING
            )
        return out


DST_DAYS = [date(2026, 3, 28), date(2026, 3, 29), date(2026, 10, 24), date(2026, 10, 25)]


@st.composite
def sessions(draw: st.DrawFn) -> Drawn:
    day = draw(st.sampled_from(DST_DAYS) | st.dates(date(2026, 1, 1), date(2026, 12, 30)))
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
        seconds=draw(st.integers(0, 86_399))
    )
    steps = draw(
        st.lists(
            st.tuples(
                st.integers(1, 3600),
                st.integers(0, 40_000),
                st.none() | st.integers(0, 150_000),
                st.none() | st.integers(0, 250),
            ),
            max_size=10,
        )
    )
    total = sum(s[0] for s in steps)
    tail = draw(st.integers(0, 3600))
    flips = draw(st.lists(st.integers(0, total + tail), max_size=4))
    return Drawn(
        start, tuple(steps), tuple(flips), draw(st.sampled_from(list(ChargingState))), tail
    )


# --------------------------------------------------------------------------- properties


@PROPERTY
@given(tariffs(), sessions())
def test_cost_is_never_negative_and_periods_tile_the_session(tariff: Tariff, drawn: Drawn) -> None:
    usage = drawn.usage()
    rated = rate_session(usage, tariff)
    assert rated.total.excl_vat >= 0
    assert rated.total.incl_vat is not None and rated.total.incl_vat >= 0
    assert all(line.cost.excl_vat >= 0 for line in rated.lines)
    assert all(p.energy_wh >= 0 and p.duration_s >= 0 for p in rated.periods)
    # the periods cover the session exactly, in order, without overlap
    if rated.periods:
        assert rated.periods[0].start == usage.start
        assert rated.periods[-1].end == usage.end
        for before, after in zip(rated.periods, rated.periods[1:], strict=False):
            assert before.end == after.start
    span = Decimal(int((usage.end - usage.start).total_seconds()))
    assert rated.charging_s + rated.parking_s == span
    registers = [r.energy_wh for r in usage.readings]
    assert rated.energy_wh == registers[-1] - registers[0]
    if tariff.min_price is None and tariff.max_price is None:
        assert rated.exact_incl >= rated.exact_excl  # VAT only adds
        assert rated.total == rated.total_before_limits


@PROPERTY
@given(
    tariffs(Allowed(flat=False, limits=False, steps=False, session_relative=False)),
    sessions(),
    st.floats(0, 1),
)
def test_splitting_a_session_anywhere_and_summing_equals_rating_it_whole(
    tariff: Tariff, drawn: Drawn, where: float
) -> None:
    """Rating is additive over time, for tariffs with no per-session part. Conditions:

    - no FLAT and no min_price/max_price: they are once per session by definition;
    - no step_size above 1: rounding a total up is not additive (billing per Wh or per
      second is allowed, as every instant here is a whole second, so nothing rounds);
    - no min/max kWh and no min/max duration: they count from the session's start, so a
      second part would start counting again. Time of day, day of week, dates, power and
      current are facts of the instant and may be used.

    Compared on the exact amounts: each part rounded on its own may differ by a cent.
    """
    usage = drawn.usage()
    seconds = int((usage.end - usage.start).total_seconds() * where)
    cut = usage.start + timedelta(seconds=seconds)
    first = SessionUsage(usage.start, cut, ZONE, usage.readings, usage.intervals)
    second = SessionUsage(cut, usage.end, ZONE, usage.readings, usage.intervals)
    whole, a, b = (rate_session(u, tariff) for u in (usage, first, second))
    assert a.exact_excl + b.exact_excl == whole.exact_excl
    assert a.exact_incl + b.exact_incl == whole.exact_incl
    assert a.energy_wh + b.energy_wh == whole.energy_wh
    assert a.charging_s + b.charging_s == whole.charging_s
    assert a.parking_s + b.parking_s == whole.parking_s


@PROPERTY
@given(
    tariffs(Allowed(energy_dependent=False, uniform_vat=True)),
    sessions(),
    st.lists(st.integers(0, 20_000), min_size=10, max_size=10),
)
def test_more_energy_at_the_same_times_never_costs_less(
    tariff: Tariff, drawn: Drawn, extra: list[int]
) -> None:
    """Every stretch between readings charges at least as much, nothing else changes.

    Conditions: no min/max kWh, power or current restriction, since those let more energy
    move a stretch to a cheaper element (a lower price above 50 kW, say); and one VAT
    rate for all components, since a min/max price given excl. VAT only moves the total
    incl. VAT in the session's own VAT mix, which more energy at another rate can shift.
    Everything else (FLAT, step sizes, min/max price, time, day, date and duration
    restrictions) is allowed.
    """
    less = rate_session(drawn.usage(), tariff)
    more = rate_session(drawn.usage(lambda i: extra[i]), tariff)
    assert more.exact_excl >= less.exact_excl
    assert more.exact_incl >= less.exact_incl
    assert more.total.excl_vat >= less.total.excl_vat
    assert more.total.incl_vat is not None and less.total.incl_vat is not None
    assert more.total.incl_vat >= less.total.incl_vat
