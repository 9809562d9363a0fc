"""Reading a command's arguments with clear errors: the operator learns which argument is
wrong and why, and a command with an argument it does not take is refused, not half-done."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import orjson

from chargeops.core.commands import CommandRequest
from chargeops.core.errors import InvalidInput


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

    def json_text(self, value: Any) -> str:
        return orjson.dumps(value).decode()

    def done(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload, once every argument given was used."""
        unused = sorted(set(self._given) - self._read)
        if unused:
            raise InvalidInput(f"{self._name} does not take {', '.join(unused)}")
        return payload
