"""Anomaly detectors: what no station reports but the data shows. Each has a name (the
``detector`` of its :class:`~chargeops.monitoring.models.Anomaly` rows) and thresholds
the operator sets in configuration (:class:`Thresholds`). The decisions are pure
functions of figures; the queries that gather those figures are at the end of this
module; :mod:`chargeops.monitoring.service` runs both and writes what they found through
:mod:`chargeops.monitoring.anomalies`. At most one anomaly is open per station, EVSE and
detector: finding the same again counts an occurrence on the open one.

How each one decides:

``meter_backwards`` / ``meter_jump`` (on each MeterValues with samples, and over the
whole session when it ends)
    The total energy register (Energy.Active.Import.Register, no phase, plain not signed
    data; Outlet and Inlet meters judged apart) read in time order, the session's meter
    start first. A reading at least 1 Wh below the one before is *backwards*; a rise that
    would need more than ``meter_jump_kw`` over the time between the two readings (taken
    as at least 1 s) is a *jump*. Each step found is an occurrence at the time of its
    later reading, so the same step seen again (a retried MeterValues, the end-of-session
    pass) is not counted twice. Cleared when a later session at that EVSE ends with its
    register stepping normally. OCPP 2.0.1 sends transaction meter values inside
    TransactionEvents, which publish MeterSampled like a 1.6 MeterValues (all but the
    Ended event, whose readings the end of the session judges).

``meter_silent`` (periodic)
    A session open and charging (2.0.1 chargingState ``Charging``; 1.6: the connector's
    status ``Charging``) whose last meter value is more than ``meter_silent_minutes`` old
    (counted from when charging began if that is later, or from the start if no value
    came at all). Stations known to be offline are skipped: connectivity reports them.
    Cleared when a newer value is stored, or the session stops charging or ends.

``session_stuck`` (periodic)
    A session still open more than ``session_stuck_hours`` after it started, charging or
    not (a StopTransaction that never came leaves a session open on an Available
    connector). One per EVSE: the oldest. Cleared when that session ends.

``slow_charging`` (periodic)
    A charging session whose active import power (Power.Active.Import, the total or the
    sum of phases; else the rate of the energy register) stayed below
    ``slow_charging_ratio`` x what is allowed for ``slow_charging_minutes`` (the last
    reading before the window and every reading in it; readings hold until the next).
    What is allowed is the lowest of: the charger's latest Power.Offered; its latest
    Current.Offered x the latest phase voltage x the phases drawing current (1 when not
    reported); and the device model's EVSE/ChargingStation ``AvailablePower`` (Actual)
    or ``Power`` (maxLimit, MaxSet) (2.0.1 NotifyReport; 1.6 has no standard for it).
    If nothing says what is allowed, the detector stays silent for that session: it
    does not guess. Above ``slow_charging_max_soc_percent`` state of charge the car
    itself slows down, so that is not slow. Cleared when the latest power reaches the
    limit again, or the session stops charging or ends.

``auth_failures`` (on each Authorize answered)
    ``auth_failures_count`` refusals in a row (anything but Accepted) at the station
    within ``auth_failures_minutes``, counted back from the newest Authorize to the last
    one accepted. Authorize names no EVSE in 1.6 or 2.0.1, so this sits on EVSE 0.
    Cleared by the next Accepted.

``reboot_loop`` (on each BootNotification)
    ``reboot_loop_count`` boots or more within ``reboot_loop_minutes``, on EVSE 0.
    Cleared by the periodic check once a whole window has passed without a boot.

``failing_starts`` (when a session ends)
    The last ``failing_starts_count`` sessions at the EVSE (those authorized, or started
    without a token) each lasted under ``failing_start_max_s`` and delivered under
    ``failing_start_max_wh`` (none measured counts as nothing): the connector may show
    Available, but nobody can charge there. Cleared when a session there succeeds.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.errors import InvalidInput
from chargeops.monitoring.models import Anomaly, StationConnectivity
from chargeops.sessions.models import ChargingSession, MeterValue
from chargeops.stations.models import Connector, Station, StationEvent, StationVariable

SLOW_CHARGING = "slow_charging"
METER_BACKWARDS = "meter_backwards"
METER_JUMP = "meter_jump"
METER_SILENT = "meter_silent"
SESSION_STUCK = "session_stuck"
AUTH_FAILURES = "auth_failures"
REBOOT_LOOP = "reboot_loop"
FAILING_STARTS = "failing_starts"
DETECTORS = (
    SLOW_CHARGING,
    METER_BACKWARDS,
    METER_JUMP,
    METER_SILENT,
    SESSION_STUCK,
    AUTH_FAILURES,
    REBOOT_LOOP,
    FAILING_STARTS,
)
# those the periodic check opens or clears
PERIODIC = (SLOW_CHARGING, METER_SILENT, SESSION_STUCK, REBOOT_LOOP)

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
POWER_OFFERED = "Power.Offered"
CURRENT_OFFERED = "Current.Offered"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
SOC = "SoC"
ACCEPTED = "Accepted"
CHARGING = "Charging"
# sessions that count for failing starts: authorized, or started before any token
_COUNTED_AUTHORIZATIONS = ("Accepted", "NoAuthorization")
_BACKWARDS_TOLERANCE_WH = 1.0  # less is rounding, not a meter going back
_MIN_STEP_S = 1.0  # timestamps are often whole seconds
_DRAWING_A = 1.0  # a phase carrying less current is not in use


class InvalidThresholds(InvalidInput, ValueError):
    """Thresholds that cannot be used (a ValueError too, so settings validation reports
    it as a configuration error)."""


# name: (whole number?, lowest allowed, lowest included?, highest allowed)
_RULES: dict[str, tuple[bool, float, bool, float]] = {
    "slow_charging_ratio": (False, 0, False, 1),
    "slow_charging_minutes": (False, 0, False, math.inf),
    "slow_charging_max_soc_percent": (False, 0, False, 100),
    "meter_jump_kw": (False, 0, False, math.inf),
    "meter_silent_minutes": (False, 0, False, math.inf),
    "session_stuck_hours": (False, 0, False, math.inf),
    "auth_failures_count": (True, 1, True, math.inf),
    "auth_failures_minutes": (False, 0, False, math.inf),
    "reboot_loop_count": (True, 2, True, math.inf),
    "reboot_loop_minutes": (False, 0, False, math.inf),
    "failing_starts_count": (True, 1, True, math.inf),
    "failing_start_max_s": (False, 0, False, math.inf),
    "failing_start_max_wh": (False, 0, False, math.inf),
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When each detector speaks. Units are in the names; ``disabled`` names detectors
    that never run."""

    slow_charging_ratio: float = 0.5
    slow_charging_minutes: float = 10
    slow_charging_max_soc_percent: float = 80
    meter_jump_kw: float = 400
    meter_silent_minutes: float = 15
    session_stuck_hours: float = 12
    auth_failures_count: int = 5
    auth_failures_minutes: float = 10
    reboot_loop_count: int = 3
    reboot_loop_minutes: float = 30
    failing_starts_count: int = 3
    failing_start_max_s: float = 60
    failing_start_max_wh: float = 100
    disabled: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        problems = [p for name in _RULES if (p := _check(name, getattr(self, name)))]
        problems += [f"disabled: no detector {d!r}" for d in sorted(self.disabled - set(DETECTORS))]
        if problems:
            raise InvalidThresholds("anomaly thresholds: " + "; ".join(problems))

    def enabled(self, detector: str) -> bool:
        return detector not in self.disabled

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Thresholds:
        """Thresholds from configuration (e.g. ``{"session_stuck_hours": 8, "disabled":
        ["slow_charging"]}``); what is not given keeps its default. Every problem is
        reported at once, by name."""
        known = {f.name for f in fields(cls)}
        problems: list[str] = []
        given: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                close = difflib.get_close_matches(str(name), sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"unknown threshold {name!r}{hint}")
            elif name == "disabled":
                names = _detector_names(value)
                if names is None:
                    problems.append(f"disabled must be a list of detector names, not {value!r}")
                else:
                    given[name] = names
            elif problem := _check(name, value):
                problems.append(problem)
            else:
                given[name] = int(value) if _RULES[name][0] else float(value)
        if problems:
            problems.append("known: " + ", ".join(sorted(known)))
            raise InvalidThresholds("anomaly thresholds: " + "; ".join(problems))
        return cls(**given)


