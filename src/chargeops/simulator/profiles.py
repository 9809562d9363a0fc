"""Smart charging on a simulated station: the profiles the CSMS installed, and the limit
they put on each connector at a given moment.

Pure and clock-free (times are passed in), in no OCPP version's words: the wirings
translate ``SetChargingProfile`` into a :class:`ChargingProfile` and a composite schedule
back into their message. The rules are OCPP's, shared by 1.6 and 2.0.1:

- a connector's own limit comes from its transaction's TxProfile if one is in force,
  else from a TxDefaultProfile (one on the connector beats one for the whole station);
- within a purpose, the highest stack level that has a period in force wins, so a
  profile whose schedule has ended lets the one below it show through;
- the station's maximum profile caps the whole station, so it is shared by the
  connectors drawing power; and no limit raises a connector above its hardware.

Limits in amperes become watts at the nominal 230 V per phase, which is what an AC
charger means by a current limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chargeops.simulator.meter import AC_PHASE_VOLTAGE_V


class Purpose(StrEnum):
    """What a profile limits; each wiring spells the station's maximum its own way."""

    STATION_MAX = "StationMax"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class Kind(StrEnum):
    """When a profile's schedule starts: at a time, every day or week, or with the session."""

    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class RateUnit(StrEnum):
    WATTS = "W"
    AMPERES = "A"


_RECURRENCE = {"Daily": timedelta(days=1), "Weekly": timedelta(days=7)}


