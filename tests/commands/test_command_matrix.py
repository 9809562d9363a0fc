"""Every command, on both OCPP versions, against a real charger that answers Accepted,
Rejected, a CALLERROR, or nothing: the recorded status must say what happened.

Each case connects one charger per command and sends them all at once, so a case costs
about one call timeout however many commands there are.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.commands.conftest import CALL_TIMEOUT
from tests.commands.test_commands import command
from tests.harness import RunningServer, charge_point, now_iso

# action -> (the accepting answer, the refusing one or None when the version has none)
ANSWERS_16: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {
    "RemoteStartTransaction": ({"status": "Accepted"}, {"status": "Rejected"}),
    "RemoteStopTransaction": ({"status": "Accepted"}, {"status": "Rejected"}),
    "Reset": ({"status": "Accepted"}, {"status": "Rejected"}),
    "UnlockConnector": ({"status": "Unlocked"}, {"status": "UnlockFailed"}),
    "ChangeAvailability": ({"status": "Scheduled"}, {"status": "Rejected"}),
    "GetConfiguration": (
        {"configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]},
        {"unknown_key": ["HeartbeatInterval"]},
    ),
    "ChangeConfiguration": ({"status": "RebootRequired"}, {"status": "NotSupported"}),
    "TriggerMessage": ({"status": "Accepted"}, {"status": "NotImplemented"}),
    "ClearCache": ({"status": "Accepted"}, {"status": "Rejected"}),
    "DataTransfer": ({"status": "Accepted", "data": "pong"}, {"status": "UnknownVendorId"}),
    "UpdateFirmware": ({}, None),  # 1.6 has no way to refuse
    "GetDiagnostics": ({"file_name": "diag-2026.tar.gz"}, {}),  # no file name: nothing to send
    "ReserveNow": ({"status": "Accepted"}, {"status": "Occupied"}),
    "CancelReservation": ({"status": "Accepted"}, {"status": "Rejected"}),
    "SendLocalList": ({"status": "Accepted"}, {"status": "VersionMismatch"}),
    "GetLocalListVersion": ({"list_version": 5}, {"list_version": -1}),
    "SetChargingProfile": ({"status": "Accepted"}, {"status": "NotSupported"}),
    "ClearChargingProfile": ({"status": "Accepted"}, {"status": "Unknown"}),
    "GetCompositeSchedule": ({"status": "Accepted", "connector_id": 1}, {"status": "Rejected"}),
}

ANSWERS_201: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {
    "RequestStartTransaction": ({"status": "Accepted"}, {"status": "Rejected"}),
    "RequestStopTransaction": ({"status": "Accepted"}, {"status": "Rejected"}),
    "Reset": ({"status": "Scheduled"}, {"status": "Rejected"}),
    "UnlockConnector": ({"status": "Unlocked"}, {"status": "UnknownConnector"}),
    "ChangeAvailability": ({"status": "Accepted"}, {"status": "Rejected"}),
    "GetVariables": (
        {
            "get_variable_result": [
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "300",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
        {
            "get_variable_result": [
                {
                    "attribute_status": "UnknownVariable",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
    ),
    "GetBaseReport": ({"status": "Accepted"}, {"status": "NotSupported"}),
    "SetVariables": (
        {
            "set_variable_result": [
                {
                    "attribute_status": "Accepted",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
        {
            "set_variable_result": [
                {
                    "attribute_status": "Rejected",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
    ),
    "TriggerMessage": ({"status": "Accepted"}, {"status": "NotImplemented"}),
    "ClearCache": ({"status": "Accepted"}, {"status": "Rejected"}),
    "DataTransfer": ({"status": "Accepted"}, {"status": "UnknownVendorId"}),
    "UpdateFirmware": ({"status": "AcceptedCanceled"}, {"status": "InvalidCertificate"}),
    "GetLog": ({"status": "Accepted", "filename": "log.zip"}, {"status": "Rejected"}),
    "ReserveNow": ({"status": "Accepted"}, {"status": "Occupied"}),
    "CancelReservation": ({"status": "Accepted"}, {"status": "Rejected"}),
    "SendLocalList": ({"status": "Accepted"}, {"status": "VersionMismatch"}),
    "GetLocalListVersion": ({"version_number": 5}, None),  # 2.0.1 has no way to refuse
    "SetChargingProfile": ({"status": "Accepted"}, {"status": "Rejected"}),
    "ClearChargingProfile": ({"status": "Accepted"}, {"status": "Unknown"}),
    "GetCompositeSchedule": ({"status": "Accepted"}, {"status": "Rejected"}),
}


@dataclass(frozen=True)
class Case:
    name: str
    arguments: dict[str, Any]
    action_16: str | None
    action_201: str | None
    needs_session: bool = False
    args_201: dict[str, Any] = field(default_factory=dict)  # 2.0.1's own words

    def action(self, version: str) -> str | None:
        return self.action_16 if version == "1.6" else self.action_201


CASES = [
    Case(
        "start_session",
        {"id_tag": "TAG-1", "evse_id": 1},
        "RemoteStartTransaction",
        "RequestStartTransaction",
    ),
    Case("stop_session", {}, "RemoteStopTransaction", "RequestStopTransaction", needs_session=True),
    Case("reset", {"type": "hard"}, "Reset", "Reset"),
    Case("unlock_connector", {"evse_id": 1}, "UnlockConnector", "UnlockConnector"),
    Case(
        "change_availability",
        {"operative": False, "evse_id": 1},
        "ChangeAvailability",
        "ChangeAvailability",
    ),
    Case(
        "get_configuration",
        {"keys": ["HeartbeatInterval"]},
        "GetConfiguration",
        "GetVariables",
        args_201={"keys": ["OCPPCommCtrlr.HeartbeatInterval"]},
    ),
    Case("get_configuration", {}, None, "GetBaseReport"),  # 2.0.1: the whole device model
    Case(
        "change_configuration",
        {"key": "HeartbeatInterval", "value": "60"},
        "ChangeConfiguration",
        "SetVariables",
        args_201={"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60"},
    ),
    Case(
        "trigger_message",
        {"message": "StatusNotification", "evse_id": 1},
        "TriggerMessage",
        "TriggerMessage",
    ),
    Case("clear_cache", {}, "ClearCache", "ClearCache"),
    Case(
        "data_transfer",
        {"vendor_id": "com.example", "message_id": "ping", "data": "x"},
        "DataTransfer",
        "DataTransfer",
    ),
    Case(
        "update_firmware",
        {"location": "https://fw.example.com/4.2.bin"},
        "UpdateFirmware",
        "UpdateFirmware",
    ),
    Case("get_diagnostics", {}, "GetDiagnostics", "GetLog"),
    Case("reserve_now", {"id_tag": "TAG-1", "evse_id": 1}, "ReserveNow", "ReserveNow"),
    Case("cancel_reservation", {"reservation_id": 7}, "CancelReservation", "CancelReservation"),
    Case(
        "send_local_list",
        {"version": 5, "tokens": [{"id_tag": "TAG-1"}, {"id_tag": "TAG-2", "status": "blocked"}]},
        "SendLocalList",
        "SendLocalList",
    ),
    Case("get_local_list_version", {}, "GetLocalListVersion", "GetLocalListVersion"),
    Case(
        "set_charging_profile",
        {"limit": 11000, "evse_id": 1},
        "SetChargingProfile",
        "SetChargingProfile",
    ),
    Case(
        "clear_charging_profile", {"profile_id": 7}, "ClearChargingProfile", "ClearChargingProfile"
    ),
    Case(
        "get_composite_schedule",
        {"evse_id": 1, "duration_s": 600},
        "GetCompositeSchedule",
        "GetCompositeSchedule",
    ),
]


def scripted(version: str) -> type:
    """A charger class answering every command action the way ``mode`` says."""
    base, results, answers = (
        (ChargePoint16, result16, ANSWERS_16)
        if version == "1.6"
        else (ChargePoint201, result201, ANSWERS_201)
    )

    class Scripted(base):  # type: ignore[misc, valid-type]
        mode = "accepted"

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.seen: list[str] = []

    for action, (accepting, refusing) in answers.items():

        def make(action: str, accepting: dict[str, Any], refusing: dict[str, Any] | None) -> Any:
            async def handler(self: Any, **payload: Any) -> Any:
                self.seen.append(action)
                if self.mode == "error":
                    raise NotSupportedError("not on this model")
                if self.mode == "silent":
                    await asyncio.sleep(CALL_TIMEOUT * 3)
                answer = refusing if self.mode == "rejected" else accepting
                return getattr(results, action)(**(answer or {}))

            handler.__name__ = f"on_{action}"
            return on(action)(handler)

        setattr(Scripted, f"on_{action}", make(action, accepting, refusing))
    return Scripted


async def open_session(server: RunningServer, cp: Any, station_id: str, version: str) -> int:
    """The charger starts a transaction, so there is a session to stop."""
    if version == "1.6":
        await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG-1", meter_start=0, timestamp=now_iso()
            )
        )
    else:
        await cp.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp=now_iso(),
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={"transaction_id": f"TX-{station_id}"},
                evse={"id": 1, "connector_id": 1},
                id_token={"id_token": "TAG-1", "type": "ISO14443"},
            )
        )
    (session,) = (await server.get("/api/v1/sessions", station_id=station_id))["items"]
    return int(session["id"])


def station(version: str, mode: str, index: int) -> str:
    return f"M{version.replace('.', '')}-{mode[:3]}-{index}"


async def run_case(
    server: RunningServer, case: Case, version: str, mode: str, index: int
) -> tuple[Case, dict[str, Any], list[str]]:
    station_id = station(version, mode, index)
    arguments = dict(case.args_201 or case.arguments) if version != "1.6" else dict(case.arguments)
    async with charge_point(
        server, station_id, version=version, charger_class=scripted(version)
    ) as cp:
        if case.needs_session:
            arguments["session_id"] = await open_session(server, cp, station_id, version)
        cp.mode = mode
        response = await command(server, station_id, case.name, **arguments)
        assert response.status_code == 201, response.text
        return case, response.json(), cp.seen


EXPECTED = {"accepted": "accepted", "rejected": "rejected", "error": "failed", "silent": "timeout"}


@pytest.mark.parametrize("mode", list(EXPECTED))
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_every_command_is_recorded_as_the_charger_answered(
    server: RunningServer, version: str, mode: str
) -> None:
    answers = ANSWERS_16 if version == "1.6" else ANSWERS_201
    cases = [
        c
        for c in CASES
        if c.action(version) is not None
        and (mode != "rejected" or answers[c.action(version) or ""][1] is not None)
    ]
    await server.add_token("TAG-1")
    for i in range(len(cases)):  # before any connects: the server writes then, inline
        await server.add_station(station(version, mode, i))
    results = await asyncio.gather(
        *(run_case(server, case, version, mode, i) for i, case in enumerate(cases))
    )
    outcomes = {(case.name, case.action(version)): record for case, record, _ in results}
    for case, record, seen in results:
        what = f"{case.name} ({case.action(version)}) answered {mode}"
        assert seen == [case.action(version)], what
        assert record["action"] == case.action(version), what
        assert record["status"] == EXPECTED[mode], f"{what}: {record}"
        if mode in ("rejected", "error"):
            assert record["detail"], what
        if mode == "accepted":
            assert record["response"] is not None, what
    assert len(outcomes) == len(cases)