def _check(name: str, value: Any) -> str | None:
    whole, low, low_included, high = _RULES[name]
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return f"{name} must be a number, not {value!r}"
    if not math.isfinite(value):
        return f"{name} must be finite, not {value!r}"
    if whole and value != int(value):
        return f"{name} must be a whole number, not {value!r}"
    if (value < low if low_included else value <= low) or value > high:
        bound = f"{'at least' if low_included else 'more than'} {low:g}"
        if high != math.inf:
            bound += f" and at most {high:g}"
        return f"{name} must be {bound}, not {value!r}"
    return None


def _detector_names(value: Any) -> frozenset[str] | None:
    if isinstance(value, str) or not isinstance(value, Iterable):
        return None
    names = list(value)
    if not all(isinstance(n, str) for n in names):
        return None
    return frozenset(names)


# --- what detectors find ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Detection:
    """An anomaly found: what :func:`chargeops.monitoring.anomalies.detect` records.
    ``ongoing``: a periodic check seeing a condition that still holds (its figures are
    refreshed, and only another session counts another occurrence)."""

    station_id: str
    evse_id: int
    detector: str
    summary: str
    detail: dict[str, Any]
    at: datetime
    session_id: int | None = None
    ongoing: bool = False


def where(station_id: str, evse_id: int) -> str:
    return station_id if evse_id == 0 else f"{station_id} EVSE {evse_id}"


