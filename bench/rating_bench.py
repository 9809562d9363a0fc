"""Rating benchmark: how many realistic sessions `chargeops.billing` prices per second.

Generates sessions the way chargers report them and prices each one, timing the parts
separately on one core:

  generate  meter readings every 60 s (energy register + power) following a charging
            curve: constant power up to 80 % state of charge, tapering to the target;
            3.7 to 150 kW chargers; 20 min to 10 h; half the sessions stay plugged in
            1-90 min after charging; start times spread over 2026 in Europe/Berlin (so
            DST Sundays, weekends and the evening peak boundaries all occur)
  timeline  charging / not-charging intervals from the status changes (Charging, then
            SuspendedEV when the car is full): build_timeline
  rating    rate_session with a realistic tariff: 0.39 EUR/kWh, 0.59 EUR/kWh on
            weekdays 17:00-21:00, 0.05 EUR/min charging after 60 min, 0.10 EUR/min idle
            from 08:00 to 22:00 once the session has lasted 30 min (OCPI counts from the
            session start; "after 30 minutes idle" is not expressible), 1.00 EUR start fee,
            19 % VAT, max 80 EUR excl. VAT per session

Sessions are generated and rated in batches so memory stays flat; generation time is
reported separately and is not part of the rating figures.

    .venv/bin/python bench/rating_bench.py --quick            # 2,000 sessions, seconds
    .venv/bin/python bench/rating_bench.py                    # 100,000 sessions
    .venv/bin/python bench/rating_bench.py --sessions 20000 --seed 7
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chargeops.billing import (
    MeterReading,
    RatedSession,
    SessionUsage,
    StatusChange,
    Tariff,
    build_timeline,
    describe_tariff,
    parse_tariff,
    rate_session,
)

ZONE = "Europe/Berlin"
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_SECONDS = 365 * 86_400
SAMPLE_S = 60
BATCH = 500

CHARGERS_KW = [3.7, 7.4, 11, 22, 50, 150]
CHARGER_WEIGHTS = [5, 10, 30, 25, 15, 15]


def bench_tariff() -> Tariff:
    vat = 19.0
    return parse_tariff(
        {
            "id": "bench-ac-dc",
            "currency": "EUR",
            "max_price": {"excl_vat": 80.00},
            "elements": [
                {
                    "price_components": [
                        {"type": "ENERGY", "price": 0.59, "vat": vat, "step_size": 1}
                    ],
                    "restrictions": {
                        "start_time": "17:00",
                        "end_time": "21:00",
                        "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
                    },
                },
                {
                    "price_components": [
                        {"type": "TIME", "price": 3.00, "vat": vat, "step_size": 60}
                    ],
                    "restrictions": {"min_duration": 3600},
                },
                {
                    "price_components": [
                        {"type": "PARKING_TIME", "price": 6.00, "vat": vat, "step_size": 60}
                    ],
                    "restrictions": {
                        "min_duration": 1800,
                        "start_time": "08:00",
                        "end_time": "22:00",
                    },
                },
                {
                    "price_components": [
                        {"type": "FLAT", "price": 1.00, "vat": vat, "step_size": 1},
                        {"type": "ENERGY", "price": 0.39, "vat": vat, "step_size": 1},
                    ]
                },
            ],
        }
    )


@dataclass(frozen=True, slots=True)
class Generated:
    start: datetime
    end: datetime
    readings: list[MeterReading]
    statuses: list[StatusChange]


def generate(rng: random.Random) -> Generated:
    """One session: a charging curve sampled every minute, then maybe some idle time."""
    start = YEAR_START + timedelta(seconds=rng.randrange(YEAR_SECONDS))
    limit_s = int(math.exp(rng.uniform(math.log(20 * 60), math.log(10 * 3600))))
    max_w = rng.choices(CHARGERS_KW, CHARGER_WEIGHTS)[0] * 1000 * rng.uniform(0.85, 1.0)
    capacity_wh = rng.uniform(40_000, 100_000)
    soc = rng.uniform(0.05, 0.6)
    target = rng.uniform(0.8, 1.0)
    register = float(rng.randrange(100_000_000))
    readings = [MeterReading(start, int(register), Decimal(int(max_w)))]
    statuses = [StatusChange(start, "Charging")]
    elapsed = 0
    charging = True
    while elapsed < limit_s and charging:
        step = min(SAMPLE_S, limit_s - elapsed)
        taper = 1.0 if soc < 0.8 else max(0.0, (1.0 - soc) / 0.2)
        power = max_w * taper
        register += power * step / 3600
        soc += power * step / 3600 / capacity_wh
        elapsed += step
        charging = soc < target and power > 300
        reported = power if charging and elapsed < limit_s else 0.0
        readings.append(
            MeterReading(start + timedelta(seconds=elapsed), int(register), Decimal(int(reported)))
        )
    charge_end = elapsed
    if elapsed < limit_s and rng.random() < 0.5:
        idle_s = min(rng.randrange(60, 90 * 60), limit_s - elapsed)
        statuses.append(StatusChange(start + timedelta(seconds=charge_end), "SuspendedEV"))
        while elapsed < charge_end + idle_s:
            step = min(SAMPLE_S, charge_end + idle_s - elapsed)
            elapsed += step
            readings.append(
                MeterReading(start + timedelta(seconds=elapsed), int(register), Decimal(0))
            )
    return Generated(start, start + timedelta(seconds=elapsed), readings, statuses)


@dataclass
class Totals:
    sessions: int = 0
    readings: int = 0
    periods: int = 0
    generate_s: float = 0.0
    timeline_s: float = 0.0
    rating_s: float = 0.0
    revenue_excl: Decimal = Decimal(0)
    capped: int = 0
    energy_wh: int = 0


def batches(total: int, rng: random.Random, totals: Totals) -> Iterator[list[Generated]]:
    made = 0
    while made < total:
        size = min(BATCH, total - made)
        t0 = time.perf_counter()
        batch = [generate(rng) for _ in range(size)]
        totals.generate_s += time.perf_counter() - t0
        made += size
        yield batch


def run(sessions: int, seed: int) -> Totals:
    rng = random.Random(seed)
    tariff = bench_tariff()
    totals = Totals()
    gc.collect()
    for batch in batches(sessions, rng, totals):
        t0 = time.perf_counter()
        usages = [
            SessionUsage(
                g.start,
                g.end,
                ZONE,
                g.readings,
                build_timeline(g.start, g.end, status_changes=g.statuses),
            )
            for g in batch
        ]
        t1 = time.perf_counter()
        rated: list[RatedSession] = [rate_session(u, tariff) for u in usages]
        t2 = time.perf_counter()
        totals.timeline_s += t1 - t0
        totals.rating_s += t2 - t1
        totals.sessions += len(batch)
        totals.readings += sum(len(g.readings) for g in batch)
        for r in rated:
            totals.periods += len(r.periods)
            totals.revenue_excl += r.total.excl_vat
            totals.capped += r.max_price_applied
            totals.energy_wh += r.energy_wh
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="2,000 sessions")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    sessions = 2_000 if args.quick else args.sessions

    tariff = bench_tariff()
    print(f"tariff: {describe_tariff(tariff)}")
    print(f"sessions: {sessions:,} (seed {args.seed}), {ZONE}, one core")
    totals = run(sessions, args.seed)
    n = totals.sessions
    per_reading = totals.readings / n
    print(
        f"generated: {totals.readings:,} readings ({per_reading:.0f} per session) "
        f"in {totals.generate_s:.1f} s (not counted below)"
    )
    print(
        f"timeline:  {n / totals.timeline_s:,.0f} sessions/s, "
        f"{totals.timeline_s / n * 1e6:,.1f} us/session (SessionUsage + build_timeline)"
    )
    print(
        f"rating:    {n / totals.rating_s:,.0f} sessions/s, "
        f"{totals.rating_s / n * 1e6:,.1f} us/session (rate_session)"
    )
    both = totals.timeline_s + totals.rating_s
    print(f"together:  {n / both:,.0f} sessions/s, {both / n * 1e6:,.1f} us/session")
    print(
        f"check: {totals.periods / n:.2f} charging periods/session, "
        f"{totals.energy_wh / n / 1000:.1f} kWh/session, "
        f"{totals.revenue_excl / n:.2f} EUR excl. VAT/session, "
        f"{totals.capped:,} capped at max_price"
    )


if __name__ == "__main__":
    main()
