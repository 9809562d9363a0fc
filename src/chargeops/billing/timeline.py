"""What happened during a session, in the two facts rating needs: energy and charging state.

A session is priced from

- its meter readings (:class:`MeterReading`): the energy register in Wh, and where the
  charger sent them, power (W) and current (A, summed over phases);
- when it was charging and when it was connected but not charging
  (:class:`StateInterval`): TIME is priced while charging, PARKING_TIME while not.

:func:`build_timeline` derives the second from connector status changes, or from power
when a charger reports no usable status. The rules are deliberately few:

- status ``Charging`` (OCPP 1.6 StatusNotification, OCPP 2.0.1 chargingState) is charging;
  every other status seen while the transaction is open (1.6 SuspendedEV, SuspendedEVSE,
  Finishing, Preparing, Faulted...; 2.0.1 EVConnected, SuspendedEV, SuspendedEVSE, Idle)
  is *not charging*. A fault is not charging either: whether an operator waives idle
  fees during a fault is a policy for the CDR builder, not a fact of the timeline.
- before the first status change, the state is what the readings say at the start, and
  charging when there are no readings either (a transaction starts in order to charge).
- without status changes, a stretch between two readings is charging when its power is at
  least ``idle_below_w`` (default 200 W: a car that is full still draws a little for its
  electronics and cabin), not charging below that.

Power over a stretch is the one rule used here and in rating: the last power a reading
reported holds until the next reading (sample and hold: what the CSMS knew at that
instant); where no reading has reported power yet, the mean power from the energy
register between the two readings stands in.

Everything is pure; times are aware datetimes (UTC).
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import accumulate

from chargeops.core.errors import InvalidInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
US_PER_HOUR = 3_600_000_000


def to_us(at: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch: exact, and fast to add."""
    if at.tzinfo is None:
        raise InvalidInput(f"timestamp without a time zone: {at.isoformat()}")
    return (at - EPOCH) // _MICROSECOND


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


class ChargingState(enum.StrEnum):
    CHARGING = "CHARGING"
    IDLE = "IDLE"  # connected, transaction open, not charging: PARKING_TIME


CHARGING_STATUSES = frozenset({"Charging"})
"""Statuses (OCPP 1.6 ChargePointStatus, 2.0.1 ChargingStateEnumType) that mean charging;
anything else seen inside a transaction means connected but not charging."""


def state_of_status(status: str) -> ChargingState:
    return ChargingState.CHARGING if status in CHARGING_STATUSES else ChargingState.IDLE


