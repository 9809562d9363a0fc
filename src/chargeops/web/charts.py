"""Small line charts drawn as inline SVG on the server: a session's energy and power
over time, readable without JavaScript and without a charting library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from chargeops.sessions.models import ChargingSession, MeterValue
from chargeops.web.formatting import utc
from chargeops.web.queries import ENERGY_REGISTER, POWER

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 34  # room for the axis labels


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class LineChart:
    title: str
    unit: str
    points: str  # the polyline's "x,y x,y ..."
    area: str  # the same line closed down to the axis, for a light fill
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    summary: str  # what the chart shows, in words (its accessible name)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    bottom_edge: int = HEIGHT - BOTTOM
    top: int = TOP


def _series(values: Sequence[MeterValue], measurand: str) -> list[tuple[datetime, Decimal]]:
    """The total (no phase, outlet) value at each time; the largest when a time repeats
    (an energy register only grows; a repeated power sample is the same)."""
    by_time: dict[datetime, Decimal] = {}
    phases: dict[datetime, Decimal] = {}
    for v in values:
        if v.measurand != measurand or v.value is None or v.location not in ("", "Outlet"):
            continue
        if v.phase:
            if measurand == POWER and v.phase in ("L1", "L2", "L3"):
                phases[v.timestamp] = phases.get(v.timestamp, Decimal(0)) + v.value
            continue
        by_time[v.timestamp] = max(by_time.get(v.timestamp, v.value), v.value)
    if not by_time and phases:  # a meter that reports power per phase only
        by_time = phases
    return sorted(by_time.items())


def energy_chart(session: ChargingSession, values: Sequence[MeterValue]) -> LineChart | None:
    """Energy delivered since the start: from zero at the start to the final figure at
    the stop, through every register sample between."""
    series = _series(values, ENERGY_REGISTER)
    start = session.meter_start_wh
    if start is not None and (not series or session.started_at < series[0][0]):
        series.insert(0, (session.started_at, Decimal(start)))
    stop, stopped_at = session.meter_stop_wh, session.stopped_at
    if stop is not None and stopped_at is not None and (not series or stopped_at > series[-1][0]):
        series.append((stopped_at, Decimal(stop)))
    if len(series) < 2:
        return None
    base = series[0][1] if start is None else Decimal(start)
    points = [(t, max(Decimal(0), (wh - base) / 1000)) for t, wh in series]
    return _chart("Energy delivered", "kWh", points)


def power_chart(values: Sequence[MeterValue]) -> LineChart | None:
    series = _series(values, POWER)
    if len(series) < 2:
        return None
    return _chart("Power", "kW", [(t, w / 1000) for t, w in series])


def _nice_top(value: Decimal) -> Decimal:
    """A round upper bound for the y axis whose quarters are round too."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for step in (Decimal(n) for n in (1, 2, 4, 5, 6, 8, 10)):
        top = step.scaleb(exponent)
        if top >= value:
            return top
    return Decimal(10).scaleb(exponent)  # pragma: no cover - the loop always returns


def _chart(title: str, unit: str, points: list[tuple[datetime, Decimal]]) -> LineChart:
    t0, t1 = points[0][0], points[-1][0]
    span = max((t1 - t0).total_seconds(), 1.0)
    peak = max(v for _, v in points)
    top = _nice_top(peak)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: datetime) -> float:
        return round(LEFT + inner_w * (t - t0).total_seconds() / span, 1)

    def y(v: Decimal) -> float:
        return round(TOP + inner_h * (1 - float(v / top)), 1)

    line = " ".join(f"{x(t)},{y(v)}" for t, v in points)
    base = HEIGHT - BOTTOM
    area = f"{x(t0)},{base} {line} {x(t1)},{base}"
    y_ticks = tuple(
        Tick(LEFT - 6, y(top * k / 4), f"{(top * k / 4).normalize():f}") for k in range(5)
    )
    x_ticks = (
        Tick(LEFT, base + 20, t0.strftime("%H:%M")),
        Tick(WIDTH - RIGHT, base + 20, t1.strftime("%H:%M UTC")),
    )
    last = points[-1][1].quantize(Decimal("0.01"))
    summary = (
        f"{title} from {utc(t0)} to {utc(t1)}: highest {peak.quantize(Decimal('0.01'))} "
        f"{unit}, last {last} {unit}"
    )
    return LineChart(title, unit, line, area, y_ticks, x_ticks, summary)


# --- bar charts: a figure per day -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # what the bar stands for, in words (its tooltip)
    negative: bool


@dataclass(frozen=True, slots=True)
class BarChart:
    title: str
    unit: str
    bars: tuple[Bar, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    zero_y: float  # where the value 0 is: bars stand on it, or hang from it
    summary: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    bottom_edge: int = HEIGHT - BOTTOM
    top: int = TOP


def bar_chart(
    title: str, unit: str, values: Sequence[tuple[str, str, Decimal]], summary: str
) -> BarChart:
    """One bar per value, in order: ``(axis label, label in words, value)``. The axis
    shows a label now and then (a month of days would not fit); each bar names its own.
    Negative values (a day of more credits than sales) hang below the zero line."""
    highest = max((v for _, _, v in values), default=Decimal(0))
    lowest = min((v for _, _, v in values), default=Decimal(0))
    top = _nice_top(highest) if highest > 0 else Decimal(0)
    bottom = -_nice_top(-lowest) if lowest < 0 else Decimal(0)
    if top == bottom:
        top = Decimal(1)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span_value = top - bottom

    def y(v: Decimal) -> float:
        return round(TOP + inner_h * float((top - v) / span_value), 1)

    zero = y(Decimal(0))
    slot = inner_w / max(len(values), 1)
    width = round(min(max(slot * 0.7, 1.0), 48.0), 1)  # a few days: bars, not walls
    bars = []
    for i, (_, words, value) in enumerate(values):
        x = round(LEFT + slot * i + (slot - width) / 2, 1)
        edge = y(value)
        bars.append(Bar(x, min(edge, zero), width, round(abs(zero - edge), 1), words, value < 0))
    steps = 4
    marks = [bottom + span_value * k / steps for k in range(steps + 1)]
    y_ticks = tuple(Tick(LEFT - 6, y(m), f"{m.normalize():f}") for m in marks)
    every = max(1, -(-len(values) // 6))  # at most about 7 labels
    x_ticks = tuple(
        Tick(round(LEFT + slot * i + slot / 2, 1), HEIGHT - BOTTOM + 20, label)
        for i, (label, _, _) in enumerate(values)
        if i % every == 0
    )
    return BarChart(title, unit, tuple(bars), y_ticks, x_ticks, zero, summary)
