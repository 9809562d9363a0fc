"""Operator commands as OCPP 1.6 CALLs, and the charger's answers as command outcomes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chargeops.core.charging import ReportedVariable
from chargeops.core.clock import format_timestamp, utcnow
from chargeops.core.commands import CommandAnswer, CommandName, CommandRequest, CommandStatus
from chargeops.protocol.command_args import Args, ListEntry, SimpleProfile, next_id

ACCEPTED_WORDS = frozenset({"Accepted", "Unlocked", "Scheduled", "RebootRequired"})
# 1.6 has no device model: its configuration keys are stored as this component's variables
CONFIGURATION_COMPONENT = "OCPP16"
RESERVATION_DEFAULT = timedelta(minutes=30)
_PURPOSES = {
    "station_max": "ChargePointMaxProfile",
    "tx_default": "TxDefaultProfile",
    "tx": "TxProfile",
}


def encode(request: CommandRequest) -> tuple[str, dict[str, Any]]:
    """The 1.6 action and payload for a command; InvalidInput if its arguments are wrong."""
    a = Args(request)
    match request.name:
        case CommandName.START_SESSION:
            payload: dict[str, Any] = {"idTag": a.text("id_tag", max_length=20)}
            evse = a.integer("evse_id", required=False, minimum=1)
            if evse is not None:
                payload["connectorId"] = evse
            profile = a.mapping("charging_profile", required=False)
            if profile is not None:
                payload["chargingProfile"] = profile
            return "RemoteStartTransaction", a.done(payload)
        case CommandName.STOP_SESSION:
            tx = a.text("transaction_id")
            if not tx.isdigit():
                a.fail("transaction_id", "a 1.6 transaction id is an integer")
            return "RemoteStopTransaction", a.done({"transactionId": int(tx)})
        case CommandName.RESET:
            kind = a.choice("type", ("soft", "hard"), default="soft")
            return "Reset", a.done({"type": kind.capitalize()})
        case CommandName.UNLOCK_CONNECTOR:
            return "UnlockConnector", a.done({"connectorId": a.integer("evse_id", minimum=1)})
        case CommandName.CHANGE_AVAILABILITY:
            operative = a.flag("operative")
            evse = a.integer("evse_id", required=False, minimum=0) or 0
            return "ChangeAvailability", a.done(
                {"connectorId": evse, "type": "Operative" if operative else "Inoperative"}
            )
        case CommandName.GET_CONFIGURATION:
            keys = a.text_list("keys", required=False)
            return "GetConfiguration", a.done({"key": keys} if keys else {})
        case CommandName.CHANGE_CONFIGURATION:
            return "ChangeConfiguration", a.done(
                {"key": a.text("key", max_length=50), "value": a.text("value", max_length=500)}
            )
        case CommandName.TRIGGER_MESSAGE:
            payload = {"requestedMessage": a.text("message")}
            evse = a.integer("evse_id", required=False, minimum=0)
            if evse:
                payload["connectorId"] = evse
            return "TriggerMessage", a.done(payload)
        case CommandName.CLEAR_CACHE:
            return "ClearCache", a.done({})
        case CommandName.DATA_TRANSFER:
            payload = {"vendorId": a.text("vendor_id", max_length=255)}
            message = a.text("message_id", required=False, max_length=50)
            if message is not None:
                payload["messageId"] = message
            data = a.raw("data")
            if data is not None:
                payload["data"] = data if isinstance(data, str) else a.json_text(data)
            return "DataTransfer", a.done(payload)
        case CommandName.UPDATE_FIRMWARE:
            payload = {
                "location": a.text("location", max_length=512),
                "retrieveDate": a.text("retrieve_at", required=False) or _now(),
            }
            a.retries(payload)
            return "UpdateFirmware", a.done(payload)
        case CommandName.GET_DIAGNOSTICS:
            a.choice("log_type", ("diagnostics",), default="diagnostics")
            payload = {"location": a.text("location", max_length=512)}
            a.retries(payload)
            for key, field in (("start_at", "startTime"), ("stop_at", "stopTime")):
                value = a.timestamp(key)
                if value is not None:
                    payload[field] = value
            return "GetDiagnostics", a.done(payload)
        case CommandName.RESERVE_NOW:
            payload = {
                "connectorId": a.integer("evse_id", required=False) or 0,
                "expiryDate": a.later("expires_at", RESERVATION_DEFAULT),
                "idTag": a.text("id_tag", max_length=20),
                "reservationId": a.integer("reservation_id", required=False) or next_id(),
            }
            parent = a.text("parent_id_tag", required=False, max_length=20)
            if parent is not None:
                payload["parentIdTag"] = parent
            return "ReserveNow", a.done(payload)
        case CommandName.CANCEL_RESERVATION:
            return "CancelReservation", a.done({"reservationId": a.integer("reservation_id")})
        case CommandName.SEND_LOCAL_LIST:
            update = a.choice("update", ("full", "differential"), default="full")
            entries = a.list_entries(differential=update == "differential")
            payload = {
                "listVersion": a.integer("version", minimum=1),
                "updateType": update.capitalize(),
            }
            if entries:  # an empty full list is left out: it clears the station's list
                payload["localAuthorizationList"] = [_list_entry(e) for e in entries]
            return "SendLocalList", a.done(payload)
        case CommandName.GET_LOCAL_LIST_VERSION:
            return "GetLocalListVersion", a.done({})
        case CommandName.SET_CHARGING_PROFILE:
            evse = a.integer("evse_id", required=False) or 0
            profile = a.mapping("charging_profile", required=False)
            if profile is None:
                simple = a.simple_profile()
                if simple.transaction_id is not None and not simple.transaction_id.isdigit():
                    a.fail("transaction_id", "a 1.6 transaction id is an integer")
                profile = _profile(simple)
            return "SetChargingProfile", a.done(
                {"connectorId": evse, "csChargingProfiles": profile}
            )
        case CommandName.CLEAR_CHARGING_PROFILE:
            payload = {}
            for key, field in (
                ("profile_id", "id"),
                ("evse_id", "connectorId"),
                ("stack_level", "stackLevel"),
            ):
                value = a.integer(key, required=False)
                if value is not None:
                    payload[field] = value
            if a.raw("purpose") is not None:
                payload["chargingProfilePurpose"] = _PURPOSES[a.choice("purpose", tuple(_PURPOSES))]
            return "ClearChargingProfile", a.done(payload)
        case CommandName.GET_COMPOSITE_SCHEDULE:
            payload = {
                "connectorId": a.integer("evse_id", required=False) or 0,
                "duration": a.integer("duration_s", required=False, minimum=1) or 3600,
            }
            if a.raw("unit") is not None:
                payload["chargingRateUnit"] = a.choice("unit", ("w", "a")).upper()
            return "GetCompositeSchedule", a.done(payload)
    a.fail("name", f"{request.name} is not a 1.6 command")


def _list_entry(entry: ListEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"idTag": entry.id_tag}
    if entry.status is not None:
        info: dict[str, Any] = {"status": entry.status}
        if entry.expires_at:
            info["expiryDate"] = entry.expires_at
        if entry.parent_id_tag:
            info["parentIdTag"] = entry.parent_id_tag
        out["idTagInfo"] = info
    return out


def _profile(p: SimpleProfile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "chargingProfileId": p.profile_id,
        "stackLevel": p.stack_level,
        "chargingProfilePurpose": _PURPOSES[p.purpose],
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": p.starts_at,
            "chargingRateUnit": p.unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": p.json_limit}],
        },
    }
    if p.transaction_id is not None:
        out["transactionId"] = int(p.transaction_id)
    if p.valid_to is not None:
        out["validTo"] = p.valid_to
    return out


def _now() -> str:
    return format_timestamp(utcnow())


def interpret(request: CommandRequest, payload: dict[str, Any]) -> CommandAnswer:
    """Accepted or rejected, from the status word the charger answered (or, for answers
    without one, from what the answer holds)."""
    match request.name:
        case CommandName.GET_CONFIGURATION:
            return _configuration(request, payload)
        case CommandName.CHANGE_CONFIGURATION if payload.get("status") in ACCEPTED_WORDS:
            learned = ReportedVariable(
                CONFIGURATION_COMPONENT,
                str(request.arguments["key"]),
                value=str(request.arguments["value"]),
            )
            return CommandAnswer(CommandStatus.ACCEPTED, payload, variables=(learned,))
        case CommandName.GET_DIAGNOSTICS if not payload.get("fileName"):
            return CommandAnswer(
                CommandStatus.REJECTED, payload, "the station has no diagnostics to upload"
            )
        case CommandName.GET_LOCAL_LIST_VERSION if payload.get("listVersion") == -1:
            return CommandAnswer(
                CommandStatus.REJECTED, payload, "the station does not support local lists"
            )
    status = payload.get("status")
    if status is None:  # UpdateFirmware {}, GetDiagnostics {fileName}, GetLocalListVersion
        return CommandAnswer(CommandStatus.ACCEPTED, payload)
    ok = status in ACCEPTED_WORDS
    return CommandAnswer(
        CommandStatus.ACCEPTED if ok else CommandStatus.REJECTED,
        payload,
        None if ok else f"the station answered {status}",
    )


def _configuration(request: CommandRequest, payload: dict[str, Any]) -> CommandAnswer:
    keys = payload.get("configurationKey") or []
    learned = tuple(
        ReportedVariable(
            CONFIGURATION_COMPONENT,
            item["key"],
            value=item.get("value"),
            mutability="ReadOnly" if item.get("readonly") else "ReadWrite",
        )
        for item in keys
    )
    if not keys and payload.get("unknownKey"):
        unknown = ", ".join(payload["unknownKey"])
        return CommandAnswer(CommandStatus.REJECTED, payload, f"the station knows no {unknown}")
    return CommandAnswer(CommandStatus.ACCEPTED, payload, variables=learned)
