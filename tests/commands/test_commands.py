"""Operator commands end to end: API -> gateway -> a real charger (1.6 and 2.0.1) -> record."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201

from tests.commands.conftest import CALL_TIMEOUT
from tests.harness import RunningServer, charge_point, now_iso


class Charger16(ChargePoint16):  # type: ignore[misc]
    """A 1.6 charger whose answers the test chooses: a status, an error, or silence."""

    answer: str = "Accepted"
    seen: list[tuple[str, dict[str, Any]]]

    async def _reply(self, action: str, payload: dict[str, Any], make: Callable[..., Any]) -> Any:
        self.seen.append((action, payload))
        if self.answer == "error":
            raise NotSupportedError("not on this model")
        if self.answer == "silent":
            await asyncio.sleep(CALL_TIMEOUT * 3)
        return make(self.answer)

    @on("Reset")
    async def reset(self, **payload: Any) -> Any:
        return await self._reply("Reset", payload, lambda s: result16.Reset(status=s))

    @on("UnlockConnector")
    async def unlock(self, **payload: Any) -> Any:
        return await self._reply(
            "UnlockConnector",
            payload,
            lambda s: result16.UnlockConnector(status="Unlocked" if s == "Accepted" else s),
        )

    @on("RemoteStartTransaction")
    async def remote_start(self, **payload: Any) -> Any:
        return await self._reply(
            "RemoteStartTransaction",
            payload,
            lambda s: result16.RemoteStartTransaction(status=s),
        )

    @on("RemoteStopTransaction")
    async def remote_stop(self, **payload: Any) -> Any:
        return await self._reply(
            "RemoteStopTransaction", payload, lambda s: result16.RemoteStopTransaction(status=s)
        )

    @on("ChangeConfiguration")
    async def change_configuration(self, **payload: Any) -> Any:
        return await self._reply(
            "ChangeConfiguration", payload, lambda s: result16.ChangeConfiguration(status=s)
        )

    @on("GetConfiguration")
    async def get_configuration(self, **payload: Any) -> Any:
        self.seen.append(("GetConfiguration", payload))
        return result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            unknown_key=["Nope"],
        )


class Charger201(ChargePoint201):  # type: ignore[misc]
    answer: str = "Accepted"
    seen: list[tuple[str, dict[str, Any]]]

    @on("Reset")
    async def reset(self, **payload: Any) -> Any:
        self.seen.append(("Reset", payload))
        return result201.Reset(status=self.answer)

    @on("RequestStartTransaction")
    async def request_start(self, **payload: Any) -> Any:
        self.seen.append(("RequestStartTransaction", payload))
        return result201.RequestStartTransaction(status=self.answer)

    @on("SetVariables")
    async def set_variables(self, set_variable_data: list[dict[str, Any]]) -> Any:
        self.seen.append(("SetVariables", {"set_variable_data": set_variable_data}))
        return result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": self.answer,
                    "component": item["component"],
                    "variable": item["variable"],
                }
                for item in set_variable_data
            ]
        )

    @on("ChangeAvailability")
    async def change_availability(self, **payload: Any) -> Any:
        self.seen.append(("ChangeAvailability", payload))
        return result201.ChangeAvailability(status=self.answer)


async def command(
    server: RunningServer, station_id: str, name: str, *, wait: str = "true", **arguments: Any
) -> Any:
    async with server.api() as client:
        response = await client.post(
            f"/api/v1/stations/{station_id}/commands",
            params={"wait": wait},
            json={"name": name, "arguments": arguments},
            timeout=30,
        )
    return response


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("Accepted", "accepted"),
        ("Rejected", "rejected"),
        ("error", "failed"),
        ("silent", "timeout"),
    ],
)
async def test_a_16_reset_is_recorded_as_the_charger_answered(
    server: RunningServer, answer: str, status: str
) -> None:
    await server.add_station("CP-R")
    async with charge_point(server, "CP-R", charger_class=Charger16) as cp:
        cp.seen, cp.answer = [], answer
        response = await command(server, "CP-R", "reset", type="hard")
        assert response.status_code == 201, response.text
        record = response.json()
    assert cp.seen == [("Reset", {"type": "Hard"})]
    assert record["status"] == status
    assert record["action"] == "Reset" and record["name"] == "reset"
    assert record["arguments"] == {"type": "hard"}
    assert record["requested_by"].startswith("tests (api key ")  # the key's name and id
    if status == "failed":
        assert record["response"]["error_code"] == "NotSupported"
        assert "CALLERROR" in record["detail"]
    if status == "timeout":
        assert record["answered_at"] is not None and record["response"] is None
    stored = await server.get(f"/api/v1/commands/{record['id']}")
    assert stored["status"] == status


async def test_a_command_to_an_offline_station_fails_at_once(server: RunningServer) -> None:
    await server.add_station("CP-OFF")
    response = await command(server, "CP-OFF", "unlock_connector", evse_id=1)
    record = response.json()
    assert response.status_code == 201
    assert record["status"] == "station_offline"
    assert "not connected" in record["detail"]
    listed = await server.get("/api/v1/stations/CP-OFF/commands")
    assert [c["id"] for c in listed["items"]] == [record["id"]]


async def test_a_station_that_left_still_gets_its_arguments_checked(
    server: RunningServer,
) -> None:
    await server.add_station("CP-GONE")
    async with charge_point(server, "CP-GONE", version="2.0.1"):
        pass  # it spoke 2.0.1, then went away
    await asyncio.sleep(0.2)  # its disconnection is recorded
    bad = await command(
        server, "CP-GONE", "change_configuration", key="HeartbeatInterval", value="1"
    )
    good = await command(
        server, "CP-GONE", "change_configuration", key="OCPPCommCtrlr.HeartbeatInterval", value="1"
    )
    assert bad.status_code == 422 and "Component.Variable" in bad.json()["detail"]
    assert good.json()["status"] == "station_offline"


async def test_bad_arguments_are_refused_and_nothing_is_recorded(server: RunningServer) -> None:
    await server.add_station("CP-BAD")
    async with charge_point(server, "CP-BAD", charger_class=Charger16) as cp:
        cp.seen = []
        missing = await command(server, "CP-BAD", "unlock_connector")
        extra = await command(server, "CP-BAD", "clear_cache", force=True)
        unknown = await command(server, "CP-BAD", "self_destruct")
        listed = await server.get("/api/v1/stations/CP-BAD/commands")
    assert missing.status_code == 422 and "evse_id" in missing.json()["detail"]
    assert extra.status_code == 422 and "force" in extra.json()["detail"]
    assert unknown.status_code == 422 and "reset" in unknown.json()["detail"]
    assert listed["items"] == [] and cp.seen == []


async def test_commands_queue_one_call_at_a_time(server: RunningServer) -> None:
    await server.add_station("CP-Q")
    async with charge_point(server, "CP-Q", charger_class=Charger16) as cp:
        cp.seen, cp.answer = [], "Accepted"
        first, second, third = await asyncio.gather(
            command(server, "CP-Q", "unlock_connector", evse_id=1),
            command(server, "CP-Q", "unlock_connector", evse_id=2),
            command(server, "CP-Q", "change_configuration", key="HeartbeatInterval", value="60"),
        )
    assert [r.json()["status"] for r in (first, second, third)] == ["accepted"] * 3
    assert sorted(a for a, _ in cp.seen) == [
        "ChangeConfiguration",
        "UnlockConnector",
        "UnlockConnector",
    ]


async def test_a_remote_start_leads_to_a_session_and_stop_uses_our_session_id(
    server: RunningServer,
) -> None:
    await server.add_station("CP-RS")
    await server.add_token("DRIVER-1")
    async with charge_point(server, "CP-RS", charger_class=Charger16) as cp:
        cp.seen, cp.answer = [], "Accepted"
        started = await command(server, "CP-RS", "start_session", id_tag="DRIVER-1", evse_id=1)
        assert started.json()["status"] == "accepted"
        assert cp.seen[-1] == ("RemoteStartTransaction", {"id_tag": "DRIVER-1", "connector_id": 1})
        # the charger then starts the transaction, as a real one would
        tx = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="DRIVER-1", meter_start=100, timestamp=now_iso()
            )
        )
        (session,) = (await server.get("/api/v1/sessions", station_id="CP-RS"))["items"]
        stopped = await command(server, "CP-RS", "stop_session", session_id=session["id"])
        config = await command(server, "CP-RS", "get_configuration", keys=["HeartbeatInterval"])
    assert stopped.json()["status"] == "accepted"
    assert cp.seen[-2] == ("RemoteStopTransaction", {"transaction_id": tx.transaction_id})
    assert config.json()["response"]["configurationKey"][0]["value"] == "300"


async def test_201_commands_use_201_messages(server: RunningServer) -> None:
    await server.add_station("CP-2")
    async with charge_point(server, "CP-2", version="2.0.1", charger_class=Charger201) as cp:
        cp.seen, cp.answer = [], "Accepted"
        reset = await command(server, "CP-2", "reset", type="soft")
        start = await command(server, "CP-2", "start_session", id_tag="APP-77", evse_id=2)
        setting = await command(
            server,
            "CP-2",
            "change_configuration",
            key="OCPPCommCtrlr.HeartbeatInterval",
            value="60",
        )
        cp.answer = "Rejected"
        availability = await command(
            server, "CP-2", "change_availability", operative=False, evse_id=1
        )
    assert [r.json()["status"] for r in (reset, start, setting)] == ["accepted"] * 3
    assert availability.json()["status"] == "rejected"
    assert "Rejected" in availability.json()["detail"]
    actions = dict(cp.seen)
    assert actions["Reset"] == {"type": "OnIdle"}
    assert actions["RequestStartTransaction"]["id_token"] == {
        "id_token": "APP-77",
        "type": "Central",
    }
    assert actions["RequestStartTransaction"]["evse_id"] == 2
    assert actions["SetVariables"]["set_variable_data"][0]["attribute_value"] == "60"
    assert actions["ChangeAvailability"] == {
        "operational_status": "Inoperative",
        "evse": {"id": 1},
    }


class FirmwareCharger16(ChargePoint16):  # type: ignore[misc]
    seen: list[dict[str, Any]]

    @on("UpdateFirmware")
    async def update_firmware(self, **payload: Any) -> Any:
        self.seen.append(payload)
        return result16.UpdateFirmware()


class FirmwareCharger201(ChargePoint201):  # type: ignore[misc]
    seen: list[dict[str, Any]]

    @on("UpdateFirmware")
    async def update_firmware(self, **payload: Any) -> Any:
        self.seen.append(payload)
        return result201.UpdateFirmware(status="Accepted")


async def _progress(server: RunningServer, command_id: int, steps: int) -> list[str]:
    for _ in range(50):  # the progress is recorded from the bus, just after each commit
        record = await server.get(f"/api/v1/commands/{command_id}")
        if len(record["progress"] or []) >= steps:
            break
        await asyncio.sleep(0.05)
    return [step["status"] for step in record["progress"] or []]


async def test_a_16_firmware_update_walks_through_its_statuses(server: RunningServer) -> None:
    await server.add_station("CP-FW")
    url = "https://firmware.example.com/alfen-4.13.bin"
    async with charge_point(server, "CP-FW", charger_class=FirmwareCharger16) as cp:
        cp.seen = []
        response = await command(server, "CP-FW", "update_firmware", location=url, retries=2)
        record = response.json()
        assert record["status"] == "accepted" and record["action"] == "UpdateFirmware"
        assert cp.seen[0]["location"] == url and cp.seen[0]["retries"] == 2
        for status in ("Downloading", "Downloaded", "Installing", "Installed"):
            await cp.call(call16.FirmwareStatusNotification(status=status))
        steps = await _progress(server, record["id"], 4)
        station = await server.get("/api/v1/stations/CP-FW")
    assert steps == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert station["firmware_status"] == "Installed"


async def test_a_201_firmware_update_is_followed_by_its_request_id(server: RunningServer) -> None:
    from ocpp.v201 import call as call201

    await server.add_station("CP-FW2")
    async with charge_point(
        server, "CP-FW2", version="2.0.1", charger_class=FirmwareCharger201
    ) as cp:
        cp.seen = []
        response = await command(
            server, "CP-FW2", "update_firmware", location="https://fw.example.com/z.bin"
        )
        record = response.json()
        request_id = cp.seen[0]["request_id"]
        assert record["status"] == "accepted"
        # a status for another request is not this command's
        await cp.call(call201.FirmwareStatusNotification(status="Downloading", request_id=999))
        for status in ("Downloading", "Downloaded", "Installed"):
            await cp.call(call201.FirmwareStatusNotification(status=status, request_id=request_id))
        steps = await _progress(server, record["id"], 3)
    assert steps == ["Downloading", "Downloaded", "Installed"]