def _wh(value: float) -> str:
    return f"{round(value):,} Wh"


def _number(value: float) -> str:
    """12.0 -> '12', 12.54 -> '12.5': as people write figures."""
    return f"{round(value, 1):,.1f}".removesuffix(".0")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# --- meter_backwards, meter_jump ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """A total energy register reading."""

    at: datetime
    wh: float


@dataclass(frozen=True, slots=True)
class RegisterStep:
    detector: str  # METER_BACKWARDS or METER_JUMP
    before: Reading
    after: Reading

    @property
    def seconds(self) -> float:
        return (self.after.at - self.before.at).total_seconds()

    @property
    def implied_kw(self) -> float:
        """The power the step would need (time taken as at least a second)."""
        return (self.after.wh - self.before.wh) * 3.6 / max(self.seconds, _MIN_STEP_S)


def register_steps(readings: Iterable[Reading], thresholds: Thresholds) -> list[RegisterStep]:
    """Every step of a register series (any order) that goes back or jumps, oldest first.
    Readings of one instant are taken lowest first: no step back inside an instant."""
    ordered = sorted(readings, key=lambda r: (r.at, r.wh))
    steps = []
    for before, after in itertools.pairwise(ordered):
        step_wh = after.wh - before.wh
        if step_wh <= -_BACKWARDS_TOLERANCE_WH:
            steps.append(RegisterStep(METER_BACKWARDS, before, after))
        elif step_wh > 0:
            step = RegisterStep(METER_JUMP, before, after)
            if step.implied_kw > thresholds.meter_jump_kw:
                steps.append(step)
    return steps


def register_series(rows: Iterable[tuple[str, datetime, float]]) -> dict[str, list[Reading]]:
    """(location, time, Wh) rows into one series per meter: no location is the Outlet
    (OCPP's default), and an Inlet meter is judged on its own."""
    series: dict[str, list[Reading]] = {}
    for location, at, wh in rows:
        series.setdefault(location or "Outlet", []).append(Reading(at, wh))
    return series


def register_detection(
    station_id: str,
    evse_id: int,
    step: RegisterStep,
    thresholds: Thresholds,
    *,
    session_id: int | None,
) -> Detection:
    place = where(station_id, evse_id)
    before, after = step.before, step.after
    detail: dict[str, Any] = {
        "from_wh": round(before.wh, 3),
        "to_wh": round(after.wh, 3),
        "from_at": _iso(before.at),
        "to_at": _iso(after.at),
        "seconds": step.seconds,
    }
    if step.detector == METER_BACKWARDS:
        summary = (
            f"{place}: energy register went backwards from {_wh(before.wh)} to {_wh(after.wh)}"
        )
        detail["drop_wh"] = round(before.wh - after.wh, 3)
    else:
        summary = (
            f"{place}: energy register jumped from {_wh(before.wh)} to {_wh(after.wh)} in "
            f"{_number(step.seconds)} s ({_number(step.implied_kw)} kW implied, limit "
            f"{_number(thresholds.meter_jump_kw)} kW)"
        )
        detail.update(
            step_wh=round(after.wh - before.wh, 3),
            implied_kw=round(step.implied_kw, 3),
            limit_kw=thresholds.meter_jump_kw,
        )
    if session_id is not None:
        summary += f" in session {session_id}"
    return Detection(
        station_id, evse_id, step.detector, summary, detail, at=after.at, session_id=session_id
    )


# --- auth_failures -----------------------------------------------------------------------


def refusals_in_a_row(statuses_newest_first: Iterable[str]) -> int:
    """How many authorizations were refused since the last one accepted."""
    count = 0
    for status in statuses_newest_first:
        if status == ACCEPTED:
            break
        count += 1
    return count


def auth_failures_detection(
    station_id: str,
    evse_id: int,
    refused: Sequence[tuple[str, str]],
    thresholds: Thresholds,
    *,
    at: datetime,
) -> Detection | None:
    """``refused``: (id tag, status) of the refusals in a row, newest first."""
    if len(refused) < thresholds.auth_failures_count:
        return None
    tags = sorted({tag for tag, _ in refused})
    statuses: dict[str, int] = {}
    for _, status in refused:
        statuses[status] = statuses.get(status, 0) + 1
    shown = ", ".join(tags[:5]) + (f" and {len(tags) - 5} more" if len(tags) > 5 else "")
    return Detection(
        station_id,
        evse_id,
        AUTH_FAILURES,
        f"{where(station_id, evse_id)}: {len(refused)} authorizations refused in a row "
        f"within {_number(thresholds.auth_failures_minutes)} min ({shown})",
        {
            "refused": len(refused),
            "minutes": thresholds.auth_failures_minutes,
            "id_tags": tags[:20],
            "statuses": statuses,
        },
        at=at,
    )


