"""Opening hours as people write them, and back: OCPI's Hours object (what a site
keeps) shown in words ("Mon-Fri 06:00-22:00, Sat 08:00-14:00, closed Sun", with en
dashes) and edited as one line per day or range of days ("Mon-Fri 06:00-22:00").

Only the reading of the text is here; whether the hours make sense (a real time, a
period of some length) is the sites service's to say, so the console shows its words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chargeops.core.errors import InvalidInput

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # ISO: Monday is 1
ALWAYS = frozenset({"24/7", "24x7", "always", "always open", "open 24/7"})
_NAMES = {
    "daily": tuple(range(1, 8)),
    "every day": tuple(range(1, 8)),
    "weekdays": tuple(range(1, 6)),
    "weekends": (6, 7),
    "weekend": (6, 7),
}
DASH = "\N{EN DASH}"
_DASHES = re.compile(r"\s*(?:-|\u2013|\u2014|\bto\b)\s*")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_NOTES = re.compile(r"\([^)]*\)")  # "(next day)"
_CLOSED = re.compile(r"[;,]?\s*\bclosed\b", re.IGNORECASE)  # "..., closed Sun": the rest
_PARTS = re.compile(r"[;,]\s*(?=[^\W\d_])(?!(?:and|to)\b)")  # before the next day's name
_SPANS = re.compile(r"\s*(?:,|\band\b)\s*")
HINT = (
    "one line per day or range of days with its opening times, e.g. "
    "'Mon-Fri 06:00-22:00' and 'Sat 08:00-14:00'; '24/7' for always open"
)

Spans = tuple[tuple[str, str], ...]


def _by_day(hours: Mapping[str, Any]) -> dict[int, Spans]:
    found: dict[int, list[tuple[str, str]]] = {}
    for period in hours.get("regular_hours") or ():
        found.setdefault(int(period["weekday"]), []).append((period["begin"], period["end"]))
    return {day: tuple(sorted(spans)) for day, spans in found.items()}


def _runs(days: Mapping[int, Spans]) -> list[tuple[int, int, Spans]]:
    """Consecutive weekdays with the same opening times: (first, last, times)."""
    runs: list[tuple[int, int, Spans]] = []
    for day in range(1, 8):
        spans = days.get(day)
        if spans is None:
            continue
        if runs and runs[-1][1] == day - 1 and runs[-1][2] == spans:
            runs[-1] = (runs[-1][0], day, spans)
        else:
            runs.append((day, day, spans))
    return runs


def _days(first: int, last: int, dash: str) -> str:
    if first == last:
        return WEEKDAYS[first - 1]
    return f"{WEEKDAYS[first - 1]}{dash}{WEEKDAYS[last - 1]}"


def _closed(days: Mapping[int, Spans]) -> str:
    closed = {day: () for day in range(1, 8) if day not in days}
    return ", ".join(_days(first, last, DASH) for first, last, _ in _runs(closed))


def in_words(hours: Mapping[str, Any] | None) -> str:
    """``Mon-Fri 06:00-22:00, Sat 08:00-14:00, closed Sun`` (en dashes); ``open 24/7``."""
    if not hours:
        return "not stated"
    if hours.get("twentyfourseven"):
        return "open 24/7"
    days = _by_day(hours)
    if not days:
        return "not stated"
    parts = []
    for first, last, spans in _runs(days):
        times = " and ".join(
            f"{begin}{DASH}{end}" + (" (next day)" if end < begin else "") for begin, end in spans
        )
        label = "daily" if (first, last) == (1, 7) else _days(first, last, DASH)
        parts.append(f"{label} {times}")
    closed = _closed(days)
    return ", ".join(parts) + (f", closed {closed}" if closed else "")


def as_lines(hours: Mapping[str, Any] | None) -> str:
    """The hours as the form's text: what :func:`parse` reads back to the same hours."""
    if not hours:
        return ""
    if hours.get("twentyfourseven"):
        return "24/7"
    return "\n".join(
        f"{_days(first, last, '-')} {', '.join(f'{b}-{e}' for b, e in spans)}"
        for first, last, spans in _runs(_by_day(hours))
    )


def _weekday(word: str, line: int) -> int:
    key = word.strip()[:3].lower()
    for number, name in enumerate(WEEKDAYS, start=1):
        if name.lower() == key and len(word.strip()) >= 3:
            return number
    raise InvalidInput(
        f"opening hours, line {line}: {word.strip()!r} is not a day (Mon, Tue, Wed, Thu, "
        "Fri, Sat, Sun)"
    )


def _day_list(text: str, line: int) -> list[int]:
    days: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if item.lower() in _NAMES:
            days.extend(_NAMES[item.lower()])
            continue
        ends = _DASHES.split(item)
        if len(ends) == 1:
            days.append(_weekday(item, line))
        elif len(ends) == 2:
            first, last = _weekday(ends[0], line), _weekday(ends[1], line)
            span = (last - first) % 7
            days.extend((first - 1 + i) % 7 + 1 for i in range(span + 1))  # Sat-Mon wraps
        else:
            raise InvalidInput(f"opening hours, line {line}: {item!r} is not a range of days")
    if not days:
        raise InvalidInput(f"opening hours, line {line}: say which days, then the times")
    return days


def _time(text: str, line: int) -> str:
    found = _TIME.match(text.strip())
    if found is None:
        raise InvalidInput(
            f"opening hours, line {line}: {text.strip()!r} is not a time (HH:MM, e.g. 07:30)"
        )
    return f"{int(found.group(1)):02d}:{found.group(2)}"


def parse(text: str) -> dict[str, Any] | None:
    """The hours the form's text says; None when it is empty (not stated). InvalidInput
    names the line that cannot be read. It also reads back what :func:`in_words` writes
    ("Mon 06:00-22:00, Sat 08:00-14:00, closed Sun", with en dashes)."""
    lines = [
        _CLOSED.split(_NOTES.sub("", line))[0].strip()
        for line in text.replace("\r", "").split("\n")
    ]
    if not any(lines):
        return None
    if " ".join(" ".join(lines).lower().split()) in ALWAYS:
        return {"twentyfourseven": True}
    periods: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        waiting = ""  # days named before their times: "Mon, Wed 06:00-22:00"
        for part in _PARTS.split(line):
            if not part.strip():
                continue
            digit = re.search(r"\d", part)
            if digit is None:
                waiting += part + ","
                continue
            days = _day_list(waiting + part[: digit.start()].rstrip(": "), number)
            waiting = ""
            periods.extend(_periods(days, part[digit.start() :], number))
        if waiting.strip(", "):
            raise InvalidInput(f"opening hours, line {number}: no times in {line!r}; {HINT}")
    return {"regular_hours": periods}


def _periods(days: list[int], text: str, line: int) -> list[dict[str, Any]]:
    periods: list[dict[str, Any]] = []
    for span in _SPANS.split(text):
        if not span.strip():
            continue
        ends = _DASHES.split(span.strip())
        if len(ends) != 2:
            raise InvalidInput(
                f"opening hours, line {line}: {span.strip()!r} is not a period "
                "(begin-end, e.g. 06:00-22:00)"
            )
        begin, end = _time(ends[0], line), _time(ends[1], line)
        periods.extend({"weekday": day, "begin": begin, "end": end} for day in days)
    return periods
