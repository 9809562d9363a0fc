"""Opening hours as the console writes and reads them: OCPI's Hours in words, and the
form's lines back into the same hours."""

from __future__ import annotations

from typing import Any

import pytest

from chargeops.core.errors import InvalidInput
from chargeops.web import hours

D = "\N{EN DASH}"


def period(weekday: int, begin: str, end: str) -> dict[str, Any]:
    return {"weekday": weekday, "begin": begin, "end": end}


WEEKDAYS_AND_SATURDAY = {
    "twentyfourseven": False,
    "regular_hours": [
        *(period(d, "06:00", "22:00") for d in range(1, 6)),
        period(6, "08:00", "14:00"),
    ],
}


def test_hours_are_written_in_words() -> None:
    assert hours.in_words(None) == "not stated"
    assert hours.in_words({"twentyfourseven": True}) == "open 24/7"
    assert hours.in_words(WEEKDAYS_AND_SATURDAY) == (
        f"Mon{D}Fri 06:00{D}22:00, Sat 08:00{D}14:00, closed Sun"
    )
    split_day = {
        "regular_hours": [
            period(1, "06:00", "12:00"),
            period(1, "13:00", "22:00"),
            period(6, "08:00", "14:00"),
        ]
    }
    assert hours.in_words(split_day) == (
        f"Mon 06:00{D}12:00 and 13:00{D}22:00, Sat 08:00{D}14:00, closed Tue{D}Fri, Sun"
    )
    nights = {"regular_hours": [period(d, "22:00", "06:00") for d in range(1, 8)]}
    assert hours.in_words(nights) == f"daily 22:00{D}06:00 (next day)"


@pytest.mark.parametrize(
    "text",
    [
        "Mon-Fri 06:00-22:00\nSat 08:00-14:00",
        f"monday - friday 6:00 to 22:00\n\nSaturday: 08:00{D}14:00",
        "weekdays 06:00-22:00, Sat 08:00-14:00",
        f"Mon{D}Fri 06:00{D}22:00, Sat 08:00{D}14:00, closed Sun",  # what in_words wrote
    ],
)
def test_the_form_reads_hours_as_people_write_them(text: str) -> None:
    parsed = hours.parse(text)
    assert parsed is not None
    assert (
        sorted(parsed["regular_hours"], key=lambda p: (p["weekday"], p["begin"]))
        == (WEEKDAYS_AND_SATURDAY["regular_hours"])
    )
    assert hours.as_lines(WEEKDAYS_AND_SATURDAY) == "Mon-Fri 06:00-22:00\nSat 08:00-14:00"


def test_always_open_empty_and_wrapping_weeks() -> None:
    assert hours.parse("  ") is None
    assert hours.parse("24/7") == hours.parse("Open 24/7") == {"twentyfourseven": True}
    assert hours.as_lines({"twentyfourseven": True}) == "24/7"
    parsed = hours.parse("Sat-Mon 10:00-16:00")
    assert parsed is not None and [p["weekday"] for p in parsed["regular_hours"]] == [6, 7, 1]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Mon", "line 1: no times in 'Mon'"),
        ("Mon 06:00-07:00\nFunday 06:00-07:00", "line 2: 'Funday' is not a day"),
        ("Mon 06:00", "'06:00' is not a period (begin-end, e.g. 06:00-22:00)"),
        ("Mon 6-7", "'6' is not a time (HH:MM, e.g. 07:30)"),
        ("Mon 06:00-07:00, Tue", "no times in"),
    ],
)
def test_what_cannot_be_read_is_said_with_its_line(text: str, said: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        hours.parse(text)
    assert said in refused.value.detail
