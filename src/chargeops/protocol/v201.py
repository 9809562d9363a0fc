"""OCPP 2.0.1 (and 2.1, which keeps these messages' shape): charger payloads to the
neutral vocabulary, and our answers back.

The differences from 1.6 that matter to the domain are handled here: EVSEs with their
own connectors, transactions the charger names and numbers (TransactionEvent), typed id
tokens, numeric sampled values with a unit and a power-of-ten multiplier, and the
device model (NotifyReport). Messages we keep but do not act on yet become station
notices.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from chargeops.core import charging as c
from chargeops.core.clock import format_timestamp
from chargeops.core.commands import CommandAnswer, CommandRequest, CommandStatus
from chargeops.core.errors import InvalidInput
from chargeops.core.units import to_base
from chargeops.protocol import v201_commands
from chargeops.protocol.errors import CallError, ErrorCode
from chargeops.protocol.sampling import DEFAULT_MEASURAND, default_unit, timestamp
from chargeops.protocol.validation import answer_problem, outgoing, validate

# What 2.0.1 calls the errors 1.6 named otherwise
_ERROR_WORDS: dict[str, str] = {
    ErrorCode.FORMATION_VIOLATION: "FormatViolation",
    ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION: "OccurrenceConstraintViolation",
}

# Requests a charger may send that need a decision we cannot make yet (certificates,
# ISO 15118 charging needs): recognised, and refused as NotSupported.
_NOT_SUPPORTED = frozenset(
    {
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "SignCertificate",
    }
)


# signedMeterValue's fields beside the data, as the domain names them
_SIGNATURE_FIELDS = (
    ("signing_method", "signingMethod"),
    ("encoding_method", "encodingMethod"),
    ("public_key", "publicKey"),
)


def _samples(meter_values: list[dict[str, Any]], field: str) -> tuple[c.MeterSample, ...]:
    """Flatten meterValue[].sampledValue[] into samples in base units.

    2.0.1 values are numbers with a unit and a power-of-ten multiplier; signed data
    (Eichrecht, OCMF) is kept as sent in ``raw_value``, beside the number.
    """
    out: list[c.MeterSample] = []
    for meter_value in meter_values:
        at = timestamp(meter_value["timestamp"], f"{field}.timestamp")
        for sv in meter_value["sampledValue"]:
            measurand = sv.get("measurand", DEFAULT_MEASURAND)
            uom = sv.get("unitOfMeasure") or {}
            raw_unit = uom.get("unit") or default_unit(measurand)
            multiplier = uom.get("multiplier", 0)
            number = Decimal(str(sv["value"]))
            value: Decimal | None
            try:
                value, unit = to_base(number.scaleb(multiplier), raw_unit)
            except (InvalidInput, InvalidOperation):
                value, unit = None, raw_unit
            signed = sv.get("signedMeterValue")
            signature = None
            if signed:
                signature = {
                    key: str(signed[name])
                    for key, name in _SIGNATURE_FIELDS
                    if signed.get(name) not in (None, "")
                }
            out.append(
                c.MeterSample(
                    timestamp=at,
                    measurand=measurand,
                    value=value,
                    unit=unit,
                    raw_value=signed["signedMeterData"] if signed else str(sv["value"]),
                    raw_unit=raw_unit if not multiplier else f"10^{multiplier} {raw_unit}"[:16],
                    phase=sv.get("phase"),
                    location=sv.get("location", "Outlet"),
                    context=sv.get("context", "Sample.Periodic"),
                    format="SignedData" if signed else "Raw",
                    signature=signature or None,
                )
            )
    return tuple(out)


def _token(p: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if p is None:
        return None, None
    return p["idToken"], p["type"]


def _where(component: dict[str, Any], variable: dict[str, Any] | None = None) -> str:
    name = str(component["name"])
    if "instance" in component:
        name += f"[{component['instance']}]"
    evse = component.get("evse")
    if evse:
        name += f" EVSE {evse['id']}"
        if "connectorId" in evse:
            name += f"/{evse['connectorId']}"
    if variable is not None:
        name += "." + variable["name"]
        if "instance" in variable:
            name += f"[{variable['instance']}]"
    return name


# --- decoders ---------------------------------------------------------------------------


def _boot(p: dict[str, Any]) -> c.StationIdentity:
    station = p["chargingStation"]
    modem = station.get("modem") or {}
    return c.StationIdentity(
        vendor=station["vendorName"],
        model=station["model"],
        serial_number=station.get("serialNumber"),
        firmware_version=station.get("firmwareVersion"),
        iccid=modem.get("iccid"),
        imsi=modem.get("imsi"),
        reason=p["reason"],
    )


def _status(p: dict[str, Any]) -> c.ConnectorStatusReport:
    return c.ConnectorStatusReport(
        evse_id=p["evseId"],
        connector_id=p["connectorId"],
        status=p["connectorStatus"],
        error_code=None,  # 2.0.1 reports faults with NotifyEvent
        timestamp=timestamp(p["timestamp"], "timestamp"),
    )


def _authorize(p: dict[str, Any]) -> c.AuthorizeRequest:
    id_tag, token_type = _token(p["idToken"])
    assert id_tag is not None
    return c.AuthorizeRequest(id_tag, token_type)


def _transaction_event(p: dict[str, Any]) -> c.TransactionEventReport:
    info = p["transactionInfo"]
    evse = p.get("evse") or {}
    id_tag, token_type = _token(p.get("idToken"))
    return c.TransactionEventReport(
        event_type=c.TransactionEventType(p["eventType"]),
        transaction_ref=info["transactionId"],
        seq_no=p["seqNo"],
        timestamp=timestamp(p["timestamp"], "timestamp"),
        trigger_reason=p["triggerReason"],
        offline=p.get("offline", False),
        evse_id=evse.get("id"),
        connector_id=evse.get("connectorId"),
        id_tag=id_tag,
        token_type=token_type,
        charging_state=info.get("chargingState"),
        stopped_reason=info.get("stoppedReason"),
        remote_start_id=info.get("remoteStartId"),
        reservation_id=p.get("reservationId"),
        time_spent_charging_s=info.get("timeSpentCharging"),
        number_of_phases=p.get("numberOfPhasesUsed"),
        samples=_samples(p.get("meterValue", []), "meterValue"),
    )


def _meter_values(p: dict[str, Any]) -> c.MeterReport:
    return c.MeterReport(
        evse_id=p["evseId"],
        transaction_ref=None,
        samples=_samples(p["meterValue"], "meterValue"),
    )


def _notify_event(p: dict[str, Any]) -> c.StationNotices:
    notices = []
    for e in p["eventData"]:
        where = _where(e["component"], e["variable"])
        cleared = " (cleared)" if e.get("cleared") else ""
        component, variable = e["component"], e["variable"]
        evse = component.get("evse") or {}
        notices.append(
            c.Notice(
                timestamp(e["timestamp"], "eventData.timestamp"),
                f"{e['trigger']}: {where} = {e['actualValue']}{cleared}",
                {"generated_at": p["generatedAt"], "seq_no": p["seqNo"], **e},
                c.DeviceEvent(
                    component=component["name"],
                    variable=variable["name"],
                    value=str(e["actualValue"]),
                    trigger=e["trigger"],
                    cleared=bool(e.get("cleared", False)),
                    evse_id=evse.get("id"),
                    connector_id=evse.get("connectorId"),
                    component_instance=component.get("instance"),
                    variable_instance=variable.get("instance"),
                    tech_code=e.get("techCode"),
                    tech_info=e.get("techInfo"),
                ),
            )
        )
    return c.StationNotices("NotifyEvent", tuple(notices))


def _security_event(p: dict[str, Any]) -> c.StationNotices:
    info = f": {p['techInfo']}" if p.get("techInfo") else ""
    return c.StationNotices(
        "SecurityEvent",
        (c.Notice(timestamp(p["timestamp"], "timestamp"), f"{p['type']}{info}", dict(p)),),
    )


def _notice(kind: str, describe: Callable[[dict[str, Any]], str]) -> Callable[..., Any]:
    def decode(p: dict[str, Any]) -> c.StationNotices:
        return c.StationNotices(kind, (c.Notice(None, describe(p), dict(p)),))

    return decode


def _report(p: dict[str, Any]) -> c.DeviceModelReport:
    variables = []
    for item in p.get("reportData", []):
        component, variable = item["component"], item["variable"]
        evse = component.get("evse") or {}
        characteristics = item.get("variableCharacteristics")
        for attribute in item["variableAttribute"]:
            variables.append(
                c.ReportedVariable(
                    component=component["name"],
                    component_instance=component.get("instance"),
                    evse_id=evse.get("id"),
                    connector_id=evse.get("connectorId"),
                    variable=variable["name"],
                    variable_instance=variable.get("instance"),
                    attribute_type=attribute.get("type", "Actual"),
                    value=attribute.get("value"),
                    mutability=attribute.get("mutability", "ReadWrite"),
                    persistent=attribute.get("persistent", False),
                    constant=attribute.get("constant", False),
                    characteristics=characteristics,
                )
            )
    return c.DeviceModelReport(
        request_id=p["requestId"],
        seq_no=p["seqNo"],
        generated_at=timestamp(p["generatedAt"], "generatedAt"),
        more_to_come=p.get("tbc", False),
        variables=tuple(variables),
    )


def _limit(p: dict[str, Any]) -> str:
    limit = p["chargingLimit"]
    evse = f" on EVSE {p['evseId']}" if "evseId" in p else ""
    critical = ", grid critical" if limit.get("isGridCritical") else ""
    return f"charging limited by {limit['chargingLimitSource']}{evse}{critical}"


_DECODERS: dict[str, Callable[[dict[str, Any]], c.ChargerRequest]] = {
    "BootNotification": _boot,
    "Heartbeat": lambda p: c.Heartbeat(),
    "StatusNotification": _status,
    "Authorize": _authorize,
    "TransactionEvent": _transaction_event,
    "MeterValues": _meter_values,
    "NotifyEvent": _notify_event,
    "NotifyReport": _report,
    "SecurityEventNotification": _security_event,
    "FirmwareStatusNotification": lambda p: c.FirmwareStatusReport(p["status"], p.get("requestId")),
    "LogStatusNotification": lambda p: c.DiagnosticsStatusReport(p["status"], p.get("requestId")),
    "DataTransfer": lambda p: c.DataTransferRequest(
        p["vendorId"], p.get("messageId"), p.get("data")
    ),
    "NotifyChargingLimit": _notice("NotifyChargingLimit", _limit),
    "ClearedChargingLimit": _notice(
        "ClearedChargingLimit",
        lambda p: (
            f"charging limit of {p['chargingLimitSource']} cleared"
            + (f" on EVSE {p['evseId']}" if "evseId" in p else "")
        ),
    ),
    "ReservationStatusUpdate": _notice(
        "ReservationStatusUpdate",
        lambda p: f"reservation {p['reservationId']}: {p['reservationUpdateStatus']}",
    ),
    "NotifyCustomerInformation": _notice(
        "NotifyCustomerInformation", lambda p: f"customer information, request {p['requestId']}"
    ),
    "NotifyDisplayMessages": _notice(
        "NotifyDisplayMessages", lambda p: f"display messages, request {p['requestId']}"
    ),
    "NotifyMonitoringReport": _notice(
        "NotifyMonitoringReport", lambda p: f"monitoring report, request {p['requestId']}"
    ),
    "PublishFirmwareStatusNotification": _notice(
        "PublishFirmwareStatusNotification", lambda p: f"firmware publishing: {p['status']}"
    ),
    "ReportChargingProfiles": _notice(
        "ReportChargingProfiles",
        lambda p: f"charging profiles of EVSE {p['evseId']} from {p['chargingLimitSource']}",
    ),
}


# --- encoders ---------------------------------------------------------------------------


def id_token_info(auth: c.Authorization) -> dict[str, Any]:
    info: dict[str, Any] = {"status": auth.status.value}
    if auth.expires_at is not None:
        info["cacheExpiryDateTime"] = format_timestamp(auth.expires_at)
    if auth.parent_id_tag is not None:
        info["groupIdToken"] = {"idToken": auth.parent_id_tag[:36], "type": "Central"}
    return info


def _encode(answer: c.ChargerAnswer) -> dict[str, Any]:
    match answer:
        case c.Acknowledged():
            return {}
        case c.BootAnswer(status, now, interval):
            return {
                "currentTime": format_timestamp(now),
                "interval": interval,
                "status": status.value,
            }
        case c.HeartbeatAnswer(now):
            return {"currentTime": format_timestamp(now)}
        case c.Authorization():
            return {"idTokenInfo": id_token_info(answer)}
        case c.TransactionEventAnswer(auth):
            return {} if auth is None else {"idTokenInfo": id_token_info(auth)}
        case c.DataTransferAnswer(status, data):
            out: dict[str, Any] = {"status": status.value}
            if data is not None:
                out["data"] = data
            return out
    raise CallError(ErrorCode.INTERNAL_ERROR, f"no 2.0.1 form for {type(answer).__name__}")


class V201Adapter:
    """The OCPP 2.0.1 adapter for :class:`chargeops.protocol.session.ChargerSession`."""

    version = "2.0.1"
    subprotocol = "ocpp2.0.1"
    schemas = "v201"
    actions = frozenset(_DECODERS) | _NOT_SUPPORTED

    def command(self, request: CommandRequest) -> tuple[str, dict[str, Any]]:
        action, payload = v201_commands.encode(request)
        return action, outgoing(self.schemas, f"{action}Request", payload)

    def command_answer(
        self, request: CommandRequest, action: str, payload: dict[str, Any]
    ) -> CommandAnswer:
        problem = answer_problem(self.schemas, f"{action}Response", payload)
        if problem is not None:
            return CommandAnswer(CommandStatus.FAILED, payload, problem)
        return v201_commands.interpret(request, payload)

    def decode(self, action: str, payload: dict[str, Any]) -> c.ChargerRequest:
        decoder = _DECODERS.get(action)
        if decoder is None:
            if action in _NOT_SUPPORTED:
                raise CallError(ErrorCode.NOT_SUPPORTED, f"{action} is not supported yet")
            raise CallError(ErrorCode.NOT_IMPLEMENTED, f"unknown action {action!r}")
        validate(self.schemas, f"{action}Request", payload)
        return decoder(payload)

    def encode(self, action: str, answer: c.ChargerAnswer) -> dict[str, Any]:
        return _encode(answer)

    def error_code(self, code: str) -> str:
        return _ERROR_WORDS.get(code, code)


class V21Adapter(V201Adapter):
    """OCPP 2.1: the 2.0.1 messages above, validated against the 2.1 schemas (which add
    optional fields, read where the domain has a place for them)."""

    version = "2.1"
    subprotocol = "ocpp2.1"
    schemas = "v21"