# --- reboot_loop -------------------------------------------------------------------------


def reboot_loop_detection(
    station_id: str, boots: Sequence[datetime], thresholds: Thresholds, *, at: datetime
) -> Detection | None:
    """``boots``: the boot times within the window before ``at``."""
    if len(boots) < thresholds.reboot_loop_count:
        return None
    return Detection(
        station_id,
        0,
        REBOOT_LOOP,
        f"{station_id} booted {len(boots)} times within "
        f"{_number(thresholds.reboot_loop_minutes)} min",
        {
            "boots": len(boots),
            "minutes": thresholds.reboot_loop_minutes,
            "first_boot_at": _iso(min(boots)),
            "last_boot_at": _iso(max(boots)),
        },
        at=at,
    )


def reboot_loop_over(last_boot: datetime | None, thresholds: Thresholds) -> datetime | None:
    """When the loop counts as over: a whole window after the last boot."""
    if last_boot is None:
        return None
    return last_boot + timedelta(minutes=thresholds.reboot_loop_minutes)


# --- failing_starts ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndedSession:
    id: int
    started_at: datetime
    stopped_at: datetime
    energy_wh: int | None
    stop_reason: str | None

    @property
    def seconds(self) -> float:
        return (self.stopped_at - self.started_at).total_seconds()


def is_failed_start(session: EndedSession, thresholds: Thresholds) -> bool:
    return (
        session.seconds < thresholds.failing_start_max_s
        and (session.energy_wh or 0) < thresholds.failing_start_max_wh
    )


def failing_starts_detection(
    station_id: str,
    evse_id: int,
    newest_first: Sequence[EndedSession],
    thresholds: Thresholds,
    *,
    connector_status: str | None = None,
) -> Detection | None:
    """The EVSE's last ended sessions, newest first: an anomaly if the last
    ``failing_starts_count`` all failed to start."""
    count = thresholds.failing_starts_count
    last = list(newest_first[:count])
    if len(last) < count or not all(is_failed_start(s, thresholds) for s in last):
        return None
    status = f"; the connector shows {connector_status}" if connector_status else ""
    return Detection(
        station_id,
        evse_id,
        FAILING_STARTS,
        f"{where(station_id, evse_id)}: the last {count} sessions failed to start (each under "
        f"{_number(thresholds.failing_start_max_s)} s and "
        f"{_wh(thresholds.failing_start_max_wh)}){status}",
        {
            "sessions": [
                {
                    "id": s.id,
                    "seconds": s.seconds,
                    "energy_wh": s.energy_wh,
                    "stop_reason": s.stop_reason,
                }
                for s in last
            ],
            "max_s": thresholds.failing_start_max_s,
            "max_wh": thresholds.failing_start_max_wh,
            "connector_status": connector_status,
        },
        at=last[0].stopped_at,
        session_id=last[0].id,
    )


# --- session_stuck, meter_silent ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenSession:
    """A session not ended, with what the periodic checks need to judge it."""

    id: int
    station_id: str
    evse_id: int
    started_at: datetime
    charging_state: str | None  # 2.0.1
    connector_status: str | None
    connector_since: datetime | None
    online: bool | None  # None: connectivity not known
    last_value_at: datetime | None

    @property
    def charging(self) -> bool:
        if self.charging_state is not None:
            return self.charging_state == CHARGING
        return self.connector_status == CHARGING  # 1.6 says it through the connector

    @property
    def charging_since(self) -> datetime:
        if self.charging_state is None and self.connector_since is not None:
            return max(self.started_at, self.connector_since)
        return self.started_at  # 2.0.1: when the state changed is not kept


def stuck_detection(
    session: OpenSession, thresholds: Thresholds, *, now: datetime
) -> Detection | None:
    hours = (now - session.started_at).total_seconds() / 3600
    if hours <= thresholds.session_stuck_hours:
        return None
    state = "charging" if session.charging else "open"
    return Detection(
        session.station_id,
        session.evse_id,
        SESSION_STUCK,
        f"{where(session.station_id, session.evse_id)}: session {session.id} has been "
        f"{state} for {_number(hours)} h",
        {
            "started_at": _iso(session.started_at),
            "hours": round(hours, 2),
            "limit_hours": thresholds.session_stuck_hours,
            "charging_state": session.charging_state,
            "connector_status": session.connector_status,
        },
        at=now,
        session_id=session.id,
        ongoing=True,
    )


