"""How the console writes times, energy and power: UTC with its name, kWh and kW with
two decimals, and "5 min ago" beside times an operator scans for staleness."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chargeops.billing.tariffs import minor_unit

NOTHING = "—"
DASH = "\N{EN DASH}"


def utc(value: datetime | None) -> str:
    """``2025-06-01 14:03:22 UTC``: every time the console shows is UTC, and says so."""
    if value is None:
        return NOTHING
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: datetime | None) -> str:
    """The machine-readable form, for ``<time datetime=...>``."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 10:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    days = seconds // 86400
    return f"{days} day{'s' if days != 1 else ''} ago"


def duration(start: datetime | None, stop: datetime | None, now: datetime | None = None) -> str:
    """``1 h 05 min``; a session still running counts up to now."""
    if start is None:
        return NOTHING
    seconds = int(((stop or now or datetime.now(UTC)) - start).total_seconds())
    if seconds < 0:
        return NOTHING
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def span(seconds: Decimal | int | None) -> str:
    """``1 h 5 min``, ``12 min 30 s``: a length of time to the second (billed time is
    counted in seconds, so a CDR's minutes are not rounded here)."""
    if seconds is None:
        return NOTHING
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes or (hours and secs):
        parts.append(f"{minutes} min")
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


def _two_places(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def kwh(wh: int | Decimal | None) -> str:
    """Energy, stored in Wh, shown in kWh."""
    if wh is None:
        return NOTHING
    return f"{_two_places(Decimal(wh) / 1000)} kWh"


def kw(w: int | Decimal | None) -> str:
    if w is None:
        return NOTHING
    return f"{_two_places(Decimal(w) / 1000)} kW"


def money(value: Decimal | None, currency: str | None) -> str:
    """``1,234.50 EUR``: an amount in its currency's minor unit (amounts come rounded
    already; a sum of them is exact in that unit)."""
    if value is None or currency is None:
        return NOTHING
    quantum = Decimal(1).scaleb(-minor_unit(currency))
    return f"{value.quantize(quantum, rounding=ROUND_HALF_UP):,} {currency}"


def in_zone(value: datetime | None, zone: str) -> str:
    """``2025-06-07 18:00:00 CEST``: a time where it happened, its zone's abbreviation
    beside it (the page names the zone itself); UTC when the zone is unknown."""
    if value is None:
        return NOTHING
    try:
        there = value.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return utc(value)
    return there.strftime("%Y-%m-%d %H:%M:%S %Z")


def day_in(value: datetime | None, zone: str) -> str:
    """``2026-11-01 CET``: the day it was there (an invoice's date), with the zone's
    abbreviation; UTC when the zone is unknown."""
    if value is None:
        return NOTHING
    try:
        there = value.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        there = value.astimezone(UTC)
    return there.strftime("%Y-%m-%d %Z")


def from_to(start: datetime | None, end: datetime | None, zone: str) -> str:
    """``2026-10-15 12:00`` to ``12:45 CEST``, joined by an en dash: when something
    happened there, to the minute (as invoices print it), the day written once when it
    did not change."""
    if start is None or end is None:
        return NOTHING
    try:
        place = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        place = ZoneInfo("UTC")
    first, last = start.astimezone(place), end.astimezone(place)
    if first.date() != last.date():
        return f"{first:%Y-%m-%d %H:%M %Z} {DASH} {last:%Y-%m-%d %H:%M %Z}"
    if first.tzname() != last.tzname():  # the clocks changed in between
        return f"{first:%Y-%m-%d %H:%M %Z}{DASH}{last:%H:%M %Z}"
    return f"{first:%Y-%m-%d %H:%M}{DASH}{last:%H:%M %Z}"


def path_part(value: object) -> str:
    """A value made safe to put in a URL path (station ids may hold ``:``, ``+``, ``@``)."""
    return quote(str(value), safe="")


FILTERS = {
    "utc": utc,
    "iso": iso,
    "ago": ago,
    "kwh": kwh,
    "kw": kw,
    "path_part": path_part,
    "money": money,
    "span": span,
    "in_zone": in_zone,
    "day_in": day_in,
    "from_to": from_to,
}
