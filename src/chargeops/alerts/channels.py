"""People's notification channels and quiet hours.

Addresses are checked per kind when they are entered, so a typo fails in front of the
person who made it rather than at 3 a.m. when an alert needs the address. Quiet hours are
wall-clock times in the person's zone; :meth:`QuietHours.ends_after` turns them into the
UTC instant a deferred notification becomes due, across midnight and DST changes.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.alerts.models import NotificationChannel, NotificationSettings
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.storage.upsert import insert_ignore_many
from chargeops.storage.writer import Work
from chargeops.users.models import User

ChannelKind = Literal["email", "sms", "webhook", "console"]
KINDS: tuple[ChannelKind, ...] = ("email", "sms", "webhook", "console")
MAX_CHANNELS = 20  # per person: more is a mistake or abuse, never a need
SECRET_PREFIX = "whsec_"
DEFAULT_TIME_ZONE = "UTC"

_EMAIL = re.compile(r"[^@\s,;<>\"()\[\]\\]+@[^@\s,;<>\"()\[\]\\]+\.[^@\s,;<>\"()\[\]\\]+")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_SECRET = re.compile(r"[\x21-\x7e]{16,200}")  # printable ASCII, no spaces


def check_address(kind: str, address: str | None, *, allow_private: bool = True) -> str:
    """The address as it is stored for ``kind``, or InvalidInput in words.

    ``allow_private=False`` refuses webhooks to loopback, private and link-local
    addresses given as such: a driver's webhook must not make the server probe the
    operator's own network (names that resolve there are not caught here).
    """
    value = (address or "").strip()
    if kind == "console":
        if value:
            raise InvalidInput("a console channel has no address: leave it empty")
        return ""
    if not value:
        raise InvalidInput(f"a {kind} channel needs an address")
    if kind == "email":
        if len(value) > 254 or not _EMAIL.fullmatch(value):
            raise InvalidInput(f"{value!r} is not an email address (like name@example.com)")
        return value
    if kind == "sms":
        number = _PHONE_PUNCTUATION.sub("", value)
        if number.startswith("00"):
            number = "+" + number[2:]
        if not _E164.fullmatch(number):
            raise InvalidInput(
                f"{value!r} is not a phone number in international (E.164) form: "
                "+, the country code and the number, like +4917012345678"
            )
        return number
    if kind == "webhook":
        return _check_url(value, allow_private=allow_private)
    raise InvalidInput(f"unknown channel kind {kind!r}: use one of {', '.join(KINDS)}")


def _check_url(value: str, *, allow_private: bool) -> str:
    if len(value) > 500:
        raise InvalidInput("a webhook URL is at most 500 characters")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidInput(f"not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidInput(f"a webhook needs an http:// or https:// URL with a host, not {value!r}")
    if not allow_private and _is_internal(url.host):
        raise InvalidInput(
            f"webhooks to {url.host} are not allowed: use an address reachable on the internet"
        )
    return value


def _is_internal(host: str) -> bool:
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(name)
    except ValueError:
        try:  # what the resolver also reads as IPv4: "2130706433", "127.1", "0x7f.0.0.1"
            ip = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return False
    return not ip.is_global or ip.is_multicast


def same_address(kind: str, a: str, b: str) -> bool:
    """Email addresses are compared ignoring case; a URL's path may not be."""
    return a.lower() == b.lower() if kind == "email" else a == b


