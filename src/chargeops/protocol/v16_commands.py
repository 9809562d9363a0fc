"""Operator commands as OCPP 1.6 CALLs, and the charger's answers as command outcomes."""

from __future__ import annotations

from typing import Any

from chargeops.core.clock import format_timestamp, utcnow
from chargeops.core.commands import CommandAnswer, CommandName, CommandRequest, CommandStatus
from chargeops.protocol.command_args import Args

ACCEPTED_WORDS = frozenset({"Accepted", "Unlocked", "Scheduled", "RebootRequired"})


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
    a.fail("name", f"{request.name} is not a 1.6 command")
    raise AssertionError  # fail raised


def _now() -> str:
    return format_timestamp(utcnow())


def interpret(request: CommandRequest, payload: dict[str, Any]) -> CommandAnswer:
    """Accepted or rejected, from the status word the charger answered."""
    status = payload.get("status")
    if status is None:  # GetConfiguration: the answer is the data; UpdateFirmware: {}
        return CommandAnswer(CommandStatus.ACCEPTED, payload)
    ok = status in ACCEPTED_WORDS
    return CommandAnswer(
        CommandStatus.ACCEPTED if ok else CommandStatus.REJECTED,
        payload,
        None if ok else f"the station answered {status}",
    )
