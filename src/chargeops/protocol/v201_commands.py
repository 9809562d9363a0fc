"""Operator commands as OCPP 2.0.1 CALLs, and the charger's answers as command outcomes.

Configuration keys are ``Component.Variable`` (``OCPPCommCtrlr.HeartbeatInterval``),
optionally with an EVSE (``EVSE.AvailabilityState@1``): the 2.0.1 device model's names.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chargeops.core.charging import ReportedVariable
from chargeops.core.clock import format_timestamp, utcnow
from chargeops.core.commands import CommandAnswer, CommandName, CommandRequest, CommandStatus
from chargeops.protocol.command_args import Args, ListEntry, SimpleProfile, next_id

ACCEPTED_WORDS = frozenset(
    {"Accepted", "AcceptedCanceled", "Unlocked", "Scheduled", "RebootRequired"}
)
RESERVATION_DEFAULT = timedelta(minutes=30)
# a token of the local list whose type we do not know: most are RFID cards
DEFAULT_LIST_TOKEN_TYPE = "ISO14443"
_PURPOSES = {
    "station_max": "ChargingStationMaxProfile",
    "tx_default": "TxDefaultProfile",
    "tx": "TxProfile",
}
_LOG_TYPES = {"diagnostics": "DiagnosticsLog", "security": "SecurityLog"}


def _variable(a: Args, key: str) -> dict[str, Any]:
    name, _, evse = key.partition("@")
    component, dot, variable = name.partition(".")
    if not dot or not component or not variable:
        a.fail("key", f"{key!r} is not Component.Variable (e.g. OCPPCommCtrlr.HeartbeatInterval)")
    out: dict[str, Any] = {"component": {"name": component}, "variable": {"name": variable}}
    if evse:
        if not evse.isdigit():
            a.fail("key", f"the EVSE after @ must be a number in {key!r}")
        out["component"]["evse"] = {"id": int(evse)}
    return out


def encode(request: CommandRequest) -> tuple[str, dict[str, Any]]:
    """The 2.0.1 action and payload for a command; InvalidInput if its arguments are wrong."""
    a = Args(request)
    match request.name:
        case CommandName.START_SESSION:
            token_type = a.text("id_token_type", required=False, max_length=20) or "Central"
            payload: dict[str, Any] = {
                "idToken": {"idToken": a.text("id_tag", max_length=36), "type": token_type},
                "remoteStartId": a.integer("remote_start_id", required=False, minimum=0)
                or next_id(),
            }
            evse = a.integer("evse_id", required=False, minimum=1)
            if evse is not None:
                payload["evseId"] = evse
            profile = a.mapping("charging_profile", required=False)
            if profile is not None:
                payload["chargingProfile"] = profile
            return "RequestStartTransaction", a.done(payload)
        case CommandName.STOP_SESSION:
            tx = a.text("transaction_id", max_length=36)
            return "RequestStopTransaction", a.done({"transactionId": tx})
        case CommandName.RESET:
            kind = a.choice("type", ("soft", "hard", "onidle", "immediate"), default="soft")
            payload = {"type": "Immediate" if kind in ("hard", "immediate") else "OnIdle"}
            evse = a.integer("evse_id", required=False, minimum=1)
            if evse is not None:
                payload["evseId"] = evse
            return "Reset", a.done(payload)
        case CommandName.UNLOCK_CONNECTOR:
            evse = a.integer("evse_id", minimum=1)
            connector = a.integer("connector_id", required=False, minimum=1) or 1
            return "UnlockConnector", a.done({"evseId": evse, "connectorId": connector})
        case CommandName.CHANGE_AVAILABILITY:
            operative = a.flag("operative")
            payload = {"operationalStatus": "Operative" if operative else "Inoperative"}
            evse = a.integer("evse_id", required=False, minimum=0)
            if evse:
                target: dict[str, Any] = {"id": evse}
                connector = a.integer("connector_id", required=False, minimum=1)
                if connector is not None:
                    target["connectorId"] = connector
                payload["evse"] = target
            return "ChangeAvailability", a.done(payload)
        case CommandName.GET_CONFIGURATION:
            keys = a.text_list("keys", required=False)
            if not keys:  # everything: the station reports its device model (NotifyReport)
                return "GetBaseReport", a.done(
                    {"requestId": next_id(), "reportBase": "FullInventory"}
                )
            return "GetVariables", a.done({"getVariableData": [_variable(a, k) for k in keys]})
        case CommandName.CHANGE_CONFIGURATION:
            target = _variable(a, a.text("key", max_length=120))
            target["attributeValue"] = a.text("value", max_length=1000)
            return "SetVariables", a.done({"setVariableData": [target]})
        case CommandName.TRIGGER_MESSAGE:
            payload = {"requestedMessage": a.text("message")}
            evse = a.integer("evse_id", required=False, minimum=0)
            if evse:
                payload["evse"] = {"id": evse}
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
                payload["data"] = data
            return "DataTransfer", a.done(payload)
        case CommandName.UPDATE_FIRMWARE:
            firmware: dict[str, Any] = {
                "location": a.text("location", max_length=512),
                "retrieveDateTime": a.text("retrieve_at", required=False)
                or format_timestamp(utcnow()),
            }
            for key, field in (
                ("signature", "signature"),
                ("signing_certificate", "signingCertificate"),
            ):
                value = a.text(key, required=False, max_length=5500)
                if value is not None:
                    firmware[field] = value
            payload = {
                "requestId": a.integer("request_id", required=False) or next_id(),
                "firmware": firmware,
            }
            a.retries(payload)
            return "UpdateFirmware", a.done(payload)
        case CommandName.GET_DIAGNOSTICS:
            log: dict[str, Any] = {"remoteLocation": a.text("location", max_length=512)}
            for key, field in (("start_at", "oldestTimestamp"), ("stop_at", "latestTimestamp")):
                value = a.timestamp(key)
                if value is not None:
                    log[field] = value
            payload = {
                "log": log,
                "logType": _LOG_TYPES[
                    a.choice("log_type", tuple(_LOG_TYPES), default="diagnostics")
                ],
                "requestId": a.integer("request_id", required=False) or next_id(),
            }
            a.retries(payload)
            return "GetLog", a.done(payload)
        case CommandName.RESERVE_NOW:
            token_type = a.text("id_token_type", required=False, max_length=20) or "Central"
            payload = {
                "id": a.integer("reservation_id", required=False) or next_id(),
                "expiryDateTime": a.later("expires_at", RESERVATION_DEFAULT),
                "idToken": {"idToken": a.text("id_tag", max_length=36), "type": token_type},
            }
            evse = a.integer("evse_id", required=False, minimum=1)
            if evse is not None:
                payload["evseId"] = evse
            connector_type = a.text("connector_type", required=False, max_length=20)
            if connector_type is not None:
                payload["connectorType"] = connector_type
            parent = a.text("parent_id_tag", required=False, max_length=36)
            if parent is not None:
                payload["groupIdToken"] = {"idToken": parent, "type": "Central"}
            return "ReserveNow", a.done(payload)
        case CommandName.CANCEL_RESERVATION:
            return "CancelReservation", a.done({"reservationId": a.integer("reservation_id")})
        case CommandName.SEND_LOCAL_LIST:
            update = a.choice("update", ("full", "differential"), default="full")
            entries = a.list_entries(differential=update == "differential")
            payload = {
                "versionNumber": a.integer("version", minimum=1),
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
                profile = _profile(a.simple_profile())
            return "SetChargingProfile", a.done({"evseId": evse, "chargingProfile": profile})
        case CommandName.CLEAR_CHARGING_PROFILE:
            payload = {}
            profile_id = a.integer("profile_id", required=False)
            if profile_id is not None:
                payload["chargingProfileId"] = profile_id
            criteria: dict[str, Any] = {}
            for key, field in (("evse_id", "evseId"), ("stack_level", "stackLevel")):
                value = a.integer(key, required=False)
                if value is not None:
                    criteria[field] = value
            if a.raw("purpose") is not None:
                criteria["chargingProfilePurpose"] = _PURPOSES[
                    a.choice("purpose", tuple(_PURPOSES))
                ]
            if criteria:
                payload["chargingProfileCriteria"] = criteria
            return "ClearChargingProfile", a.done(payload)
        case CommandName.GET_COMPOSITE_SCHEDULE:
            payload = {
                "evseId": a.integer("evse_id", required=False) or 0,
                "duration": a.integer("duration_s", required=False, minimum=1) or 3600,
            }
            if a.raw("unit") is not None:
                payload["chargingRateUnit"] = a.choice("unit", ("w", "a")).upper()
            return "GetCompositeSchedule", a.done(payload)
    a.fail("name", f"{request.name} is not a 2.0.1 command")


def _list_entry(entry: ListEntry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "idToken": {
            "idToken": entry.id_tag,
            "type": entry.token_type or DEFAULT_LIST_TOKEN_TYPE,
        }
    }
    if entry.status is not None:
        info: dict[str, Any] = {"status": entry.status}
        if entry.expires_at:
            info["cacheExpiryDateTime"] = entry.expires_at
        if entry.parent_id_tag:
            info["groupIdToken"] = {"idToken": entry.parent_id_tag, "type": "Central"}
        out["idTokenInfo"] = info
    return out


def _profile(p: SimpleProfile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.profile_id,
        "stackLevel": p.stack_level,
        "chargingProfilePurpose": _PURPOSES[p.purpose],
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": p.profile_id,
                "startSchedule": p.starts_at,
                "chargingRateUnit": p.unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": p.json_limit}],
            }
        ],
    }
    if p.transaction_id is not None:
        out["transactionId"] = p.transaction_id
    if p.valid_to is not None:
        out["validTo"] = p.valid_to
    return out


def interpret(request: CommandRequest, payload: dict[str, Any]) -> CommandAnswer:
    """Accepted or rejected, from the status words in the charger's answer."""
    if "getVariableResult" in payload:
        results = payload["getVariableResult"]
        learned = tuple(
            _reported(r, r.get("attributeValue"))
            for r in results
            if r.get("attributeStatus") == "Accepted"
        )
        if not learned:
            said = ", ".join(str(r.get("attributeStatus")) for r in results)
            return CommandAnswer(CommandStatus.REJECTED, payload, f"the station answered {said}")
        return CommandAnswer(CommandStatus.ACCEPTED, payload, variables=learned)
    if "setVariableResult" in payload:
        results = payload["setVariableResult"]
        statuses = [r.get("attributeStatus") for r in results]
        ok = all(s in ACCEPTED_WORDS for s in statuses)
        value = str(request.arguments.get("value"))
        learned = tuple(_reported(r, value) for r in results if ok)
    elif "versionNumber" in payload:  # GetLocalListVersion: the answer is the data
        return CommandAnswer(CommandStatus.ACCEPTED, payload)
    else:
        statuses = [payload.get("status")]
        ok = statuses[0] in ACCEPTED_WORDS
        learned = ()
    info = (payload.get("statusInfo") or {}).get("reasonCode")
    why = f"the station answered {', '.join(str(s) for s in statuses)}"
    return CommandAnswer(
        CommandStatus.ACCEPTED if ok else CommandStatus.REJECTED,
        payload,
        None if ok else f"{why} ({info})" if info else why,
        variables=learned,
    )


def _reported(result: dict[str, Any], value: str | None) -> ReportedVariable:
    """A Get/SetVariableResult's variable, as stored with a station's device model."""
    component, variable = result["component"], result["variable"]
    evse = component.get("evse") or {}
    return ReportedVariable(
        component["name"],
        variable["name"],
        attribute_type=result.get("attributeType") or "Actual",
        value=value,
        component_instance=component.get("instance"),
        variable_instance=variable.get("instance"),
        evse_id=evse.get("id"),
        connector_id=evse.get("connectorId"),
    )
