"""Uptime of a charging port by the US NEVI rule, 23 CFR 680.116(b). Pure: no I/O.

    uptime % = (T_total - (T_outage - T_excluded)) / T_total x 100

``T_total`` is the period (525,600 minutes for the rule's trailing year), ``T_outage``
the minutes the port was not operational, and ``T_excluded`` the part of those outages
the operator does not answer for (a utility interruption, vandalism, a natural disaster,
declared maintenance...). A port is operational when its station can be reached and the
port is in a state in which it can charge (not Faulted, not Unavailable, and the station
as a whole, EVSE 0, neither).

Time is counted in seconds and reported in minutes; the percentage is cut (not rounded)
to three decimals, so a port is never shown above the line it did not reach.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

OUT_OF_SERVICE = frozenset({"Faulted", "Unavailable", "Inoperative"})
_PERCENT = Decimal("0.001")
_MINUTES = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Interval:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end - self.start).total_seconds())


@dataclass(frozen=True, slots=True)
class Change:
    """From ``at`` on, the thing is up (True), down (False) or unknown (None)."""

    at: datetime
    up: bool | None


@dataclass(frozen=True, slots=True)
class Uptime:
    period: Interval
    total_minutes: Decimal
    outage_minutes: Decimal
    excluded_minutes: Decimal
    outages: tuple[Interval, ...]

    @property
    def counted_outage_minutes(self) -> Decimal:
        return self.outage_minutes - self.excluded_minutes

    @property
    def percent(self) -> Decimal | None:
        """None for an empty period (nothing to judge)."""
        if self.total_minutes <= 0:
            return None
        value = (self.total_minutes - self.counted_outage_minutes) / self.total_minutes * 100
        return value.quantize(_PERCENT, rounding=ROUND_DOWN)


def down_intervals(
    changes: Sequence[Change], period: Interval, *, initial: bool | None
) -> list[Interval]:
    """Where a timeline is down within ``period``; ``initial`` is its state at the start.
    Unknown counts as up (nothing says otherwise)."""
    out: list[Interval] = []
    state, since = initial, period.start
    for change in sorted(changes, key=lambda c: c.at):
        at = min(max(change.at, period.start), period.end)
        if state is False and at > since:
            out.append(Interval(since, at))
        since, state = max(since, at), change.up
    if state is False and period.end > since:
        out.append(Interval(since, period.end))
    return merge(out)


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Where two merged interval lists are both down (a port with two connectors is out
    only when neither can charge)."""
    out: list[Interval] = []
    for x in a:
        for y in b:
            start, end = max(x.start, y.start), min(x.end, y.end)
            if start < end:
                out.append(Interval(start, end))
    return merge(out)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals joined, in order."""
    out: list[Interval] = []
    for item in sorted(intervals, key=lambda i: i.start):
        if item.end <= item.start:
            continue
        if out and item.start <= out[-1].end:
            out[-1] = Interval(out[-1].start, max(out[-1].end, item.end))
        else:
            out.append(item)
    return out


def overlap(a: Sequence[Interval], b: Sequence[Interval]) -> float:
    """Seconds that two merged interval lists have in common."""
    return sum(i.seconds for i in intersect(a, b))


def port_uptime(
    period: Interval,
    outages: Iterable[Interval],
    exclusions: Iterable[Interval] = (),
) -> Uptime:
    """Uptime over ``period`` from the port's outages and the declared exclusions (only
    the part of an exclusion that falls on an outage is excluded)."""
    clipped = merge(Interval(max(o.start, period.start), min(o.end, period.end)) for o in outages)
    excluded = merge(
        Interval(max(e.start, period.start), min(e.end, period.end)) for e in exclusions
    )
    return Uptime(
        period=period,
        total_minutes=_minutes(period.seconds),
        outage_minutes=_minutes(sum(o.seconds for o in clipped)),
        excluded_minutes=_minutes(overlap(clipped, excluded)),
        outages=tuple(clipped),
    )


def combined(parts: Sequence[Uptime], period: Interval) -> Uptime:
    """Several ports as one figure (a station, a site): their minutes added up, so a
    port counted over a shorter time (installed later) weighs less."""
    return Uptime(
        period=period,
        total_minutes=sum((p.total_minutes for p in parts), Decimal(0)),
        outage_minutes=sum((p.outage_minutes for p in parts), Decimal(0)),
        excluded_minutes=sum((p.excluded_minutes for p in parts), Decimal(0)),
        outages=(),
    )


def _minutes(seconds: float) -> Decimal:
    return (Decimal(str(round(seconds, 3))) / 60).quantize(_MINUTES)
