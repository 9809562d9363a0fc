"""Rating: a session's usage and a tariff version in, a priced charge detail record out.

Pure (no I/O, no database, no clock): the same :class:`SessionUsage` and :class:`Tariff`
always give the same :class:`RatedSession`, so a CDR can be recomputed and audited years
later, and the same function answers quotes and the tariff editor's preview (:func:`quote`).

How a session is priced (OCPI 2.2.1 mod_tariffs, read as follows where it is loose):

1. **Periods.** The session ``[start, end)`` is cut wherever the truth of any restriction
   of the tariff can change: local time-of-day marks (``start_time``/``end_time``) and
   local midnights, found in the site's time zone with ``zoneinfo`` (a DST day has 23 or 25
   hours; the instant the clock jumps is itself a cut, so 02:30 on a spring-forward day
   becomes true at 03:00 and on a fall-back day it is true twice); ``min_duration``/
   ``max_duration`` instants; the instant the energy charged crosses ``min_kwh``/
   ``max_kwh`` (interpolated between readings); every reading when a power or current
   restriction exists; and every change between charging and not charging. Inside such a
   piece nothing can change, so restrictions are judged once, at its start. Adjacent
   pieces priced by the same elements are merged into one charging period.
2. **Elements.** For each dimension the first element (in tariff order) that has a price
   component of that dimension and whose restrictions all hold is used; if none, the
   dimension is free for that period. ENERGY prices the Wh charged in a period whatever
   the state; TIME prices time charging, PARKING_TIME time connected but not charging.
3. **FLAT** is charged once per session, by the first element with a FLAT component that
   holds at the earliest point of the session where one holds. That is the element in force
   at the start whenever one is; reading it this way also lets a restricted FLAT (say a
   fee once a session passes 4 hours) work as an operator would expect.
4. **step_size** is applied once per session per dimension, to the total the tariff priced
   in that dimension (time where no element prices it is free, and free time is not
   rounded into a billable step): ENERGY by the step of the last component that priced
   energy; TIME and PARKING_TIME together once, by the last component that priced either
   (OCPI: when both are used, the step applies to the parking time, which comes last), the
   extra billed at that component's price. Reservation time is rounded once by its own
   last component.
5. **VAT** is applied per component (``vat`` in percent; absent = no VAT applicable, so
   incl. equals excl. for that component, and the line keeps ``vat=None`` as distinct from
   0 %).
6. **min_price / max_price** clamp the session total, each rule for excl. and incl. VAT on
   its own as OCPI says. A limit given excl. VAT only moves the incl. total in proportion
   (the session's own VAT mix), so the two never disagree about whether it applied.
7. **Rounding**: all arithmetic is exact (``Fraction`` from ``Decimal`` prices, integer Wh,
   integer microseconds); see :data:`ROUNDING_RULE`.

Reservations (``restrictions.reservation``): elements with it price only the reservation
``[reserved at, charging started)`` (TIME and FLAT), elements without it only the charging
session. For a reservation that expired unused, RESERVATION_EXPIRES elements are tried
before RESERVATION ones (OCPI's note), and nothing of the session is priced.

Power at an instant is the last power a reading reported, or the mean power from the energy
register where none was reported (see :mod:`chargeops.billing.timeline`). A current
restriction does not hold while the current is unknown: a restricted element describes a
condition that must be shown to hold, and the fallback element is the default.
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chargeops.billing.tariffs import (
    DimensionType,
    Price,
    PriceComponent,
    ReservationRestriction,
    Restrictions,
    Tariff,
    minor_unit,
)
from chargeops.billing.timeline import (
    ChargingState,
    MeterReading,
    ReadingTrack,
    StateInterval,
    from_us,
    to_us,
)
from chargeops.core.errors import InvalidInput

ROUNDING_RULE = (
    "Every amount is computed exactly (Decimal prices as fractions, energy in whole Wh, "
    "time in microseconds) and rounded once, at the end, to the currency's minor unit "
    "(ISO 4217; EUR 2 decimals) with ROUND_HALF_UP: the session total excl. VAT and the "
    "session total incl. VAT are each rounded from their exact values, after min_price/"
    "max_price. Per-line, per-dimension and per-period amounts are rounded the same way "
    "for display only and may differ from the total by a minor unit."
)
"""ROUND_HALF_UP rather than banker's rounding: it is what drivers and tax offices expect
on a receipt (EU invoices, German Eichrecht transparency software) and what OCPI's
examples use (4.997 -> 5.00)."""

_US = 1_000_000
_US_PER_HOUR = 3_600 * _US
_ZERO = Fraction(0)


class PeriodKind(enum.StrEnum):
    CHARGING = "CHARGING"
    IDLE = "IDLE"  # connected, not charging: PARKING_TIME
    RESERVATION = "RESERVATION"  # reserved, before charging started


class CostDimension(enum.StrEnum):
    """Where a cost is reported: the OCPI CDR's total_*_cost fields."""

    ENERGY = "ENERGY"
    TIME = "TIME"
    PARKING_TIME = "PARKING_TIME"
    FLAT = "FLAT"  # total_fixed_cost
    RESERVATION = "RESERVATION"  # reservation time and fee


