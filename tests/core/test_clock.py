"""Time is UTC and timezone-aware; what chargers send is read leniently, what we send is strict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chargeops.core.clock import format_timestamp, parse_timestamp, utcnow
from chargeops.core.errors import InvalidInput

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", T0),
        ("2024-05-01T10:00:00+00:00", T0),
        ("2024-05-01T12:00:00+02:00", T0),
        ("2024-05-01T05:30:00-04:30", T0),
        ("2024-05-01T12:00:00+0200", T0),
        ("2024-05-01T10:00:00", T0),  # no offset: UTC, as OCPP requires chargers to send
        ("2024-05-01T10:00:00.250Z", T0 + timedelta(milliseconds=250)),
        ("2024-05-01T10:00:00.123456Z", T0 + timedelta(microseconds=123456)),
        (" 2024-05-01T10:00:00Z\n", T0),
    ],
)
def test_parse_timestamp_gives_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)

    assert parsed == expected
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2024-13-01T00:00:00Z", "2024-05-01T25:00:00Z", "1714557600"]
)
def test_parse_timestamp_refuses_what_is_not_a_timestamp(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_timestamp(text)


def test_format_timestamp_gives_milliseconds_and_z() -> None:
    assert format_timestamp(T0) == "2024-05-01T10:00:00.000Z"


def test_format_timestamp_truncates_to_three_decimals() -> None:
    """Some chargers reject more than three decimals of seconds."""
    value = T0.replace(microsecond=123987)

    assert format_timestamp(value) == "2024-05-01T10:00:00.123Z"


def test_format_timestamp_converts_other_offsets_to_utc() -> None:
    value = datetime(2024, 5, 1, 0, 30, 0, 5000, tzinfo=timezone(timedelta(hours=2)))

    assert format_timestamp(value) == "2024-04-30T22:30:00.005Z"


def test_a_formatted_timestamp_parses_back_to_the_same_millisecond() -> None:
    value = datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC)

    assert parse_timestamp(format_timestamp(value)) == value


def test_utcnow_is_aware_utc() -> None:
    now = utcnow()

    assert now.tzinfo == UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