def silent_detection(
    session: OpenSession, thresholds: Thresholds, *, now: datetime
) -> Detection | None:
    if not session.charging or session.online is False:
        return None
    since = max(session.last_value_at or session.started_at, session.charging_since)
    minutes = (now - since).total_seconds() / 60
    if minutes <= thresholds.meter_silent_minutes:
        return None
    last = (
        f"no meter value for {_number(minutes)} min"
        if session.last_value_at is not None
        else f"no meter value at all in {_number(minutes)} min"
    )
    return Detection(
        session.station_id,
        session.evse_id,
        METER_SILENT,
        f"{where(session.station_id, session.evse_id)}: {last} while charging "
        f"(session {session.id})",
        {
            "last_value_at": _iso(session.last_value_at),
            "silent_minutes": round(minutes, 1),
            "limit_minutes": thresholds.meter_silent_minutes,
            "charging_since": _iso(session.charging_since),
        },
        at=now,
        session_id=session.id,
        ongoing=True,
    )


def values_came_again(session: OpenSession | None, detail: Mapping[str, Any]) -> bool:
    """Is a meter_silent anomaly over: the session ended, stopped charging, or has a
    value newer than the last one known when it was found?"""
    if session is None or not session.charging:
        return True
    if session.last_value_at is None:
        return False
    known = detail.get("last_value_at")
    return known is None or session.last_value_at > datetime.fromisoformat(known)


# --- slow_charging -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    at: datetime
    measurand: str
    phase: str
    value: float


@dataclass(frozen=True, slots=True)
class PowerLimit:
    """Something that says how much power the EVSE and the car allow."""

    source: str
    watts: float


@dataclass(frozen=True, slots=True)
class SlowVerdict:
    state: str  # slow | fine | unknown (not enough known, or not long enough yet)
    power_w: float | None = None
    limit: PowerLimit | None = None
    reason: str = ""


_PHASES = ("L1", "L2", "L3")


def _phase_of(phase: str) -> str | None:
    """L1, L1-N -> L1; line-to-line or unknown phases -> None."""
    base = phase.removesuffix("-N")
    return base if base in _PHASES else None


def power_series(samples: Iterable[Sample]) -> list[tuple[datetime, float]]:
    """Active import power over time, oldest first: the total where the charger sends
    it, else the sum of its phases, else the rate of the energy register."""
    totals: dict[datetime, float] = {}
    phased: dict[datetime, dict[str, float]] = {}
    register: list[Reading] = []
    for s in samples:
        if s.measurand == POWER:
            if s.phase == "":
                totals[s.at] = s.value
            elif (p := _phase_of(s.phase)) is not None:
                phased.setdefault(s.at, {})[p] = s.value
        elif s.measurand == ENERGY_REGISTER and s.phase == "":
            register.append(Reading(s.at, s.value))
    if totals:
        return sorted(totals.items())
    if phased:
        return sorted((at, sum(by_phase.values())) for at, by_phase in phased.items())
    ordered = sorted(register, key=lambda r: (r.at, r.wh))
    rates = []
    for before, after in itertools.pairwise(ordered):
        seconds = (after.at - before.at).total_seconds()
        if seconds > 0:
            rates.append((after.at, max(0.0, after.wh - before.wh) * 3600 / seconds))
    return rates


def _latest(samples: Iterable[Sample], measurand: str, *, total: bool) -> Sample | None:
    found = None
    for s in samples:
        if s.measurand != measurand or (total and s.phase != ""):
            continue
        if found is None or s.at >= found.at:
            found = s
    return found


def offered_limits(samples: Sequence[Sample]) -> list[PowerLimit]:
    """What the charger says it offers the car, from its latest readings."""
    limits = []
    offered = _latest(samples, POWER_OFFERED, total=True)
    if offered is not None and offered.value > 0:
        limits.append(PowerLimit(POWER_OFFERED, offered.value))
    current = _latest(samples, CURRENT_OFFERED, total=False)
    volts = [s for s in samples if s.measurand == VOLTAGE and s.value > 0]
    volts = [s for s in volts if s.phase == "" or _phase_of(s.phase) is not None]
    if current is not None and current.value > 0 and volts:
        voltage = max(volts, key=lambda s: s.at).value
        phases = phases_in_use(samples)
        limits.append(
            PowerLimit(
                f"{CURRENT_OFFERED} {_number(current.value)} A x {_number(voltage)} V x "
                f"{phases} phase{'s' if phases > 1 else ''}",
                current.value * voltage * phases,
            )
        )
    return limits


def state_of_charge(samples: Iterable[Sample]) -> float | None:
    """The car's latest state of charge in percent, if reported."""
    latest = _latest(samples, SOC, total=False)
    return latest.value if latest is not None else None


def phases_in_use(samples: Iterable[Sample]) -> int:
    """Phases carrying current at the latest per-phase current reading (1 if unknown:
    counting fewer phases allows less, so it never makes charging look slow)."""
    by_time: dict[datetime, set[str]] = {}
    for s in samples:
        if s.measurand == CURRENT and (p := _phase_of(s.phase)) is not None:
            phases = by_time.setdefault(s.at, set())
            if s.value >= _DRAWING_A:
                phases.add(p)
    if not by_time:
        return 1
    return max(1, len(by_time[max(by_time)]))


