"""Payload validation against the OCPP JSON schemas shipped by the `ocpp` package.

The schemas are compiled to Python with fastjsonschema (tens of microseconds a message,
against hundreds for the `ocpp` package's own jsonschema validation). Each failure maps to
the CALLERROR code the OCPP-J specification describes for it.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Callable
from typing import Any

import fastjsonschema

from chargeops.core.errors import InvalidInput
from chargeops.protocol.errors import CallError, ErrorCode

Validator = Callable[[dict[str, Any]], Any]

# schema keyword that failed -> what the 1.6 specification calls that failure
_CODE_BY_RULE = {
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "maxLength": ErrorCode.TYPE_CONSTRAINT_VIOLATION,  # CiStringNType length is the type
    "multipleOf": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "required": ErrorCode.FORMATION_VIOLATION,
    "additionalProperties": ErrorCode.FORMATION_VIOLATION,
    "minItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
}


def _without_formats(node: Any) -> Any:
    """Drop ``format`` keywords: timestamps are parsed (leniently) by the adapters, since
    chargers in the field send offsets the strict RFC 3339 pattern refuses."""
    if isinstance(node, dict):
        # the keyword has a string value; a property *named* format (SampledValue) stays
        return {
            k: _without_formats(v)
            for k, v in node.items()
            if not (k == "format" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_without_formats(v) for v in node]
    return node


@functools.cache
def validator(version_dir: str, schema_name: str) -> Validator | None:
    """The compiled validator for e.g. ``("v16", "MeterValues")``; None if no schema."""
    resource = importlib.resources.files("ocpp") / version_dir / "schemas" / f"{schema_name}.json"
    try:
        schema = json.loads(resource.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    compiled: Validator = fastjsonschema.compile(_without_formats(schema))
    return compiled


def validate(version_dir: str, schema_name: str, payload: dict[str, Any]) -> None:
    """Raise CallError with the right code if ``payload`` does not fit its schema."""
    check = validator(version_dir, schema_name)
    if check is None:
        raise CallError(ErrorCode.NOT_IMPLEMENTED, f"no schema for {schema_name}")
    try:
        check(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        code = _CODE_BY_RULE.get(exc.rule or "", ErrorCode.PROPERTY_CONSTRAINT_VIOLATION)
        field = (exc.name or "data").removeprefix("data").lstrip(".") or "payload"
        raise CallError(
            code,
            exc.message.replace("data.", "").replace("data ", "payload "),
            {"field": field, "rule": exc.rule},
        ) from None


def outgoing(version_dir: str, schema_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` if it fits the schema of a CALL we send; InvalidInput (a message for the
    operator who asked) if it does not: a charger must never get a malformed CALL."""
    try:
        validate(version_dir, schema_name, payload)
    except CallError as exc:
        raise InvalidInput(f"{schema_name.removesuffix('Request')}: {exc.description}") from None
    return payload


def answer_problem(version_dir: str, schema_name: str, payload: dict[str, Any]) -> str | None:
    """Why a charger's answer to our CALL does not fit its schema, or None if it does."""
    try:
        validate(version_dir, schema_name, payload)
    except CallError as exc:
        return f"the station's answer is not valid OCPP: {exc.description}"
    return None