# --------------------------------------------------------------------------- input


@dataclass(frozen=True, slots=True)
class Reservation:
    """A reservation before the session: ``[start, end)`` is from when it was made until
    charging started or, when ``expired``, until it ran out unused."""

    start: datetime
    end: datetime
    expired: bool = False

    def __post_init__(self) -> None:
        if to_us(self.end) < to_us(self.start):
            raise InvalidInput("reservation ends before it starts")


@dataclass(frozen=True, slots=True)
class SessionUsage:
    """What a session used: the input of rating.

    ``start``/``end`` are aware datetimes (UTC preferred); ``time_zone`` is the site's IANA
    zone, in which local-time restrictions are read. ``readings`` may come in any order
    and may lie outside the session (one just before the start helps interpolate it).
    ``intervals`` say when the session was charging or not; time they do not cover counts
    as charging (none at all: charging throughout), and where two overlap the earlier
    one wins. For an expired ``reservation`` only the reservation is priced.
    """

    start: datetime
    end: datetime
    time_zone: str
    readings: Sequence[MeterReading] = ()
    intervals: Sequence[StateInterval] = ()
    reservation: Reservation | None = None

    def __post_init__(self) -> None:
        if to_us(self.end) < to_us(self.start):
            raise InvalidInput("session ends before it starts")
        object.__setattr__(self, "readings", tuple(self.readings))
        object.__setattr__(self, "intervals", tuple(self.intervals))
        for interval in self.intervals:
            if to_us(interval.end) < to_us(interval.start):
                raise InvalidInput("a state interval ends before it starts")
        zone(self.time_zone)