def new_secret() -> str:
    """A webhook signing key: 256 random bits, prefixed so people recognise it."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def check_secret(secret: str) -> str:
    if not _SECRET.fullmatch(secret):
        raise InvalidInput(
            "a webhook secret is 16 to 200 printable ASCII characters without spaces"
        )
    return secret


# --- quiet hours ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuietHours:
    """From ``start`` to ``end`` local time in ``zone``; ``start > end`` wraps midnight."""

    start: time
    end: time
    zone: ZoneInfo

    def ends_after(self, now: datetime) -> datetime | None:
        """When the quiet hours ``now`` falls in end (UTC), or None if it is not quiet.

        The end is a wall-clock time: on a DST change it may not exist (it is read with
        the offset before the change, i.e. an hour later) or exist twice (the first one,
        or the second if the first has passed), and never lies before ``now``.
        """
        local = now.astimezone(self.zone)
        wall = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= wall < self.end
            day = local.date()
        else:
            inside = wall >= self.start or wall < self.end
            day = local.date() + timedelta(days=1) if wall >= self.start else local.date()
        if not inside:
            return None
        for fold in (0, 1):
            end = datetime.combine(day, self.end, tzinfo=self.zone).replace(fold=fold)
            if end.astimezone(UTC) > now:
                return end.astimezone(UTC)
        return None


def quiet_hours_of(settings: NotificationSettings | None) -> QuietHours | None:
    if settings is None or settings.quiet_from is None or settings.quiet_until is None:
        return None
    try:
        zone = ZoneInfo(settings.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(DEFAULT_TIME_ZONE)  # checked on input; a zone removed since: UTC
    start, end = _parse_hhmm(settings.quiet_from), _parse_hhmm(settings.quiet_until)
    if start is None or end is None or start == end:
        return None
    return QuietHours(start, end, zone)


def _parse_hhmm(value: str) -> time | None:
    match = _HHMM.fullmatch(value)
    return time(int(match[1]), int(match[2])) if match else None


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_settings(
    quiet_from: str | None, quiet_until: str | None, time_zone: str
) -> tuple[str | None, str | None, str]:
    """Normalised quiet hours and zone, or InvalidInput saying what is wrong."""
    time_zone = time_zone.strip()
    if time_zone != "UTC" and time_zone not in _zones():
        raise InvalidInput(
            f"time_zone {time_zone!r} is not an IANA time zone (like Europe/Berlin or UTC)"
        )
    if (quiet_from is None) != (quiet_until is None):
        raise InvalidInput("give both quiet_from and quiet_until, or neither (no quiet hours)")
    if quiet_from is None or quiet_until is None:
        return None, None, time_zone
    for name, value in (("quiet_from", quiet_from), ("quiet_until", quiet_until)):
        if _parse_hhmm(value.strip()) is None:
            raise InvalidInput(f"{name} must be a time of day as HH:MM (like 22:00), not {value!r}")
    quiet_from, quiet_until = quiet_from.strip(), quiet_until.strip()
    if quiet_from == quiet_until:
        raise InvalidInput("quiet_from and quiet_until are the same time: quiet hours need a span")
    return quiet_from, quiet_until, time_zone


async def settings_of(db: AsyncSession, user_id: int) -> NotificationSettings | None:
    return await db.get(NotificationSettings, user_id)


async def wants_session_notifications(db: AsyncSession, user_id: int) -> bool:
    """Whether a driver is told about their own sessions: yes, until they say no."""
    settings = await settings_of(db, user_id)
    return settings is None or settings.session_notifications


async def set_settings(
    work: Work,
    user_id: int,
    *,
    quiet_from: str | None,
    quiet_until: str | None,
    time_zone: str,
    session_notifications: bool | None = None,
    now: datetime,
) -> NotificationSettings:
    """Store a person's quiet hours (checked by :func:`check_settings` first) and, when
    given, whether they hear about their sessions (None keeps what they chose, so a
    client that knows only quiet hours cannot turn them back on). Insert then update,
    so two requests at once cannot both insert."""
    quiet_from, quiet_until, time_zone = check_settings(quiet_from, quiet_until, time_zone)
    values: dict[str, object] = {
        "quiet_from": quiet_from,
        "quiet_until": quiet_until,
        "time_zone": time_zone,
        "updated_at": now,
    }
    if session_notifications is not None:
        values["session_notifications"] = session_notifications
    await insert_ignore_many(work.session, NotificationSettings, [{"user_id": user_id, **values}])
    await work.session.execute(
        update(NotificationSettings)
        .where(NotificationSettings.user_id == user_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    row = await work.session.get(NotificationSettings, user_id, populate_existing=True)
    assert row is not None
    return row


# --- channels ---------------------------------------------------------------------------


async def channels_of(db: AsyncSession, user_id: int) -> Sequence[NotificationChannel]:
    stmt = (
        select(NotificationChannel)
        .where(NotificationChannel.user_id == user_id)
        .order_by(NotificationChannel.id)
    )
    return (await db.scalars(stmt)).all()


async def get_channel(db: AsyncSession, user_id: int, channel_id: int) -> NotificationChannel:
    """The channel, if it is ``user_id``'s: another person's is NotFound like a missing one."""
    row = await db.get(NotificationChannel, channel_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"notification channel {channel_id} does not exist")
    return row


async def add_channel(
    work: Work,
    user_id: int,
    *,
    kind: str,
    address: str | None,
    secret: str | None = None,
    enabled: bool = True,
    allow_private: bool = True,
    now: datetime,
) -> tuple[NotificationChannel, str | None]:
    """A new channel and, for a webhook, its secret (generated unless given), which the
    caller shows once. The same kind and address twice is a Conflict."""
    address = check_address(kind, address, allow_private=allow_private)
    if secret is not None and kind != "webhook":
        raise InvalidInput("only a webhook channel has a secret")
    if kind == "webhook":
        secret = check_secret(secret) if secret is not None else new_secret()
    user = await work.session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    existing = await channels_of(work.session, user_id)
    if len(existing) >= MAX_CHANNELS:
        raise Conflict(f"a person has at most {MAX_CHANNELS} notification channels")
    if any(c.kind == kind and same_address(kind, c.address, address) for c in existing):
        what = "a console channel" if kind == "console" else f"a {kind} channel to {address}"
        raise Conflict(f"there is already {what}")
    row = NotificationChannel(
        user_id=user_id,
        kind=kind,
        address=address,
        secret=secret,
        enabled=enabled,
        created_at=now,
    )
    work.session.add(row)
    await work.session.flush()
    return row, secret


async def update_channel(
    work: Work,
    user_id: int,
    channel_id: int,
    *,
    address: str | None = None,
    enabled: bool | None = None,
    secret: str | None = None,
    rotate_secret: bool = False,
    allow_private: bool = True,
) -> tuple[NotificationChannel, str | None]:
    """Change what is given; returns the new secret when it changed (shown once).
    Notifications already queued keep the address and secret they were made with."""
    row = await get_channel(work.session, user_id, channel_id)
    if address is not None:
        row.address = check_address(row.kind, address, allow_private=allow_private)
        others = await channels_of(work.session, user_id)
        if any(
            c.id != row.id and c.kind == row.kind and same_address(c.kind, c.address, row.address)
            for c in others
        ):
            raise Conflict(f"there is already a {row.kind} channel to {row.address}")
    if enabled is not None:
        row.enabled = enabled
    new: str | None = None
    if secret is not None or rotate_secret:
        if row.kind != "webhook":
            raise InvalidInput("only a webhook channel has a secret")
        if secret is not None and rotate_secret:
            raise InvalidInput("give a secret or ask to rotate it, not both")
        new = check_secret(secret) if secret is not None else new_secret()
        row.secret = new
    await work.session.flush()
    return row, new


async def remove_channel(work: Work, user_id: int, channel_id: int) -> None:
    row = await get_channel(work.session, user_id, channel_id)
    await work.session.delete(row)
    await work.session.flush()
