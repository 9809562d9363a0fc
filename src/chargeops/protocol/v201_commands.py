"""Operator commands as OCPP 2.0.1 CALLs, and the charger's answers as command outcomes.

Configuration keys are ``Component.Variable`` (``OCPPCommCtrlr.HeartbeatInterval``),
optionally with an EVSE (``EVSE.AvailabilityState@1``): the 2.0.1 device model's names.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from chargeops.core.clock import format_timestamp, utcnow
from chargeops.core.commands import CommandAnswer, CommandName, CommandRequest, CommandStatus
from chargeops.protocol.command_args import Args

ACCEPTED_WORDS = frozenset({"Accepted", "Unlocked", "Scheduled", "RebootRequired"})
# remoteStartId / requestId values: started from the clock, so ids handed out after a
# restart do not repeat those of before (a station's reports name them)
_request_ids = itertools.count(int(time.time()) % 1_000_000_000)


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
                or next(_request_ids),
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
                    {"requestId": next(_request_ids), "reportBase": "FullInventory"}
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
                "requestId": a.integer("request_id", required=False) or next(_request_ids),
                "firmware": firmware,
            }
            a.retries(payload)
            return "UpdateFirmware", a.done(payload)
    a.fail("name", f"{request.name} is not a 2.0.1 command")


def interpret(request: CommandRequest, payload: dict[str, Any]) -> CommandAnswer:
    """Accepted or rejected, from the status words in the charger's answer."""
    if "getVariableResult" in payload:
        return CommandAnswer(CommandStatus.ACCEPTED, payload)
    if "setVariableResult" in payload:
        statuses = [r.get("attributeStatus") for r in payload["setVariableResult"]]
        ok = all(s in ACCEPTED_WORDS for s in statuses)
    else:
        statuses = [payload.get("status")]
        ok = statuses[0] in ACCEPTED_WORDS
    return CommandAnswer(
        CommandStatus.ACCEPTED if ok else CommandStatus.REJECTED,
        payload,
        None if ok else f"the station answered {', '.join(str(s) for s in statuses)}",
    )