def zone(name: str) -> ZoneInfo:
    """The site's time zone, or InvalidInput naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"time_zone: unknown time zone {name!r}") from exc


# --------------------------------------------------------------------------- output


@dataclass(frozen=True, slots=True)
class PeriodDimension:
    """One dimension of a charging period in OCPI units (kWh, hours; FLAT: 1), with the
    index of the tariff element that priced it (None: free)."""

    type: DimensionType
    volume: Decimal
    element: int | None


@dataclass(frozen=True, slots=True)
class ChargingPeriod:
    """A stretch of the session priced by one set of elements.

    ``duration_s`` is exact: time charging (CHARGING), parked (IDLE) or reserved
    (RESERVATION). ``cost_excl`` is informational (before step_size, limits and the one
    rounding); the session total is not the sum of these.
    """

    start: datetime
    end: datetime
    kind: PeriodKind
    energy_wh: int
    duration_s: Decimal
    energy_element: int | None
    time_element: int | None
    flat_element: int | None
    cost_excl: Decimal

    @property
    def dimensions(self) -> tuple[PeriodDimension, ...]:
        hours = (self.duration_s / 3600).quantize(Decimal("0.000001"))
        time_type = (
            DimensionType.PARKING_TIME if self.kind == PeriodKind.IDLE else DimensionType.TIME
        )
        out = []
        if self.kind != PeriodKind.RESERVATION:
            out.append(
                PeriodDimension(
                    DimensionType.ENERGY, Decimal(self.energy_wh) / 1000, self.energy_element
                )
            )
        out.append(PeriodDimension(time_type, hours, self.time_element))
        if self.flat_element is not None:
            out.append(PeriodDimension(DimensionType.FLAT, Decimal(1), self.flat_element))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class CostLine:
    """What one price component billed: an invoice line.

    ``quantity`` is what it priced (Wh, seconds, or 1 for FLAT), ``billed`` the same after
    step_size; amounts are rounded for display (the total is rounded once, from exact
    values).
    """

    dimension: CostDimension
    element: int
    component: PriceComponent
    quantity: Decimal
    billed: Decimal
    cost: Price


@dataclass(frozen=True, slots=True)
class DimensionCost:
    """A cost dimension's totals: ``quantity`` measured in the session (Wh, s, or count),
    ``billed`` what the tariff priced after step_size, ``cost`` before min/max price."""

    dimension: CostDimension
    quantity: Decimal
    billed: Decimal
    cost: Price


@dataclass(frozen=True, slots=True)
class RatedSession:
    """A priced session: the CDR's content, ready for a CDR table, an OCPI CDR or an
    invoice. ``total`` is what the driver pays; ``exact_excl``/``exact_incl`` are the
    values it was rounded from, kept for audits."""

    currency: str
    tariff_id: str | None
    tariff_version: int | None
    time_zone: str
    start: datetime
    end: datetime
    periods: tuple[ChargingPeriod, ...]
    energy_wh: int
    charging_s: Decimal
    parking_s: Decimal
    reservation_s: Decimal
    dimensions: tuple[DimensionCost, ...]
    lines: tuple[CostLine, ...]
    total_before_limits: Price
    total: Price
    min_price_applied: bool
    max_price_applied: bool
    exact_excl: Fraction = field(repr=False)
    exact_incl: Fraction = field(repr=False)
    rounding: str = ROUNDING_RULE

    def dimension(self, which: CostDimension) -> DimensionCost:
        for item in self.dimensions:
            if item.dimension == which:
                return item
        raise KeyError(which)


# --------------------------------------------------------------------------- money


def round_money(value: Fraction, places: int) -> Decimal:
    """ROUND_HALF_UP (ties away from zero) of an exact value to ``places`` decimals."""
    return _round_ratio(value.numerator, value.denominator, places)


def _round_ratio(numerator: int, denominator: int, places: int) -> Decimal:
    """ROUND_HALF_UP of numerator / denominator (denominator > 0), in integers only."""
    n = numerator * 10**places
    magnitude = (2 * abs(n) + denominator) // (2 * denominator)
    return Decimal(-magnitude if n < 0 else magnitude).scaleb(-places)


def _seconds(us: int) -> Decimal:
    return Decimal(us) / _US


# --------------------------------------------------------------------------- compiled tariff


@dataclass(frozen=True, slots=True)
class _Cond:
    """Restrictions in the units rating compares in."""

    start_min: int | None
    end_min: int | None
    start_date: date | None
    end_date: date | None
    weekdays: frozenset[int] | None
    min_wh: int | None
    max_wh: int | None
    min_w: Fraction | None
    max_w: Fraction | None
    min_a: Decimal | None
    max_a: Decimal | None
    min_us: int | None
    max_us: int | None
    local: bool

    @classmethod
    def of(cls, r: Restrictions) -> _Cond:
        def wh(kwh: Decimal | None) -> int | None:
            # energy is whole Wh: ">= 0.5 Wh" is ">= 1 Wh", "< 0.5 Wh" is "< 1 Wh"
            return None if kwh is None else math.ceil(kwh * 1000)

        def w(kw: Decimal | None) -> Fraction | None:
            return None if kw is None else Fraction(kw) * 1000

        def minute(t: time | None) -> int | None:
            return None if t is None else t.hour * 60 + t.minute

        return cls(
            start_min=minute(r.start_time),
            end_min=minute(r.end_time),
            start_date=r.start_date,
            end_date=r.end_date,
            weekdays=frozenset(d.weekday for d in r.day_of_week) if r.day_of_week else None,
            min_wh=wh(r.min_kwh),
            max_wh=wh(r.max_kwh),
            min_w=w(r.min_power),
            max_w=w(r.max_power),
            min_a=r.min_current,
            max_a=r.max_current,
            min_us=None if r.min_duration is None else r.min_duration * _US,
            max_us=None if r.max_duration is None else r.max_duration * _US,
            local=r.uses_local_time,
        )

    def holds(self, at: _At) -> bool:
        if self.start_min is not None or self.end_min is not None:
            m = at.minute
            s, e = self.start_min, self.end_min
            if s is not None and e is not None:
                ok = (s <= m < e) if s < e else (m >= s or m < e) if s > e else True
            elif s is not None:
                ok = m >= s
            else:
                ok = m < e  # type: ignore[operator]
            if not ok:
                return False
        if self.weekdays is not None and at.weekday not in self.weekdays:
            return False
        if self.start_date is not None and at.day < self.start_date:
            return False
        if self.end_date is not None and at.day >= self.end_date:
            return False
        if self.min_wh is not None and at.consumed_wh < self.min_wh:
            return False
        if self.max_wh is not None and at.consumed_wh >= self.max_wh:
            return False
        if self.min_us is not None and at.elapsed_us < self.min_us:
            return False
        if self.max_us is not None and at.elapsed_us >= self.max_us:
            return False
        if self.min_w is not None and at.power_w < self.min_w:
            return False
        if self.max_w is not None and at.power_w >= self.max_w:
            return False
        if self.min_a is not None and (at.current_a is None or at.current_a < self.min_a):
            return False
        return not (self.max_a is not None and (at.current_a is None or at.current_a >= self.max_a))


@dataclass(slots=True)
class _At:
    """Everything restrictions look at, at the start of a piece of the session."""

    minute: int = 0
    weekday: int = 0
    day: date = date.min
    consumed_wh: int = 0
    elapsed_us: int = 0
    power_w: Fraction = _ZERO
    current_a: Decimal | None = None


@dataclass(frozen=True, slots=True)
class _Candidate:
    element: int
    cond: _Cond | None  # None: no restrictions
    component: PriceComponent
    price_n: int  # price as an integer ratio: exact, and cheaper than Fraction arithmetic
    price_d: int
    vat_n: int  # 1 + vat / 100 as an integer ratio (1/1 without VAT)
    vat_d: int


@dataclass(frozen=True, slots=True)
class _Compiled:
    n_elements: int
    energy: tuple[_Candidate, ...]
    time: tuple[_Candidate, ...]
    parking: tuple[_Candidate, ...]
    flat: tuple[_Candidate, ...]
    reserved_time: tuple[_Candidate, ...]
    reserved_flat: tuple[_Candidate, ...]
    expired_time: tuple[_Candidate, ...]
    expired_flat: tuple[_Candidate, ...]
    session_local: bool
    reservation_local: bool
    marks: tuple[int, ...]  # minutes of the local day where a restriction can change
    session_kwh: tuple[int, ...]
    session_durations: tuple[int, ...]
    reservation_durations: tuple[int, ...]
    per_reading: bool  # power or current restrictions: cut at every reading


@lru_cache(maxsize=256)
def _compile(tariff: Tariff) -> _Compiled:
    """Restrictions and prices in comparison-ready form, once per tariff version."""
    session: dict[DimensionType, list[_Candidate]] = {d: [] for d in DimensionType}
    reserved: dict[DimensionType, list[_Candidate]] = {d: [] for d in DimensionType}
    expires: dict[DimensionType, list[_Candidate]] = {d: [] for d in DimensionType}
    marks: set[int] = set()
    session_local = reservation_local = per_reading = False
    kwh: set[int] = set()
    session_durations: set[int] = set()
    reservation_durations: set[int] = set()
    for index, element in enumerate(tariff.elements):
        r = element.restrictions
        cond = None if r is None or r == Restrictions(reservation=r.reservation) else _Cond.of(r)
        if r is not None and r.reservation == ReservationRestriction.RESERVATION_EXPIRES:
            target = expires
        elif r is not None and r.reservation == ReservationRestriction.RESERVATION:
            target = reserved
        else:
            target = session
        seen: set[DimensionType] = set()
        for component in element.price_components:
            if component.type in seen:
                continue  # one price per dimension and element: the first
            seen.add(component.type)
            factor = 1 + (Fraction(component.vat) / 100 if component.vat is not None else _ZERO)
            price_n, price_d = component.price.as_integer_ratio()
            target[component.type].append(
                _Candidate(
                    index,
                    cond,
                    component,
                    price_n,
                    price_d,
                    factor.numerator,
                    factor.denominator,
                )
            )
        if cond is None or r is None:
            continue
        is_session = target is session
        if cond.local:
            marks.update(m for m in (cond.start_min, cond.end_min) if m is not None)
            if is_session:
                session_local = True
            else:
                reservation_local = True
        durations = session_durations if is_session else reservation_durations
        durations.update(d for d in (cond.min_us, cond.max_us) if d)
        if is_session:
            kwh.update(t for t in (cond.min_wh, cond.max_wh) if t)
            if any(x is not None for x in (cond.min_w, cond.max_w, cond.min_a, cond.max_a)):
                per_reading = True
    marks.add(0)  # local midnight: day of week and dates change there
    return _Compiled(
        n_elements=len(tariff.elements),
        energy=tuple(session[DimensionType.ENERGY]),
        time=tuple(session[DimensionType.TIME]),
        parking=tuple(session[DimensionType.PARKING_TIME]),
        flat=tuple(session[DimensionType.FLAT]),
        reserved_time=tuple(reserved[DimensionType.TIME]),
        reserved_flat=tuple(reserved[DimensionType.FLAT]),
        expired_time=tuple(expires[DimensionType.TIME] + reserved[DimensionType.TIME]),
        expired_flat=tuple(expires[DimensionType.FLAT] + reserved[DimensionType.FLAT]),
        session_local=session_local,
        reservation_local=reservation_local,
        marks=tuple(sorted(marks)),
        session_kwh=tuple(sorted(kwh)),
        session_durations=tuple(sorted(session_durations)),
        reservation_durations=tuple(sorted(reservation_durations)),
        per_reading=per_reading,
    )


# --------------------------------------------------------------------------- local time


def _offset(tz: ZoneInfo, us: int) -> timedelta | None:
    return from_us(us).astimezone(tz).utcoffset()


@lru_cache(maxsize=16384)
def _day_cuts(zone_name: str, ordinal: int, marks: tuple[int, ...]) -> tuple[int, ...]:
    """Instants (µs, UTC) in one local day where a local-time restriction can change:
    each mark that exists that day, twice if the day repeats it (fall back), and the
    instant the offset changes (spring forward skips marks; the jump is the change)."""
    tz = ZoneInfo(zone_name)
    day = date.fromordinal(ordinal)
    found: set[int] = set()
    for mark in marks:
        naive = datetime(day.year, day.month, day.day, mark // 60, mark % 60)
        for fold in (0, 1):
            instant = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)
            if instant.astimezone(tz).replace(tzinfo=None) == naive:  # exists that day
                found.add(to_us(instant))
    begin = to_us(datetime(day.year, day.month, day.day, tzinfo=tz))
    following = day + timedelta(days=1)
    end = to_us(datetime(following.year, following.month, following.day, tzinfo=tz))
    before, after = _offset(tz, begin), _offset(tz, end)
    if before != after:
        lo, hi = begin // _US, end // _US  # seconds: the change is the first with `after`
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset(tz, mid * _US) == after:
                hi = mid
            else:
                lo = mid
        found.add(hi * _US)
    return tuple(sorted(found))


def _local_cuts(tz: ZoneInfo, lo: int, hi: int, marks: tuple[int, ...]) -> list[int]:
    first = from_us(lo).astimezone(tz).date().toordinal() - 1
    last = from_us(hi).astimezone(tz).date().toordinal() + 1
    cuts: list[int] = []
    for ordinal in range(first, last + 1):
        cuts.extend(c for c in _day_cuts(tz.key, ordinal, marks) if lo < c < hi)
    return cuts


# --------------------------------------------------------------------------- periods


@dataclass(slots=True)
class _Period:
    start: int
    end: int
    kind: PeriodKind
    energy_wh: int
    duration_us: int
    energy: _Candidate | None
    time: _Candidate | None


def _first(
    candidates: tuple[_Candidate, ...], at: _At, memo: list[bool | None]
) -> _Candidate | None:
    for candidate in candidates:
        if candidate.cond is None:
            return candidate
        known = memo[candidate.element]
        if known is None:
            known = memo[candidate.element] = candidate.cond.holds(at)
        if known:
            return candidate
    return None


def _state_steps(usage: SessionUsage, lo: int, hi: int) -> list[tuple[int, PeriodKind]]:
    """The session's states as (from, kind) steps over [lo, hi), gaps charging."""
    spans = sorted(
        ((to_us(i.start), to_us(i.end), i.state) for i in usage.intervals),
        key=lambda span: span[0],
    )
    steps: list[tuple[int, PeriodKind]] = []

    def add(at: int, kind: PeriodKind) -> None:
        if steps and steps[-1][1] == kind:
            return
        if steps and steps[-1][0] == at:
            steps.pop()
            if steps and steps[-1][1] == kind:
                return
        steps.append((at, kind))

    cursor = lo
    for start, end, state in spans:
        start, end = max(start, cursor), min(end, hi)
        if end <= start:
            continue
        if start > cursor:
            add(cursor, PeriodKind.CHARGING)
        add(start, PeriodKind.CHARGING if state == ChargingState.CHARGING else PeriodKind.IDLE)
        cursor = end
    if cursor < hi or not steps:
        add(cursor, PeriodKind.CHARGING)
    return steps