DeviceModelRow = tuple[str, int, str, str, str | None, Mapping[str, Any] | None]


def device_model_limits(rows: Iterable[DeviceModelRow], evse_id: int) -> list[PowerLimit]:
    """(component, EVSE, variable, attribute type, value, characteristics) rows of a
    2.0.1 device model into the limits of one EVSE: its own and the station's
    AvailablePower value, Power maxLimit or MaxSet."""
    limits = []
    for component, evse, variable, attribute, value, characteristics in rows:
        if component == "EVSE" and evse != evse_id:
            continue
        unit = str((characteristics or {}).get("unit") or "W")
        scale = 1000.0 if unit.lower() == "kw" else 1.0
        figure: Any = None
        if (variable, attribute) in (("AvailablePower", "Actual"), ("Power", "MaxSet")):
            figure = value
        elif (variable, attribute) == ("Power", "Actual"):
            figure = (characteristics or {}).get("maxLimit")
        watts = _float(figure)
        if watts is not None and watts > 0:
            label = f"{component}.{variable}" + (
                " maxLimit" if attribute == "Actual" and variable == "Power" else ""
            )
            limits.append(PowerLimit(label, watts * scale))
    return limits


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def judge_slow_charging(
    power: Sequence[tuple[datetime, float]],
    limits: Sequence[PowerLimit],
    *,
    soc_percent: float | None,
    charging_since: datetime,
    now: datetime,
    thresholds: Thresholds,
) -> SlowVerdict:
    """Slow: the last reading before the window and every one in it below the ratio of
    the lowest limit. Fine: the latest reading reaches it, or the car is nearly full."""
    if not limits:
        return SlowVerdict("unknown", reason="nothing says what is allowed")
    limit = min(limits, key=lambda x: x.watts)
    if not power:
        return SlowVerdict("unknown", limit=limit, reason="no power reading")
    latest = power[-1][1]
    threshold = limit.watts * thresholds.slow_charging_ratio
    if latest >= threshold:
        return SlowVerdict("fine", latest, limit)
    if soc_percent is not None and soc_percent >= thresholds.slow_charging_max_soc_percent:
        return SlowVerdict("fine", latest, limit, reason="the car is nearly full")
    start = now - timedelta(minutes=thresholds.slow_charging_minutes)
    if charging_since > start:
        return SlowVerdict("unknown", latest, limit, reason="not charging long enough")
    before = [w for at, w in power if at <= start]
    during = [w for at, w in power if start < at <= now]
    if not before:
        return SlowVerdict("unknown", latest, limit, reason="no reading before the window")
    if all(w < threshold for w in [before[-1], *during]):
        return SlowVerdict("slow", latest, limit)
    return SlowVerdict("unknown", latest, limit, reason="slow for less than the window")


def slow_detection(
    session: OpenSession, verdict: SlowVerdict, thresholds: Thresholds, *, now: datetime
) -> Detection | None:
    if verdict.state != "slow" or verdict.limit is None or verdict.power_w is None:
        return None
    allowed = verdict.limit.watts
    return Detection(
        session.station_id,
        session.evse_id,
        SLOW_CHARGING,
        f"{where(session.station_id, session.evse_id)}: session {session.id} charging at "
        f"{_number(verdict.power_w / 1000)} kW for over "
        f"{_number(thresholds.slow_charging_minutes)} min, below "
        f"{_number(thresholds.slow_charging_ratio * 100)}% of the "
        f"{_number(allowed / 1000)} kW allowed ({verdict.limit.source})",
        {
            "power_w": round(verdict.power_w, 1),
            "allowed_w": round(allowed, 1),
            "allowed_by": verdict.limit.source,
            "ratio": thresholds.slow_charging_ratio,
            "limit_w": round(allowed * thresholds.slow_charging_ratio, 1),
            "minutes": thresholds.slow_charging_minutes,
        },
        at=now,
        session_id=session.id,
        ongoing=True,
    )


# --- queries -----------------------------------------------------------------------------


_MV: Any = MeterValue.__table__
_SESSIONS: Any = ChargingSession.__table__
RegisterRow = tuple[str, datetime, float]  # location, time, Wh

