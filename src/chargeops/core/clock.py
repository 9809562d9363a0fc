"""Time is UTC and timezone-aware everywhere; these helpers keep it that way."""

from __future__ import annotations

from datetime import UTC, datetime

from chargeops.core.errors import InvalidInput


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """A time a user gave (a query parameter): aware UTC; one without an offset is read
    as UTC, like everywhere else in chargeops."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 timestamp from a charger or a user into aware UTC.

    Chargers in the field send ``Z``, ``+00:00``, other offsets, and sometimes no offset
    at all; a missing offset is read as UTC, which is what OCPP requires them to send.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError) as exc:
        raise InvalidInput(f"not an ISO 8601 timestamp: {text!r}") from exc
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """Render UTC with millisecond precision and a ``Z``: what every charger accepts."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
