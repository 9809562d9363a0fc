"""Revenue per local day: what the CDRs the caller may see brought in (an operator) or
cost (a fleet manager's spend), day by day in one IANA time zone, per currency.

The rules, stated once so that the API, the console and a hand check agree:

- A CDR counts on the local day its session **ended** (``ended_at`` in the zone asked
  for): the same instant the CDR list and its CSV filter on, so a day's CSV adds up to
  that day's figures.
- **Credits subtract**: a credit CDR carries the negated amounts of the CDR it cancels
  and ends when that session ended, so it takes the money back on the same day. The
  session still happened and its energy was still delivered (OCPI credit CDRs keep their
  volumes), so sessions and kWh count original CDRs only.
- **Unpriced** CDRs (no tariff applied) count their session and energy under no
  currency, and no money.
- Money is summed as ``Decimal`` from the stored exact amounts (already rounded once per
  CDR by the rating): nothing is rounded here, and VAT is incl. minus excl. VAT.

Sums are made here rather than in SQL because amounts are kept as exact decimal text;
rows are streamed, so a long range holds one batch of CDRs in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.billing.cdrs import CREDIT, visible
from chargeops.billing.models import Cdr
from chargeops.billing.rating import zone
from chargeops.core.access import Principal
from chargeops.core.errors import InvalidInput

MAX_DAYS = 366
"""The longest range one request covers: a year, leap day included."""

_BATCH = 1000
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class DayRevenue:
    """One local day in one currency; ``currency`` None holds the unpriced sessions."""

    day: date
    currency: str | None
    sessions: int
    energy_wh: int
    excl_vat: Decimal
    incl_vat: Decimal

    @property
    def vat(self) -> Decimal:
        return self.incl_vat - self.excl_vat


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    """A range's total in one currency (None: unpriced sessions)."""

    currency: str | None
    sessions: int
    energy_wh: int
    excl_vat: Decimal
    incl_vat: Decimal

    @property
    def vat(self) -> Decimal:
        return self.incl_vat - self.excl_vat


def check_range(since: date, until: date) -> None:
    """InvalidInput for a range that is backwards or longer than :data:`MAX_DAYS`."""
    if until < since:
        raise InvalidInput(f"until: {until.isoformat()} is before since {since.isoformat()}")
    days = (until - since).days + 1
    if days > MAX_DAYS:
        raise InvalidInput(f"since/until: {days} days asked for; at most {MAX_DAYS} at a time")


def default_range(time_zone: str, today: datetime, days: int = 30) -> tuple[date, date]:
    """The last ``days`` local days, today included."""
    local_today = today.astimezone(zone(time_zone)).date()
    return local_today - timedelta(days=days - 1), local_today


@dataclass(slots=True)
class _Sum:
    sessions: int = 0
    energy_wh: int = 0
    excl: Decimal = _ZERO
    incl: Decimal = _ZERO


def _key(item: tuple[date, str | None]) -> tuple[date, int, str]:
    day, currency = item
    # currencies in code order, the unpriced after them
    return (day, currency is None, currency or "")


async def daily_revenue(
    db: AsyncSession,
    principal: Principal,
    since: date,
    until: date,
    time_zone: str = "UTC",
) -> list[DayRevenue]:
    """Revenue per local day from ``since`` to ``until`` (both included), over the CDRs
    ``principal`` may see (:func:`chargeops.billing.cdrs.visible`), by day then
    currency. Only days with CDRs are listed."""
    check_range(since, until)
    tz = zone(time_zone)
    # a day longer on each side than any offset reaches: the local day decides below
    lo = datetime.combine(since - timedelta(days=1), time(0), tzinfo=UTC)
    hi = datetime.combine(until + timedelta(days=2), time(0), tzinfo=UTC)
    stmt = (
        select(
            Cdr.ended_at,
            Cdr.kind,
            Cdr.unpriced,
            Cdr.currency,
            Cdr.energy_wh,
            Cdr.total_excl_vat,
            Cdr.total_incl_vat,
        )
        .where(visible(principal), Cdr.ended_at >= lo, Cdr.ended_at < hi)
        .execution_options(yield_per=_BATCH)
    )
    sums: dict[tuple[date, str | None], _Sum] = {}
    result = await db.stream(stmt)
    async for ended_at, kind, unpriced, currency, energy_wh, excl, incl in result:
        day = ended_at.astimezone(tz).date()
        if day < since or day > until:
            continue
        key = (day, None if unpriced else currency)
        entry = sums.get(key)
        if entry is None:
            entry = sums[key] = _Sum()
        if kind != CREDIT:
            entry.sessions += 1
            entry.energy_wh += int(energy_wh)
        if not unpriced:
            entry.excl += excl
            entry.incl += incl
    return [
        DayRevenue(day, currency, s.sessions, s.energy_wh, s.excl, s.incl)
        for (day, currency), s in sorted(sums.items(), key=lambda kv: _key(kv[0]))
    ]


def totals(rows: Iterable[DayRevenue]) -> list[CurrencyTotal]:
    """The range's totals per currency (the unpriced last)."""
    sums: dict[str | None, _Sum] = {}
    for row in rows:
        entry = sums.setdefault(row.currency, _Sum())
        entry.sessions += row.sessions
        entry.energy_wh += row.energy_wh
        entry.excl += row.excl_vat
        entry.incl += row.incl_vat
    ordered = sorted(sums.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    return [
        CurrencyTotal(currency, s.sessions, s.energy_wh, s.excl, s.incl) for currency, s in ordered
    ]


def currencies(rows: Sequence[DayRevenue]) -> list[str]:
    """The currencies that brought in money, in code order."""
    return sorted({r.currency for r in rows if r.currency is not None})