@dataclass(frozen=True, slots=True)
class Period:
    """From ``start_s`` into the schedule on, at most ``limit`` (in the profile's unit)."""

    start_s: int
    limit: float
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    """One installed profile; ``connector_id`` 0 is the station as a whole."""

    profile_id: int
    connector_id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    unit: RateUnit
    periods: tuple[Period, ...]
    #: When it arrived: where an Absolute or Recurring schedule without a start begins.
    received_at: datetime
    start_schedule: datetime | None = None
    duration_s: int | None = None
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None

    def _starts(self, at: datetime, session_start: datetime) -> Iterator[datetime]:
        """The schedule's starts, from the one in force at ``at`` on (one for non-recurring)."""
        if self.kind is Kind.RELATIVE:
            yield session_start
            return
        base = self.start_schedule or self.received_at
        every = _RECURRENCE.get(self.recurrency or "")
        if self.kind is not Kind.RECURRING or every is None:
            yield base
            return
        start = base + every * ((at - base) // every)
        while True:
            yield start
            start += every

    def _valid(self, at: datetime) -> bool:
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.valid_to is None or at < self.valid_to

    def period_at(self, at: datetime, session_start: datetime) -> Period | None:
        """The period in force at ``at``; None when the profile does not limit then."""
        if not self._valid(at):
            return None
        start = next(self._starts(at, session_start))
        offset = (at - start).total_seconds()
        if offset < 0 or (self.duration_s is not None and offset >= self.duration_s):
            return None
        current = None
        for period in self.periods:
            if period.start_s <= offset:
                current = period
        return current

    def changes(self, begin: datetime, end: datetime, session_start: datetime) -> set[datetime]:
        """Moments in [begin, end) at which this profile's limit may change."""
        out = {t for t in (self.valid_from, self.valid_to) if t is not None}
        for start in self._starts(begin, session_start):
            if start >= end:
                break
            out.update(start + timedelta(seconds=p.start_s) for p in self.periods)
            if self.duration_s is not None:
                out.add(start + timedelta(seconds=self.duration_s))
            if self.kind is not Kind.RECURRING:
                break
        return {t for t in out if begin < t < end}


def watts(limit: float, unit: RateUnit, phases: int) -> float:
    """A limit in watts: amperes per phase at 230 V on ``phases`` phases."""
    return limit if unit is RateUnit.WATTS else limit * AC_PHASE_VOLTAGE_V * phases


def in_unit(limit_w: float, unit: RateUnit, phases: int) -> float:
    """A limit in watts, in ``unit`` (OCPP allows one decimal)."""
    value = limit_w if unit is RateUnit.WATTS else limit_w / (AC_PHASE_VOLTAGE_V * phases)
    return round(value, 1)


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    """The limit a station expects to hold to, from ``start`` for ``duration_s``."""

    start: datetime
    duration_s: int
    #: (offset s, limit W), the first at offset 0.
    periods: list[tuple[int, float]]
    #: The phases a current limit is spread over, for a schedule asked for in amperes.
    phases: int

    def in_unit(self, unit: RateUnit) -> list[tuple[int, float]]:
        return [(offset, in_unit(limit, unit, self.phases)) for offset, limit in self.periods]


@dataclass(frozen=True, slots=True)
class ConnectorLoad:
    """What a limit depends on besides the profiles: the connector and its session."""

    connector_id: int
    max_power_w: float
    phases: int
    transaction_id: str | None = None
    #: When the session started: where Relative schedules begin (else: now).
    session_start: datetime | None = None


class ChargingProfiles:
    """The profiles installed on one station, as OCPP replaces and clears them."""

    def __init__(self) -> None:
        self._profiles: dict[int, ChargingProfile] = {}

    def __iter__(self) -> Iterator[ChargingProfile]:
        return iter(sorted(self._profiles.values(), key=lambda p: p.profile_id))

    def __len__(self) -> int:
        return len(self._profiles)

    def install(self, profile: ChargingProfile) -> None:
        """A profile with the same id, or the same purpose and stack level on the same
        connector, is replaced: that is how a CSMS changes a limit."""
        for old in list(self._profiles.values()):
            same_slot = (old.connector_id, old.purpose, old.stack_level) == (
                profile.connector_id,
                profile.purpose,
                profile.stack_level,
            )
            if old.profile_id == profile.profile_id or same_slot:
                del self._profiles[old.profile_id]
        self._profiles[profile.profile_id] = profile

    def clear(
        self,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> int:
        """Remove the profile with ``profile_id``, or else every profile matching all the
        criteria given (none given: every profile); returns how many went."""
        if profile_id is not None:
            return 1 if self._profiles.pop(profile_id, None) is not None else 0
        gone = [
            p.profile_id
            for p in self._profiles.values()
            if connector_id in (None, p.connector_id)
            and purpose in (None, p.purpose)
            and stack_level in (None, p.stack_level)
        ]
        for key in gone:
            del self._profiles[key]
        return len(gone)

    def end_transaction(self, connector_id: int) -> None:
        """A TxProfile lives as long as its transaction."""
        self.clear(connector_id=connector_id, purpose=Purpose.TX)

    def _highest(
        self, purpose: Purpose, connector_id: int, at: datetime, load: ConnectorLoad
    ) -> float | None:
        """The limit (W) of the highest stack level of ``purpose`` in force at ``at``."""
        candidates = sorted(
            (
                p
                for p in self._profiles.values()
                if p.purpose is purpose
                and p.connector_id == connector_id
                and (purpose is not Purpose.TX or p.transaction_id in (None, load.transaction_id))
            ),
            key=lambda p: -p.stack_level,
        )
        for profile in candidates:
            period = profile.period_at(at, load.session_start or at)
            if period is not None:
                phases = min(period.phases or load.phases, load.phases)
                return watts(period.limit, profile.unit, phases)
        return None

    def station_limit_w(self, at: datetime, phases: int) -> float | None:
        """What the station's maximum profile allows the whole station at ``at``."""
        whole = ConnectorLoad(0, float("inf"), phases)
        return self._highest(Purpose.STATION_MAX, 0, at, whole)

    def limit_w(self, load: ConnectorLoad, at: datetime, sharing: int = 1) -> float:
        """The most ``load``'s connector may draw at ``at``, its station's share among
        ``sharing`` connectors drawing power included."""
        limits = [load.max_power_w]
        own = None
        if load.transaction_id is not None:
            own = self._highest(Purpose.TX, load.connector_id, at, load)
        if own is None:
            own = self._highest(Purpose.TX_DEFAULT, load.connector_id, at, load)
        if own is None:
            own = self._highest(Purpose.TX_DEFAULT, 0, at, load)
        if own is not None:
            limits.append(own)
        station = self._highest(Purpose.STATION_MAX, 0, at, load)
        if station is not None:
            limits.append(station / max(sharing, 1))
        return max(0.0, min(limits))

    def composite(
        self,
        loads: Iterable[ConnectorLoad],
        begin: datetime,
        duration_s: int,
        sharing: int = 1,
    ) -> list[tuple[int, float]]:
        """The limit (W) over ``duration_s`` from ``begin``, as (offset s, limit) periods,
        summed over ``loads`` (one connector, or every connector for the station)."""
        loads = list(loads)
        end = begin + timedelta(seconds=duration_s)
        moments = {begin}
        for profile in self._profiles.values():
            for load in loads:
                moments |= profile.changes(begin, end, load.session_start or begin)
        periods: list[tuple[int, float]] = []
        for moment in sorted(moments):
            total = sum(self.limit_w(load, moment, sharing) for load in loads)
            station = self.station_limit_w(moment, loads[0].phases) if len(loads) > 1 else None
            if station is not None:
                total = min(total, station)
            offset = int((moment - begin).total_seconds())
            if periods and periods[-1][1] == total:
                continue
            if periods and periods[-1][0] == offset:
                periods[-1] = (offset, total)
            else:
                periods.append((offset, total))
        return periods
