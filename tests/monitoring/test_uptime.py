"""Uptime by 23 CFR 680.116(b), computed on known timelines and checked against the hand
computation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from chargeops.monitoring.uptime import (
    Change,
    Interval,
    combined,
    down_intervals,
    intersect,
    merge,
    port_uptime,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_the_rules_own_example_a_year_with_1000_outage_minutes_400_excluded() -> None:
    year = Interval(T0, at(525_600))
    outage = [Interval(at(10_000), at(11_000))]
    excluded = [Interval(at(10_600), at(11_000))]  # the last 400 minutes: a utility cut
    u = port_uptime(year, outage, excluded)
    assert u.total_minutes == Decimal("525600.00")
    assert u.outage_minutes == Decimal("1000.00")
    assert u.excluded_minutes == Decimal("400.00")
    # (525,600 - (1,000 - 400)) / 525,600 x 100 = 99.88584...: cut, not rounded
    assert u.percent == Decimal("99.885")


def test_a_day_with_an_offline_hour_and_a_faulted_half_hour_that_overlap() -> None:
    day = Interval(T0, at(1440))
    offline = down_intervals([Change(at(60), False), Change(at(120), True)], day, initial=True)
    faulted = down_intervals([Change(at(100), False), Change(at(150), True)], day, initial=True)
    u = port_uptime(day, merge([*offline, *faulted]))
    # down from 60 to 150: 90 minutes; 1,350 / 1,440 = 93.75 %
    assert u.outage_minutes == Decimal("90.00")
    assert u.percent == Decimal("93.750")
    assert u.outages == (Interval(at(60), at(150)),)


def test_only_the_part_of_an_exclusion_that_falls_on_an_outage_counts() -> None:
    day = Interval(T0, at(1440))
    # maintenance declared 08:00-12:00 (240 min); the port was down 11:00-13:00
    u = port_uptime(day, [Interval(at(660), at(780))], [Interval(at(480), at(720))])
    assert u.outage_minutes == Decimal("120.00")
    assert u.excluded_minutes == Decimal("60.00")
    assert u.percent == Decimal("95.833")  # (1440 - 60) / 1440 = 95.8333...


def test_state_before_the_period_and_outages_running_past_it() -> None:
    day = Interval(at(0), at(100))
    # down since before the period, up at 30, down again at 90 until after the end
    down = down_intervals(
        [Change(at(-50), False), Change(at(30), True), Change(at(90), False)],
        day,
        initial=None,
    )
    assert down == [Interval(at(0), at(30)), Interval(at(90), at(100))]
    assert port_uptime(day, down).percent == Decimal("60.000")


def test_unknown_counts_as_up_and_a_port_with_two_connectors_is_out_only_when_both_are() -> None:
    period = Interval(at(0), at(60))
    assert down_intervals([], period, initial=None) == []
    a = [Interval(at(0), at(40))]
    b = [Interval(at(20), at(60))]
    assert intersect(a, b) == [Interval(at(20), at(40))]


def test_a_station_figure_weighs_its_ports_by_their_minutes() -> None:
    day = Interval(T0, at(1440))
    half = Interval(at(720), at(1440))  # a port installed at noon
    both = combined([port_uptime(day, []), port_uptime(half, [Interval(at(720), at(792))])], day)
    # 72 minutes down out of 1,440 + 720 counted: 96.666...
    assert both.total_minutes == Decimal("2160.00")
    assert both.percent == Decimal("96.666")


def test_an_empty_period_has_no_figure() -> None:
    assert port_uptime(Interval(T0, T0), []).percent is None


_minutes = st.integers(min_value=0, max_value=1440)


@given(st.lists(st.tuples(_minutes, st.booleans()), max_size=30), st.booleans())
def test_uptime_stays_between_0_and_100_and_outage_within_the_period(
    changes: list[tuple[int, bool]], initial: bool
) -> None:
    day = Interval(T0, at(1440))
    down = down_intervals([Change(at(m), up) for m, up in changes], day, initial=initial)
    u = port_uptime(day, down, [Interval(at(100), at(200))])
    assert u.percent is not None and Decimal(0) <= u.percent <= Decimal(100)
    assert Decimal(0) <= u.excluded_minutes <= u.outage_minutes <= u.total_minutes
    assert all(day.start <= i.start < i.end <= day.end for i in down)
