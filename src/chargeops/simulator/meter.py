"""The electrical side of a simulated connector: an energy register and the EV drawing from it.

Pure and clock-driven (times are passed in), so the numbers a station reports can be
tested without sockets and stay consistent: the register only ever grows, and it grows
by the power the connector reports, integrated over time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

#: Above this the station is modelled as three-phase AC; above ``MAX_AC_POWER_W`` as DC.
MAX_SINGLE_PHASE_POWER_W = 7_400
MAX_AC_POWER_W = 22_000
AC_PHASE_VOLTAGE_V = 230.0

#: Longest step of the energy integration; keeps the SoC taper right across long gaps
#: (a station that was offline keeps charging, and catches up when it is sampled).
_MAX_STEP_S = 10.0


class ReadingContext(StrEnum):
    """Why a sample was taken; each OCPP wiring maps it to its own spelling."""

    PERIODIC = "Sample.Periodic"
    TRANSACTION_BEGIN = "Transaction.Begin"
    TRANSACTION_END = "Transaction.End"
    TRIGGER = "Trigger"


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One reading of a connector, version-neutral; ``soc_percent`` is None with no EV."""

    timestamp: datetime
    context: ReadingContext
    energy_wh: int
    power_w: float
    current_a: float
    voltage_v: float
    soc_percent: float | None


@dataclass(slots=True)
class Ev:
    """The vehicle plugged in for one session: how much it can take, and how full it is."""

    battery_wh: float
    soc_percent: float

    @classmethod
    def random(cls, rng: random.Random) -> Ev:
        """A typical car arriving part-charged, so sessions differ from each other."""
        return cls(battery_wh=rng.uniform(40_000, 100_000), soc_percent=rng.uniform(10, 60))


class ConnectorMeter:
    """The cumulative import register of one connector, driven by the EV plugged into it.

    ``advance(now)`` integrates the power drawn since the last call; ``sample`` reads the
    present values. Power follows a constant-power curve that tapers from 80 % SoC, the way
    real charging sessions end slowly, and never exceeds ``limit_w``, the limit the CSMS's
    charging profiles put on the connector (None: the hardware's maximum).
    """

    __slots__ = ("_last", "_rng", "ev", "limit_w", "max_power_w", "register_wh")

    def __init__(self, register_wh: float, max_power_w: float, rng: random.Random) -> None:
        self.register_wh = register_wh
        self.max_power_w = max_power_w
        self.ev: Ev | None = None
        self.limit_w: float | None = None
        self._rng = rng
        self._last = 0.0

    @property
    def is_dc(self) -> bool:
        """Stations above AC limits are modelled as DC chargers (battery voltage, one line)."""
        return self.max_power_w > MAX_AC_POWER_W

    @property
    def phases(self) -> int:
        """Number of AC lines the current is spread over."""
        if self.is_dc or self.max_power_w <= MAX_SINGLE_PHASE_POWER_W:
            return 1
        return 3

    @property
    def energy_wh(self) -> int:
        """The register as OCPP reports it: whole watt-hours, never decreasing."""
        return int(self.register_wh)

    def plug(self, ev: Ev, now: float) -> None:
        """An EV connects: energy starts to flow from ``now`` (a monotonic time)."""
        self.ev = ev
        self._last = now

    def unplug(self, now: float) -> None:
        """The EV leaves; the register keeps what was delivered up to ``now``."""
        self.advance(now)
        self.ev = None

    def set_limit(self, limit_w: float | None, now: float) -> None:
        """Limit the power from ``now`` on; the energy drawn until then is counted first."""
        if limit_w != self.limit_w:
            self.advance(now)
            self.limit_w = limit_w

    def power_w(self) -> float:
        """The power the EV draws at its present state of charge, within the limit."""
        if self.ev is None:
            return 0.0
        soc = self.ev.soc_percent
        if soc >= 100.0:
            return 0.0
        taper = 1.0 if soc < 80.0 else 1.0 - 0.9 * (soc - 80.0) / 20.0
        power = self.max_power_w * taper
        return power if self.limit_w is None else max(0.0, min(power, self.limit_w))

    def advance(self, now: float) -> None:
        """Integrate the energy delivered between the last call and ``now`` (monotonic)."""
        if self.ev is None:
            self._last = now
            return
        remaining = now - self._last
        while remaining > 0:
            step = min(remaining, _MAX_STEP_S)
            room_wh = (100.0 - self.ev.soc_percent) / 100.0 * self.ev.battery_wh
            energy_wh = min(self.power_w() * step / 3600.0, room_wh)
            self.register_wh += energy_wh
            self.ev.soc_percent = min(
                100.0, self.ev.soc_percent + 100.0 * energy_wh / self.ev.battery_wh
            )
            remaining -= step
        self._last = max(self._last, now)

    def voltage_v(self) -> float:
        """Line voltage on AC (with grid jitter); battery voltage rising with SoC on DC."""
        if self.is_dc:
            soc = self.ev.soc_percent if self.ev is not None else 50.0
            return 350.0 + soc
        return AC_PHASE_VOLTAGE_V + self._rng.uniform(-3.0, 3.0)

    def sample(self, now: float, timestamp: datetime, context: ReadingContext) -> MeterSample:
        """Read the meter at ``now``; reported power carries a little noise like a real meter."""
        self.advance(now)
        power = self.power_w()
        if power > 0:
            power *= self._rng.uniform(0.985, 1.0)
        voltage = self.voltage_v()
        return MeterSample(
            timestamp=timestamp,
            context=context,
            energy_wh=self.energy_wh,
            power_w=power,
            current_a=power / (voltage * self.phases),
            voltage_v=voltage,
            soc_percent=self.ev.soc_percent if self.ev is not None else None,
        )