def _kwh_cuts(
    track: ReadingTrack, e0: int, thresholds: tuple[int, ...], lo: int, hi: int
) -> list[int]:
    """Instants where the energy charged since the start reaches each threshold (Wh),
    interpolated between readings and rounded up to the µs, so it has been reached."""
    cuts = []
    for threshold in thresholds:
        target = e0 + threshold
        j = bisect_left(track.wh, target)
        if j == 0 or j == len(track.wh):
            continue
        t0, t1 = track.times[j - 1], track.times[j]
        e_0, e_1 = track.wh[j - 1], track.wh[j]
        at = t0 + -(-(target - e_0) * (t1 - t0) // (e_1 - e_0))
        if lo < at < hi:
            cuts.append(at)
    return cuts


def _price_span(
    lo: int,
    hi: int,
    steps: list[tuple[int, PeriodKind]],
    extra_cuts: list[int],
    *,
    compiled: _Compiled,
    tz: ZoneInfo,
    local: bool,
    track: ReadingTrack | None,
    energy: tuple[_Candidate, ...],
    time_by_kind: dict[PeriodKind, tuple[_Candidate, ...]],
    flat: tuple[_Candidate, ...],
) -> tuple[list[_Period], _Candidate | None, int | None]:
    """Cut [lo, hi) into pieces, price each, merge neighbours priced alike.

    Returns the periods, the FLAT candidate charged (if any) and the index of the period
    it was charged in."""
    cut_set = {lo, hi, *extra_cuts}
    cut_set.update(at for at, _ in steps)
    if local:
        cut_set.update(_local_cuts(tz, lo, hi, compiled.marks))
    if track is not None and compiled.per_reading:
        cut_set.update(t for t in track.times if lo < t < hi)
    cuts = sorted(c for c in cut_set if lo <= c <= hi)
    if track is not None:
        e0 = track.energy_at(lo)
        # non-decreasing: the register is, and so is its interpolation rounded half up
        levels = [track.energy_at(c) - e0 for c in cuts]
    else:
        levels = [0] * len(cuts)

    periods: list[_Period] = []
    flat_charged: _Candidate | None = None
    flat_period: int | None = None
    at = _At()
    step_index = 0
    pieces = max(len(cuts) - 1, 1)  # a zero-length span still owes its FLAT
    for i in range(pieces):
        a = cuts[i]
        b = cuts[i + 1] if i + 1 < len(cuts) else a
        while step_index + 1 < len(steps) and steps[step_index + 1][0] <= a:
            step_index += 1
        kind = steps[step_index][1]
        if local:
            wall = from_us(a).astimezone(tz)
            at.minute = wall.hour * 60 + wall.minute
            at.weekday = wall.weekday()
            at.day = wall.date()
        at.consumed_wh = levels[i]
        at.elapsed_us = a - lo
        if track is not None and compiled.per_reading:
            at.power_w = track.power_at(a)
            at.current_a = track.current_at(a)
        memo: list[bool | None] = [None] * compiled.n_elements
        energy_by = _first(energy, at, memo)
        time_by = _first(time_by_kind[kind], at, memo)
        if flat_charged is None and flat:
            flat_charged = _first(flat, at, memo)
            if flat_charged is not None and b > a:
                flat_period = len(periods)
        if b <= a:
            continue
        energy_wh = levels[i + 1] - levels[i]
        last = periods[-1] if periods else None
        if (
            last is not None
            and last.kind == kind
            and last.energy is energy_by
            and last.time is time_by
            and flat_period != len(periods)
        ):
            last.end = b
            last.energy_wh += energy_wh
            last.duration_us += b - a
        else:
            periods.append(_Period(a, b, kind, energy_wh, b - a, energy_by, time_by))
    if flat_period is not None and flat_period >= len(periods):
        flat_period = None
    return periods, flat_charged, flat_period


# --------------------------------------------------------------------------- costs


@dataclass(slots=True)
class _Group:
    """What one price component priced, in base units (Wh, µs, count)."""

    dimension: CostDimension
    candidate: _Candidate
    quantity: int
    extra: int = 0  # step_size rounding, in the same unit
    excl: Fraction = _ZERO  # exact amounts, set once by settle()
    incl: Fraction = _ZERO

    @property
    def unit_divisor(self) -> int:
        kind = self.candidate.component.type
        if kind == DimensionType.ENERGY:
            return 1000
        if kind == DimensionType.FLAT:
            return 1
        return _US_PER_HOUR

    def settle(self) -> None:
        c = self.candidate
        numerator = c.price_n * (self.quantity + self.extra)
        denominator = c.price_d * self.unit_divisor
        self.excl = Fraction(numerator, denominator)
        self.incl = Fraction(numerator * c.vat_n, denominator * c.vat_d)

    def shown(self, unit: int) -> Decimal:
        """A base-unit quantity as reported: Wh and counts as they are, µs as seconds."""
        if self.unit_divisor == _US_PER_HOUR:
            return _seconds(unit)
        return Decimal(unit)


def _add(
    groups: dict[tuple[CostDimension, int, DimensionType], _Group],
    dimension: CostDimension,
    candidate: _Candidate,
    quantity: int,
) -> _Group:
    key = (dimension, candidate.element, candidate.component.type)
    group = groups.get(key)
    if group is None:
        group = groups[key] = _Group(dimension, candidate, 0)
    group.quantity += quantity
    return group


def _round_up_total(groups: list[_Group], last: _Group, multiplier: int) -> None:
    """One step_size rounding for a dimension: its priced total up to the last
    relevant component's step, the difference billed at that component's price."""
    step = max(last.candidate.component.step_size, 1) * multiplier
    total = sum(g.quantity for g in groups)
    billed = -(-total // step) * step
    last.extra += billed - total


def _time_dimension(kind: PeriodKind) -> CostDimension:
    if kind == PeriodKind.CHARGING:
        return CostDimension.TIME
    if kind == PeriodKind.IDLE:
        return CostDimension.PARKING_TIME
    return CostDimension.RESERVATION


def rate_session(usage: SessionUsage, tariff: Tariff) -> RatedSession:
    """Price a session by a tariff version (the one in force when it started; see
    :func:`~chargeops.billing.tariffs.tariff_in_force`)."""
    compiled = _compile(tariff)
    tz = zone(usage.time_zone)
    lo, hi = to_us(usage.start), to_us(usage.end)
    track = ReadingTrack(usage.readings)
    reservation = usage.reservation
    expired = reservation is not None and reservation.expired

    reserved_periods: list[_Period] = []
    reserved_flat: _Candidate | None = None
    reserved_flat_period: int | None = None
    if reservation is not None:
        r_lo, r_hi = to_us(reservation.start), to_us(reservation.end)
        time_candidates = compiled.expired_time if expired else compiled.reserved_time
        flat_candidates = compiled.expired_flat if expired else compiled.reserved_flat
        reserved_periods, reserved_flat, reserved_flat_period = _price_span(
            r_lo,
            r_hi,
            [(r_lo, PeriodKind.RESERVATION)],
            [r_lo + d for d in compiled.reservation_durations],
            compiled=compiled,
            tz=tz,
            local=compiled.reservation_local,
            track=None,
            energy=(),
            time_by_kind={PeriodKind.RESERVATION: time_candidates},
            flat=flat_candidates,
        )

    session_periods: list[_Period] = []
    session_flat: _Candidate | None = None
    session_flat_period: int | None = None
    if not expired:
        extra = [lo + d for d in compiled.session_durations]
        if track and compiled.session_kwh:
            extra += _kwh_cuts(track, track.energy_at(lo), compiled.session_kwh, lo, hi)
        session_periods, session_flat, session_flat_period = _price_span(
            lo,
            hi,
            _state_steps(usage, lo, hi),
            extra,
            compiled=compiled,
            tz=tz,
            local=compiled.session_local,
            track=track if track else None,
            energy=compiled.energy,
            time_by_kind={PeriodKind.CHARGING: compiled.time, PeriodKind.IDLE: compiled.parking},
            flat=compiled.flat,
        )

    # -- what each component priced, and step_size once per dimension
    groups: dict[tuple[CostDimension, int, DimensionType], _Group] = {}
    last_energy: _Group | None = None
    last_time: _Group | None = None
    last_reserved: _Group | None = None
    for p in reserved_periods:
        if p.time is not None and p.duration_us > 0:
            last_reserved = _add(groups, CostDimension.RESERVATION, p.time, p.duration_us)
    for p in session_periods:
        if p.energy is not None and p.energy_wh > 0:
            last_energy = _add(groups, CostDimension.ENERGY, p.energy, p.energy_wh)
        if p.time is not None and p.duration_us > 0:
            last_time = _add(groups, _time_dimension(p.kind), p.time, p.duration_us)
    if last_energy is not None:
        _round_up_total(
            [g for g in groups.values() if g.dimension == CostDimension.ENERGY], last_energy, 1
        )
    if last_time is not None:
        _round_up_total(
            [g for g in groups.values() if g.dimension == last_time.dimension], last_time, _US
        )
    if last_reserved is not None:
        _round_up_total(
            [
                g
                for g in groups.values()
                if g.dimension == CostDimension.RESERVATION
                and g.candidate.component.type == DimensionType.TIME
            ],
            last_reserved,
            _US,
        )
    if reserved_flat is not None:
        _add(groups, CostDimension.RESERVATION, reserved_flat, 1)
    if session_flat is not None:
        _add(groups, CostDimension.FLAT, session_flat, 1)

    for group in groups.values():
        group.settle()
    places = minor_unit(tariff.currency)

    def money(excl: Fraction, incl: Fraction) -> Price:
        return Price(round_money(excl, places), round_money(incl, places))

    order = list(CostDimension)
    ordered = sorted(groups.values(), key=lambda g: order.index(g.dimension))
    lines = tuple(
        CostLine(
            dimension=g.dimension,
            element=g.candidate.element,
            component=g.candidate.component,
            quantity=g.shown(g.quantity),
            billed=g.shown(g.quantity + g.extra),
            cost=money(g.excl, g.incl),
        )
        for g in ordered
    )

    # -- measured totals
    energy_wh = sum(p.energy_wh for p in session_periods)
    charging_us = sum(p.duration_us for p in session_periods if p.kind == PeriodKind.CHARGING)
    parking_us = sum(p.duration_us for p in session_periods if p.kind == PeriodKind.IDLE)
    reserved_us = sum(p.duration_us for p in reserved_periods)
    measured = {
        CostDimension.ENERGY: Decimal(energy_wh),
        CostDimension.TIME: _seconds(charging_us),
        CostDimension.PARKING_TIME: _seconds(parking_us),
        CostDimension.FLAT: Decimal(1 if session_flat is not None else 0),
        CostDimension.RESERVATION: _seconds(reserved_us),
    }
    dimensions = []
    for dimension in CostDimension:
        members = [g for g in ordered if g.dimension == dimension]
        billed_units = sum(
            (
                g.shown(g.quantity + g.extra)
                for g in members
                if g.candidate.component.type != DimensionType.FLAT
                or dimension == CostDimension.FLAT
            ),
            Decimal(0),
        )
        dimensions.append(
            DimensionCost(
                dimension=dimension,
                quantity=measured[dimension],
                billed=billed_units,
                cost=money(
                    sum((g.excl for g in members), _ZERO), sum((g.incl for g in members), _ZERO)
                ),
            )
        )

    # -- total, limits, the one rounding
    raw_excl = sum((g.excl for g in ordered), _ZERO)
    raw_incl = sum((g.incl for g in ordered), _ZERO)
    excl, incl = raw_excl, raw_incl
    min_applied = max_applied = False
    low, high = tariff.min_price, tariff.max_price
    if low is not None:
        floor_excl = Fraction(low.excl_vat)
        if excl < floor_excl:
            min_applied = True
            if low.incl_vat is None:
                # no incl. figure given: the session's own VAT mix, or none if it has none
                incl = incl * floor_excl / excl if excl else incl + (floor_excl - excl)
            excl = floor_excl
        if low.incl_vat is not None and incl < Fraction(low.incl_vat):
            min_applied = True
            incl = Fraction(low.incl_vat)
    if high is not None:
        ceiling_excl = Fraction(high.excl_vat)
        if excl > ceiling_excl:
            max_applied = True
            if high.incl_vat is None:
                incl = incl * ceiling_excl / excl
            excl = ceiling_excl
        if high.incl_vat is not None and incl > Fraction(high.incl_vat):
            max_applied = True
            incl = Fraction(high.incl_vat)

    # -- periods, reservation first
    def period_out(p: _Period, flat: _Candidate | None) -> ChargingPeriod:
        # informational: a sum of integer ratios, rounded once for display
        n, d = 0, 1
        if p.energy is not None:
            n, d = (
                n * p.energy.price_d * 1000 + p.energy.price_n * p.energy_wh * d,
                (d * p.energy.price_d * 1000),
            )
        if p.time is not None:
            n, d = (
                n * p.time.price_d * _US_PER_HOUR + p.time.price_n * p.duration_us * d,
                (d * p.time.price_d * _US_PER_HOUR),
            )
        if flat is not None:
            n, d = n * flat.price_d + flat.price_n * d, d * flat.price_d
        return ChargingPeriod(
            start=from_us(p.start),
            end=from_us(p.end),
            kind=p.kind,
            energy_wh=p.energy_wh,
            duration_s=_seconds(p.duration_us),
            energy_element=p.energy.element if p.energy is not None else None,
            time_element=p.time.element if p.time is not None else None,
            flat_element=flat.element if flat is not None else None,
            cost_excl=_round_ratio(n, d, places),
        )

    periods = tuple(
        [
            period_out(p, reserved_flat if i == reserved_flat_period else None)
            for i, p in enumerate(reserved_periods)
        ]
        + [
            period_out(p, session_flat if i == session_flat_period else None)
            for i, p in enumerate(session_periods)
        ]
    )

    return RatedSession(
        currency=tariff.currency,
        tariff_id=tariff.id,
        tariff_version=tariff.version,
        time_zone=usage.time_zone,
        start=usage.start,
        end=usage.end,
        periods=periods,
        energy_wh=energy_wh,
        charging_s=measured[CostDimension.TIME],
        parking_s=measured[CostDimension.PARKING_TIME],
        reservation_s=measured[CostDimension.RESERVATION],
        dimensions=tuple(dimensions),
        lines=lines,
        total_before_limits=money(raw_excl, raw_incl),
        total=money(excl, incl),
        min_price_applied=min_applied,
        max_price_applied=max_applied,
        exact_excl=excl,
        exact_incl=incl,
    )


# --------------------------------------------------------------------------- quotes


def synthesize_session(
    *,
    start: datetime,
    time_zone: str,
    energy_wh: int,
    power_w: Decimal | int | None = None,
    duration: timedelta | None = None,
    idle: timedelta = timedelta(0),
    current_a: Decimal | None = None,
    reserved: timedelta | None = None,
) -> SessionUsage:
    """A made-up session for a quote or a preview: ``energy_wh`` charged evenly, then
    ``idle`` connected but not charging.

    ``start`` may be naive: it is then wall-clock time in ``time_zone`` ("18:00 on a
    Saturday"). Give ``power_w`` (charging lasts energy / power, "30 kWh at the
    connector's 22 kW") or ``duration`` ("a 45-minute, 22 kWh session"), or both (the
    power is then what power restrictions see). ``reserved`` adds a reservation of that
    length ending at the start.
    """
    tz = zone(time_zone)
    if energy_wh < 0:
        raise InvalidInput("energy_wh: must not be negative")
    if idle < timedelta(0):
        raise InvalidInput("idle: must not be negative")
    begin = start.replace(tzinfo=tz) if start.tzinfo is None else start
    begin = begin.astimezone(UTC)
    if duration is not None:
        if duration < timedelta(0):
            raise InvalidInput("duration: must not be negative")
        charge_us = duration // timedelta(microseconds=1)
    elif power_w is not None and Decimal(power_w) > 0:
        # whole seconds, rounded up: the energy is reached, not nearly reached
        seconds = -(-(Fraction(energy_wh) * 3600 / Fraction(Decimal(power_w))) // 1)
        charge_us = int(seconds) * _US
    elif energy_wh == 0:
        charge_us = 0
    else:
        raise InvalidInput("power_w or duration: one is needed to place the energy in time")
    power = None if power_w is None else Decimal(power_w)
    lo = to_us(begin)
    charge_end = lo + charge_us
    end = charge_end + idle // timedelta(microseconds=1)
    readings = [MeterReading(begin, 0, power, current_a)]
    if charge_us > 0:
        stops = Decimal(0) if power is not None else None
        readings.append(
            MeterReading(from_us(charge_end), energy_wh, stops, Decimal(0) if current_a else None)
        )
    intervals = []
    if charge_us > 0:
        intervals.append(StateInterval(begin, from_us(charge_end), ChargingState.CHARGING))
    if end > charge_end:
        intervals.append(StateInterval(from_us(charge_end), from_us(end), ChargingState.IDLE))
    return SessionUsage(
        start=begin,
        end=from_us(end),
        time_zone=time_zone,
        readings=readings,
        intervals=intervals,
        reservation=None if reserved is None else Reservation(begin - reserved, begin),
    )


def quote(
    tariff: Tariff,
    *,
    start: datetime,
    time_zone: str,
    energy_wh: int,
    power_w: Decimal | int | None = None,
    duration: timedelta | None = None,
    idle: timedelta = timedelta(0),
    current_a: Decimal | None = None,
    reserved: timedelta | None = None,
) -> RatedSession:
    """What a session like this would cost: the API's quote, the tariff editor's preview
    ("a 45-minute, 22 kWh session at 18:00 on a Saturday costs ..."). Same rating as a
    real session, on a session from :func:`synthesize_session`."""
    usage = synthesize_session(
        start=start,
        time_zone=time_zone,
        energy_wh=energy_wh,
        power_w=power_w,
        duration=duration,
        idle=idle,
        current_a=current_a,
        reserved=reserved,
    )
    return rate_session(usage, tariff)