# Built once, with parameters: these run for every MeterValues and every charging
# session, where building and compiling a statement would cost more than running it.
_REGISTER = select(_MV.c.location, _MV.c.timestamp, _MV.c.value).where(
    _MV.c.measurand == ENERGY_REGISTER,
    _MV.c.phase == "",
    _MV.c.unit == "Wh",
    _MV.c.format != "SignedData",
    _MV.c.value.is_not(None),
)
_SESSION_REGISTER = (
    _REGISTER.where(_MV.c.session_id == bindparam("session_id"))
    .order_by(_MV.c.timestamp.desc())
    .limit(bindparam("limit"))
)
_EVSE_REGISTER = (
    _REGISTER.where(
        _MV.c.station_id == bindparam("station_id"), _MV.c.evse_id == bindparam("evse_id")
    )
    .order_by(_MV.c.timestamp.desc())
    .limit(bindparam("limit"))
)
_SESSION_ENDS = select(
    _SESSIONS.c.started_at,
    _SESSIONS.c.meter_start_wh,
    _SESSIONS.c.stopped_at,
    _SESSIONS.c.meter_stop_wh,
).where(_SESSIONS.c.id == bindparam("session_id"))
SLOW_MEASURANDS = (POWER, ENERGY_REGISTER, POWER_OFFERED, CURRENT_OFFERED, VOLTAGE, CURRENT, SOC)
_SAMPLES = select(_MV.c.timestamp, _MV.c.measurand, _MV.c.phase, _MV.c.location, _MV.c.value).where(
    _MV.c.session_id == bindparam("session_id"),
    _MV.c.measurand.in_(SLOW_MEASURANDS),
    _MV.c.format != "SignedData",
    _MV.c.value.is_not(None),
)
_SESSION_SAMPLES = (
    _SAMPLES.where(_MV.c.timestamp >= bindparam("since")).order_by(_MV.c.timestamp).limit(5000)
)
_LATEST_SAMPLES = _SAMPLES.order_by(_MV.c.timestamp.desc()).limit(24)


def register_rows(
    conn: Connection,
    station_id: str,
    evse_id: int,
    session_id: int | None,
    *,
    limit: int,
    with_stop: bool = False,
) -> list[RegisterRow]:
    """The newest ``limit`` register readings of a session (by its index), or of the
    EVSE when there is no session (by the unique index, which starts with station and
    EVSE). A session's meter start is added when the readings reach back to it, and
    ``with_stop`` its meter stop. Synchronous: run it in ``run_sync``, several at once."""
    if session_id is None:
        params = {"station_id": station_id, "evse_id": evse_id, "limit": limit}
        result = conn.execute(_EVSE_REGISTER, params)
    else:
        result = conn.execute(_SESSION_REGISTER, {"session_id": session_id, "limit": limit})
    rows = [(loc, at, float(value)) for loc, at, value in result.all() if value is not None]
    if session_id is not None and (len(rows) < limit or with_stop):
        ends = conn.execute(_SESSION_ENDS, {"session_id": session_id}).one_or_none()
        if ends is not None:
            started_at, start_wh, stopped_at, stop_wh = ends
            if start_wh is not None and len(rows) < limit:
                rows.append(("Outlet", started_at, float(start_wh)))
            if with_stop and stop_wh is not None and stopped_at is not None:
                rows.append(("Outlet", stopped_at, float(stop_wh)))
    return rows


def session_samples(
    conn: Connection, session_id: int, *, since: datetime | None = None
) -> list[Sample]:
    """What slow charging is judged on: the session's power, register, offered power and
    current, voltage, current and state of charge readings since ``since``, or only the
    newest few (enough for the latest of each) without it; power and register of the
    Outlet meter only. Synchronous, like :func:`register_rows`."""
    if since is None:
        result = conn.execute(_LATEST_SAMPLES, {"session_id": session_id})
    else:
        result = conn.execute(_SESSION_SAMPLES, {"session_id": session_id, "since": since})
    return [
        Sample(at, measurand, phase, float(value))
        for at, measurand, phase, location, value in result.all()
        if value is not None
        and (measurand not in (POWER, ENERGY_REGISTER) or location in ("", "Outlet"))
    ]


async def recent_authorizations(
    db: AsyncSession, station_id: str, *, since: datetime, until: datetime
) -> list[tuple[str, str]]:
    """(id tag, status) of the station's Authorize requests in the period, newest
    first (the station's events, by their station-and-time index)."""
    rows = await db.execute(
        select(StationEvent.payload)
        .where(
            StationEvent.station_id == station_id,
            StationEvent.occurred_at > since,
            StationEvent.occurred_at <= until,
            StationEvent.kind == "Authorize",
        )
        .order_by(StationEvent.occurred_at.desc(), StationEvent.id.desc())
        .limit(1000)
    )
    return [
        (str(payload.get("id_tag", "")), str(payload.get("status", "")))
        for (payload,) in rows.all()
    ]


async def boots_between(
    db: AsyncSession, station_id: str, *, since: datetime, until: datetime
) -> list[datetime]:
    rows = await db.scalars(
        select(StationEvent.occurred_at)
        .where(
            StationEvent.station_id == station_id,
            StationEvent.occurred_at > since,
            StationEvent.occurred_at <= until,
            StationEvent.kind == "BootNotification",
        )
        .limit(1000)
    )
    return list(rows.all())


