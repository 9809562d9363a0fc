"""Reading a command's arguments with clear errors: the operator learns which argument is
wrong and why, and a command with an argument it does not take is refused, not half-done."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

import orjson

from chargeops.core.clock import format_timestamp, parse_timestamp, utcnow
from chargeops.core.commands import CommandRequest
from chargeops.core.errors import ChargeOpsError, InvalidInput

# Ids we hand to stations (2.0.1 requestId and remoteStartId, reservation and charging
# profile ids): started from the clock, so ids given out after a restart do not repeat
# those of before (a station's reports and its stored profiles name them).
_ids = itertools.count(int(time.time()) % 1_000_000_000)


def next_id() -> int:
    return next(_ids)


# Local authorization list statuses, as operators write them and as OCPP spells them
TOKEN_STATUSES = {
    "accepted": "Accepted",
    "blocked": "Blocked",
    "expired": "Expired",
    "invalid": "Invalid",
    "concurrenttx": "ConcurrentTx",
}
REMOVE = "remove"  # a differential update's entry without status: take it off the list


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One token of a local authorization list, in no version's words."""

    id_tag: str
    status: str | None  # an OCPP status word; None: remove (differential updates)
    expires_at: str | None
    parent_id_tag: str | None
    token_type: str | None


@dataclass(frozen=True, slots=True)
class SimpleProfile:
    """A one-period charging limit, from set_charging_profile's short form."""

    profile_id: int
    stack_level: int
    purpose: str  # station_max, tx_default or tx
    unit: str  # W or A
    limit: Decimal
    starts_at: str
    valid_to: str | None
    transaction_id: str | None

    @property
    def json_limit(self) -> int | float:
        """The limit as a JSON number (OCPP allows one decimal)."""
        whole = self.limit.to_integral_value()
        return int(whole) if whole == self.limit else float(round(self.limit, 1))


