"""OCPP 1.6J: charger payloads to the neutral vocabulary, and our answers back.

Wire dicts stay camelCase here; only the fields the domain uses are read out. Schema
validation comes first, so everything below may trust types and required fields.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from chargeops.core import charging as c
from chargeops.core.clock import format_timestamp
from chargeops.core.commands import CommandAnswer, CommandRequest, CommandStatus
from chargeops.core.errors import InvalidInput
from chargeops.core.units import parse_decimal, to_base
from chargeops.protocol import v16_commands
from chargeops.protocol.errors import CallError, ErrorCode
from chargeops.protocol.sampling import DEFAULT_MEASURAND, default_unit
from chargeops.protocol.sampling import timestamp as _time
from chargeops.protocol.validation import answer_problem, outgoing, validate

VERSION = "1.6"
SUBPROTOCOL = "ocpp1.6"

# Actions only the central system sends: a charger sending one is not understood.
_CENTRAL_SYSTEM_ACTIONS = frozenset(
    {
        "CancelReservation",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "GetCompositeSchedule",
        "GetConfiguration",
        "GetDiagnostics",
        "GetLocalListVersion",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "TriggerMessage",
        "UnlockConnector",
        "UpdateFirmware",
    }
)


def _connector(value: int, field: str = "connectorId", *, minimum: int = 0) -> int:
    if value < minimum:
        raise CallError(
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
            f"{field} must be >= {minimum}",
            {"field": field},
        )
    return value


def samples(meter_values: list[dict[str, Any]], field: str) -> tuple[c.MeterSample, ...]:
    """Flatten meterValue[].sampledValue[] into samples in base units.

    A value that is not a number (a garbled sample, or signed data) is kept as sent with
    no numeric value: refusing the message would make the charger resend it forever.
    """
    out: list[c.MeterSample] = []
    for meter_value in meter_values:
        at = _time(meter_value["timestamp"], f"{field}.timestamp")
        for sv in meter_value["sampledValue"]:
            measurand = sv.get("measurand", DEFAULT_MEASURAND)
            raw_unit = sv.get("unit") or default_unit(measurand)
            fmt = sv.get("format", "Raw")
            raw = sv["value"]
            value: Decimal | None = None
            unit = raw_unit
            if fmt == "Raw":
                try:
                    value, unit = to_base(parse_decimal(raw), raw_unit)
                except (InvalidInput, ArithmeticError):
                    value = None
            out.append(
                c.MeterSample(
                    timestamp=at,
                    measurand=measurand,
                    value=value,
                    unit=unit,
                    raw_value=raw,
                    raw_unit=raw_unit,
                    phase=sv.get("phase"),
                    location=sv.get("location", "Outlet"),
                    context=sv.get("context", "Sample.Periodic"),
                    format=fmt,
                )
            )
    return tuple(out)


# --- decoders ---------------------------------------------------------------------------


def _boot(p: dict[str, Any]) -> c.StationIdentity:
    return c.StationIdentity(
        vendor=p["chargePointVendor"],
        model=p["chargePointModel"],
        serial_number=p.get("chargePointSerialNumber"),
        charge_box_serial_number=p.get("chargeBoxSerialNumber"),
        firmware_version=p.get("firmwareVersion"),
        iccid=p.get("iccid"),
        imsi=p.get("imsi"),
        meter_type=p.get("meterType"),
        meter_serial_number=p.get("meterSerialNumber"),
    )


def _evse(connector_id: int) -> tuple[int, int]:
    """A 1.6 connector n is EVSE n with one connector; 0 is the station itself."""
    return (connector_id, 1) if connector_id > 0 else (0, 0)


def _status(p: dict[str, Any]) -> c.ConnectorStatusReport:
    evse_id, connector_id = _evse(_connector(p["connectorId"]))
    return c.ConnectorStatusReport(
        evse_id=evse_id,
        connector_id=connector_id,
        status=p["status"],
        error_code=p["errorCode"],
        timestamp=_time(p["timestamp"], "timestamp") if "timestamp" in p else None,
        info=p.get("info"),
        vendor_id=p.get("vendorId"),
        vendor_error_code=p.get("vendorErrorCode"),
    )


def _meter_values(p: dict[str, Any]) -> c.MeterReport:
    tx = p.get("transactionId")
    return c.MeterReport(
        evse_id=_connector(p["connectorId"]),
        transaction_ref=None if tx is None else str(tx),
        samples=samples(p["meterValue"], "meterValue"),
    )


def _start(p: dict[str, Any]) -> c.TransactionStart:
    evse_id, connector_id = _evse(_connector(p["connectorId"], minimum=1))
    return c.TransactionStart(
        evse_id=evse_id,
        connector_id=connector_id,
        id_tag=p["idTag"],
        meter_start_wh=p["meterStart"],
        timestamp=_time(p["timestamp"], "timestamp"),
        reservation_id=p.get("reservationId"),
    )


def _stop(p: dict[str, Any]) -> c.TransactionStop:
    return c.TransactionStop(
        transaction_ref=str(p["transactionId"]),
        meter_stop_wh=p["meterStop"],
        timestamp=_time(p["timestamp"], "timestamp"),
        id_tag=p.get("idTag"),
        reason=p.get("reason", "Local"),  # 1.6: an omitted reason means Local
        samples=samples(p.get("transactionData", []), "transactionData"),
    )


_DECODERS: dict[str, Callable[[dict[str, Any]], c.ChargerRequest]] = {
    "BootNotification": _boot,
    "Heartbeat": lambda p: c.Heartbeat(),
    "StatusNotification": _status,
    "Authorize": lambda p: c.AuthorizeRequest(p["idTag"]),
    "StartTransaction": _start,
    "StopTransaction": _stop,
    "MeterValues": _meter_values,
    "DataTransfer": lambda p: c.DataTransferRequest(
        p["vendorId"], p.get("messageId"), p.get("data")
    ),
    "DiagnosticsStatusNotification": lambda p: c.DiagnosticsStatusReport(p["status"]),
    "FirmwareStatusNotification": lambda p: c.FirmwareStatusReport(p["status"]),
}

ACTIONS = frozenset(_DECODERS)


# --- encoders ---------------------------------------------------------------------------


# statuses OCPP 1.6 has words for; a later version's refusal reads Invalid
_V16_STATUSES = frozenset({"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"})


def id_tag_info(auth: c.Authorization) -> dict[str, Any]:
    status = auth.status.value if auth.status.value in _V16_STATUSES else "Invalid"
    info: dict[str, Any] = {"status": status}
    if auth.expires_at is not None:
        info["expiryDate"] = format_timestamp(auth.expires_at)
    if auth.parent_id_tag is not None and len(auth.parent_id_tag) <= 20:
        info["parentIdTag"] = auth.parent_id_tag
    return info


def _encode(answer: c.ChargerAnswer) -> dict[str, Any]:
    match answer:
        case c.Acknowledged():
            return {}
        case c.BootAnswer(status, now, interval):
            return {
                "status": status.value,
                "currentTime": format_timestamp(now),
                "interval": interval,
            }
        case c.HeartbeatAnswer(now):
            return {"currentTime": format_timestamp(now)}
        case c.Authorization():
            return {"idTagInfo": id_tag_info(answer)}
        case c.TransactionStarted(ref, auth):
            return {"transactionId": int(ref), "idTagInfo": id_tag_info(auth)}
        case c.TransactionStopped(auth):
            return {} if auth is None else {"idTagInfo": id_tag_info(auth)}
        case c.DataTransferAnswer(status, data):
            out: dict[str, Any] = {"status": status.value}
            if data is not None:
                out["data"] = data if isinstance(data, str) else orjson.dumps(data).decode()
            return out
    raise CallError(ErrorCode.INTERNAL_ERROR, f"no 1.6 form for {type(answer).__name__}")


# 1.6 has no word of its own for these two; what it used for them
_ERROR_WORDS: dict[str, str] = {
    ErrorCode.RPC_FRAMEWORK_ERROR: ErrorCode.FORMATION_VIOLATION,
    ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED: ErrorCode.PROTOCOL_ERROR,
}


class V16Adapter:
    """The OCPP 1.6J adapter for :class:`chargeops.protocol.session.ChargerSession`."""

    version = VERSION
    subprotocol = SUBPROTOCOL
    schemas = "v16"
    actions = ACTIONS

    def error_code(self, code: str) -> str:
        return _ERROR_WORDS.get(code, code)

    def command(self, request: CommandRequest) -> tuple[str, dict[str, Any]]:
        action, payload = v16_commands.encode(request)
        return action, outgoing(self.schemas, action, payload)

    def command_answer(
        self, request: CommandRequest, action: str, payload: dict[str, Any]
    ) -> CommandAnswer:
        problem = answer_problem(self.schemas, f"{action}Response", payload)
        if problem is not None:
            return CommandAnswer(CommandStatus.FAILED, payload, problem)
        return v16_commands.interpret(request, payload)

    def decode(self, action: str, payload: dict[str, Any]) -> c.ChargerRequest:
        decoder = _DECODERS.get(action)
        if decoder is None:
            if action in _CENTRAL_SYSTEM_ACTIONS:
                raise CallError(
                    ErrorCode.NOT_SUPPORTED, f"{action} is sent by a central system, not to one"
                )
            raise CallError(ErrorCode.NOT_IMPLEMENTED, f"unknown action {action!r}")
        validate("v16", action, payload)
        return decoder(payload)

    def encode(self, action: str, answer: c.ChargerAnswer) -> dict[str, Any]:
        return _encode(answer)