@dataclass(frozen=True, slots=True)
class MeterReading:
    """The meter at one instant: energy register (Wh, cumulative), and where sent, power
    (W, active import) and current (A, summed over phases)."""

    at: datetime
    energy_wh: int
    power_w: Decimal | None = None
    current_a: Decimal | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A connector status (1.6) or charging state (2.0.1) from ``at`` on."""

    at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class StateInterval:
    """``[start, end)`` spent in one state."""

    start: datetime
    end: datetime
    state: ChargingState


class ReadingTrack:
    """Readings prepared for lookups: sorted, one per instant, register never going back.

    - Two readings at one instant (a retried MeterValues, Transaction.End repeating the
      last periodic sample) count once, with the higher register.
    - A register that goes down (a meter swap, a bad sample) is held at its highest value
      so far: energy charged is never negative.
    - Before the first reading and after the last the register is flat: nothing is known
      to have been charged there.

    Built once per rating, so it does the least per reading: times and registers only;
    power and current are worked out on first use (only power or current restrictions,
    and the timeline, ask for them).
    """

    __slots__ = ("_current", "_power", "_readings", "times", "wh")

    def __init__(self, readings: Sequence[MeterReading]) -> None:
        try:  # to_us, inlined: this runs once per reading
            times = [(r.at - EPOCH) // _MICROSECOND for r in readings]
        except TypeError:
            raise InvalidInput("a meter reading's timestamp has no time zone") from None
        ordered: list[MeterReading] = list(readings)
        # strictly increasing already (the usual case)? checked in C, not per element
        if times != sorted(times) or len(set(times)) != len(times):
            # out of order (2.0.1 replays) or repeated instants: sort, keep one per instant
            order = sorted(range(len(times)), key=lambda i: (times[i], readings[i].energy_wh))
            ordered = []
            kept: list[int] = []
            for i in order:
                if kept and kept[-1] == times[i]:
                    ordered[-1] = _merge(ordered[-1], readings[i])
                    continue
                kept.append(times[i])
                ordered.append(readings[i])
            times = kept
        self.times = times
        self.wh = list(accumulate([r.energy_wh for r in ordered], max))
        self._readings = ordered
        self._power: list[Fraction] | None = None
        self._current: list[Decimal | None] | None = None

    def __bool__(self) -> bool:
        return bool(self.times)

    def energy_at(self, us: int) -> int:
        """Register at an instant, interpolated linearly between readings and rounded half
        up to a whole Wh (energy stays an integer; the rounding telescopes away in sums)."""
        times, wh = self.times, self.wh
        if not times:
            return 0
        j = bisect_right(times, us)
        if j == 0:
            return wh[0]
        if j == len(times):
            return wh[-1]
        return interpolate(times[j - 1], wh[j - 1], times[j], wh[j], us)

    def _held(self) -> None:
        times, wh = self.times, self.wh
        power: list[Fraction] = []
        current: list[Decimal | None] = []
        held_power: Decimal | None = None
        held_current: Decimal | None = None
        for i, reading in enumerate(self._readings):
            if reading.power_w is not None:
                held_power = reading.power_w
            if reading.current_a is not None:
                held_current = reading.current_a
            current.append(held_current)
            if held_power is not None:
                power.append(Fraction(held_power))
            elif i + 1 < len(times):
                # mean power of the stretch from the register: Wh per µs x 3.6e9 = W
                power.append(Fraction((wh[i + 1] - wh[i]) * US_PER_HOUR, times[i + 1] - times[i]))
            else:
                power.append(Fraction(0))
        self._power, self._current = power, current

    def power_at(self, us: int) -> Fraction:
        """Power (W) in the stretch that contains ``us``; 0 before the first reading."""
        if self._power is None:
            self._held()
        assert self._power is not None
        j = bisect_right(self.times, us) - 1
        return self._power[j] if j >= 0 else Fraction(0)

    def current_at(self, us: int) -> Decimal | None:
        """Last reported current (A) at ``us``; None when none was reported yet."""
        if self._current is None:
            self._held()
        assert self._current is not None
        j = bisect_right(self.times, us) - 1
        return self._current[j] if j >= 0 else None


def _merge(first: MeterReading, second: MeterReading) -> MeterReading:
    """One reading from two at the same instant: the higher register, and whatever power
    and current either reported (the later one's where both did)."""
    return MeterReading(
        first.at,
        max(first.energy_wh, second.energy_wh),
        second.power_w if second.power_w is not None else first.power_w,
        second.current_a if second.current_a is not None else first.current_a,
    )


def interpolate(t0: int, e0: int, t1: int, e1: int, us: int) -> int:
    """Energy at ``us`` on the straight line between two readings, half up to a Wh."""
    numerator = (e1 - e0) * (us - t0)
    span = t1 - t0
    return e0 + (2 * numerator + span) // (2 * span)


def build_timeline(
    start: datetime,
    end: datetime,
    *,
    status_changes: Sequence[StatusChange] = (),
    readings: Sequence[MeterReading] = (),
    idle_below_w: Decimal = Decimal(200),
) -> tuple[StateInterval, ...]:
    """Charging and not-charging intervals covering ``[start, end)``, adjacent ones merged.

    Status changes win when there are any (see the module docstring); otherwise power
    from the readings decides, and with neither the whole session is charging.
    """
    lo, hi = to_us(start), to_us(end)
    if hi < lo:
        raise InvalidInput("session end is before its start")
    if hi == lo:
        return ()
    track = ReadingTrack(readings)
    threshold = Fraction(idle_below_w)

    def by_power(us: int) -> ChargingState:
        if not track:
            return ChargingState.CHARGING
        return ChargingState.CHARGING if track.power_at(us) >= threshold else ChargingState.IDLE

    # (instant, state) steps, the first at the start
    steps: list[tuple[int, ChargingState]] = []
    if status_changes:
        # stable: two changes at one instant keep the order they were reported in
        changes = sorted(
            ((to_us(c.at), state_of_status(c.status)) for c in status_changes),
            key=lambda change: change[0],
        )
        before = [state for at, state in changes if at <= lo]
        steps.append((lo, before[-1] if before else by_power(lo)))
        steps.extend((at, state) for at, state in changes if lo < at < hi)
    else:
        steps.append((lo, by_power(lo)))
        if track:
            steps.extend((at, by_power(at)) for at in track.times if lo < at < hi)

    intervals: list[StateInterval] = []
    for i, (at, state) in enumerate(steps):
        until = steps[i + 1][0] if i + 1 < len(steps) else hi
        if until <= at:
            continue
        if intervals and intervals[-1].state == state:
            previous = intervals.pop()
            intervals.append(StateInterval(previous.start, from_us(until), state))
        else:
            intervals.append(StateInterval(from_us(at), from_us(until), state))
    return tuple(intervals)