class Args:
    def __init__(self, request: CommandRequest) -> None:
        self._name = request.name.value
        self._given = dict(request.arguments)
        self._read: set[str] = set()

    def fail(self, argument: str, why: str) -> NoReturn:
        raise InvalidInput(f"{self._name}: {argument}: {why}")

    def raw(self, key: str) -> Any:
        self._read.add(key)
        return self._given.get(key)

    def text(self, key: str, *, required: bool = True, max_length: int = 255) -> Any:
        value = self.raw(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value:
            self.fail(key, "must be a non-empty string")
        if len(value) > max_length:
            self.fail(key, f"must be at most {max_length} characters")
        return value

    def integer(self, key: str, *, required: bool = True, minimum: int = 0) -> Any:
        value = self.raw(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.fail(key, f"must be an integer of at least {minimum}")
        return value

    def flag(self, key: str, *, default: bool | None = None) -> bool:
        value = self.raw(key)
        if value is None and default is not None:
            return default
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            self.fail(key, "must be true or false")
        return value

    def choice(self, key: str, options: Sequence[str], *, default: str | None = None) -> str:
        value = self.raw(key)
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or value.lower() not in options:
            self.fail(key, f"must be one of {', '.join(options)}")
        return value.lower()

    def mapping(self, key: str, *, required: bool = True) -> Any:
        value = self.raw(key)
        if value is None and not required:
            return None
        if not isinstance(value, dict):
            self.fail(key, "must be a JSON object")
        return value

    def text_list(self, key: str, *, required: bool = True) -> list[str] | None:
        value = self.raw(key)
        if value is None and not required:
            return None
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(key, "must be a list of names (or one comma-separated string)")
        return value

    def retries(self, payload: dict[str, Any]) -> None:
        """The optional retry count and interval of a firmware or log transfer."""
        retries = self.integer("retries", required=False, minimum=0)
        if retries is not None:
            payload["retries"] = retries
        interval = self.integer("retry_interval_s", required=False, minimum=0)
        if interval is not None:
            payload["retryInterval"] = interval

    def timestamp(self, key: str, *, required: bool = False) -> str | None:
        """An ISO 8601 time, sent the way every charger reads it (UTC, ``Z``)."""
        value = self.raw(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if not isinstance(value, str):
            self.fail(key, "must be an ISO 8601 time, e.g. 2026-11-22T18:00:00Z")
        try:
            return format_timestamp(parse_timestamp(value))
        except ChargeOpsError as exc:
            self.fail(key, exc.detail)

    def later(self, key: str, default: timedelta) -> str:
        """A time in the future (a reservation's expiry): given, or now + ``default``."""
        value = self.timestamp(key)
        if value is None:
            return format_timestamp(utcnow() + default)
        if parse_timestamp(value) <= utcnow():
            self.fail(key, "must be in the future")
        return value

    def decimal(self, key: str, *, minimum: Decimal = Decimal(0)) -> Decimal:
        value = self.raw(key)
        try:
            number = Decimal(str(value)) if isinstance(value, int | float | str) else None
        except InvalidOperation:
            number = None
        if number is None or isinstance(value, bool) or not number.is_finite() or number < minimum:
            self.fail(key, f"must be a number of at least {minimum}")
        return number

    def list_entries(self, differential: bool) -> list[ListEntry]:
        """The ``tokens`` of send_local_list: [{id_tag, status, expires_at, parent_id_tag,
        type}]; status defaults to accepted, and ``remove`` only makes sense in a
        differential update."""
        value = self.raw("tokens")
        if not isinstance(value, list):
            self.fail("tokens", "must be a list of {id_tag, status, expires_at, ...} objects")
        entries = []
        for i, item in enumerate(value):
            where = f"tokens[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("id_tag"), str):
                self.fail(where, "must be an object with an id_tag")
            unknown = set(item) - {"id_tag", "status", "expires_at", "parent_id_tag", "type"}
            if unknown:
                self.fail(where, f"does not take {', '.join(sorted(unknown))}")
            word = str(item.get("status") or "accepted").lower().replace("_", "")
            if word == REMOVE and not differential:
                self.fail(where, "remove is only for a differential update")
            if word != REMOVE and word not in TOKEN_STATUSES:
                self.fail(where, f"status must be one of {', '.join(TOKEN_STATUSES)}, {REMOVE}")
            expires = item.get("expires_at")
            try:
                expires = format_timestamp(parse_timestamp(expires)) if expires else None
            except ChargeOpsError as exc:
                self.fail(where, exc.detail)
            entries.append(
                ListEntry(
                    item["id_tag"],
                    None if word == REMOVE else TOKEN_STATUSES[word],
                    expires,
                    item.get("parent_id_tag"),
                    item.get("type"),
                )
            )
        return entries

    def simple_profile(self) -> SimpleProfile:
        """set_charging_profile's short form: ``limit`` in ``unit`` from now on."""
        purpose = self.choice("purpose", ("station_max", "tx_default", "tx"), default="tx_default")
        transaction_id = self.text("transaction_id", required=purpose == "tx", max_length=36)
        if transaction_id is not None and purpose != "tx":
            self.fail("transaction_id", "is only for purpose tx (a session's own limit)")
        return SimpleProfile(
            profile_id=self.integer("profile_id", required=False, minimum=1) or next_id(),
            stack_level=self.integer("stack_level", required=False) or 0,
            purpose=purpose,
            unit=self.choice("unit", ("w", "a"), default="w").upper(),
            limit=self.decimal("limit"),
            starts_at=self.timestamp("starts_at") or format_timestamp(utcnow()),
            valid_to=self.timestamp("valid_to"),
            transaction_id=transaction_id,
        )

    def json_text(self, value: Any) -> str:
        return orjson.dumps(value).decode()

    def done(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload, once every argument given was used."""
        unused = sorted(set(self._given) - self._read)
        if unused:
            raise InvalidInput(f"{self._name} does not take {', '.join(unused)}")
        return payload