async def last_boots(db: AsyncSession, station_ids: Iterable[str]) -> dict[str, datetime | None]:
    ids = sorted(set(station_ids))
    if not ids:
        return {}
    rows = await db.execute(select(Station.id, Station.last_boot_at).where(Station.id.in_(ids)))
    return {station_id: at for station_id, at in rows.all()}


async def last_ended_sessions(
    db: AsyncSession, station_id: str, evse_id: int, *, limit: int
) -> list[EndedSession]:
    """The EVSE's last ended sessions that count for failing starts, newest first."""
    rows = await db.execute(
        select(
            ChargingSession.id,
            ChargingSession.started_at,
            ChargingSession.stopped_at,
            ChargingSession.energy_wh,
            ChargingSession.stop_reason,
        )
        .where(
            ChargingSession.station_id == station_id,
            ChargingSession.evse_id == evse_id,
            ChargingSession.stopped_at.is_not(None),
            ChargingSession.authorization.in_(_COUNTED_AUTHORIZATIONS),
        )
        .order_by(ChargingSession.started_at.desc(), ChargingSession.id.desc())
        .limit(limit)
    )
    return [
        EndedSession(sid, started, stopped, energy, reason)
        for sid, started, stopped, energy, reason in rows.all()
        if stopped is not None
    ]


async def connector_status(db: AsyncSession, station_id: str, evse_id: int) -> str | None:
    status: str | None = await db.scalar(
        select(Connector.status)
        .where(Connector.station_id == station_id, Connector.evse_id == evse_id)
        .order_by(Connector.connector_id)
        .limit(1)
    )
    return status


async def open_sessions(db: AsyncSession) -> list[OpenSession]:
    """Every session not ended, with its connector's state, its station's connectivity
    and the time of its last meter value (the newest by the session's index)."""
    last_value = (
        select(func.max(MeterValue.timestamp))
        .where(MeterValue.session_id == ChargingSession.id)
        .correlate(ChargingSession)
        .scalar_subquery()
    )
    rows = await db.execute(
        select(
            ChargingSession.id,
            ChargingSession.station_id,
            ChargingSession.evse_id,
            ChargingSession.started_at,
            ChargingSession.charging_state,
            Connector.status,
            Connector.updated_at,
            StationConnectivity.online,
            last_value,
        )
        .outerjoin(
            Connector,
            and_(
                Connector.station_id == ChargingSession.station_id,
                Connector.evse_id == ChargingSession.evse_id,
                Connector.connector_id == ChargingSession.connector_id,
            ),
        )
        .outerjoin(
            StationConnectivity, StationConnectivity.station_id == ChargingSession.station_id
        )
        .where(ChargingSession.status == "active")
    )
    return [OpenSession(*row) for row in rows.all()]


async def session_ends(db: AsyncSession, session_ids: Iterable[int]) -> dict[int, datetime | None]:
    ids = sorted(set(session_ids))
    if not ids:
        return {}
    rows = await db.execute(
        select(ChargingSession.id, ChargingSession.stopped_at).where(ChargingSession.id.in_(ids))
    )
    return {sid: at for sid, at in rows.all()}


async def device_model_rows(
    db: AsyncSession, station_ids: Iterable[str]
) -> dict[str, list[DeviceModelRow]]:
    """The power variables of the stations' device models, by station."""
    ids = sorted(set(station_ids))
    if not ids:
        return {}
    rows = await db.execute(
        select(
            StationVariable.station_id,
            StationVariable.component,
            StationVariable.evse_id,
            StationVariable.variable,
            StationVariable.attribute_type,
            StationVariable.value,
            StationVariable.characteristics,
        ).where(
            StationVariable.station_id.in_(ids),
            StationVariable.variable.in_(("AvailablePower", "Power")),
            StationVariable.component.in_(("EVSE", "ChargingStation")),
        )
    )
    by_station: dict[str, list[DeviceModelRow]] = {}
    for station_id, *row in rows.all():
        component, evse_id, variable, attribute, value, characteristics = row
        by_station.setdefault(station_id, []).append(
            (component, evse_id, variable, attribute, value, characteristics)
        )
    return by_station


async def open_anomalies(
    db: AsyncSession,
    *,
    detectors: Sequence[str] | None = None,
    station_id: str | None = None,
    evse_id: int | None = None,
) -> list[Anomaly]:
    stmt = select(Anomaly).where(Anomaly.cleared_at.is_(None))
    if detectors is not None:
        stmt = stmt.where(Anomaly.detector.in_(detectors))
    if station_id is not None:
        stmt = stmt.where(Anomaly.station_id == station_id)
    if evse_id is not None:
        stmt = stmt.where(Anomaly.evse_id == evse_id)
    return list((await db.scalars(stmt)).all())
