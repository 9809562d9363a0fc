"""How the console writes times, energy and power: UTC with its name, kWh and kW with
two decimals, and "5 min ago" beside times an operator scans for staleness."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote

NOTHING = "—"


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
}
