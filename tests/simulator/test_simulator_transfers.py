"""A simulated station against a real chargeops: its configuration read after boot,
firmware updates and diagnostics uploads, in both OCPP versions."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.harness import RunningServer
from tests.simulator.conftest import (
    STATION_ID,
    StartChargeops,
    command,
    progress,
    simulated,
    until,
)

VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


async def variables(server: RunningServer, **query: str) -> dict[tuple[str, int | None, str], Any]:
    page = await server.get(f"/api/v1/stations/{STATION_ID}/variables", limit=200, **query)
    return {(v["component"], v["evse_id"], v["variable"]): v for v in page["items"]}


async def test_the_2_0_1_device_model_is_reported_after_boot(chargeops: StartChargeops) -> None:
    server = await chargeops(read_config_after_boot=True)
    async with simulated(server, "2.0.1"):

        async def reported() -> dict[tuple[str, int | None, str], Any] | None:
            # the whole report: its last part (not to be continued) is stored
            events = await server.get(f"/api/v1/stations/{STATION_ID}/events", kind="NotifyReport")
            if not any(e["payload"]["tbc"] is False for e in events["items"]):
                return None
            found = await variables(server)
            return found if ("EVSE", 1, "AvailabilityState") in found else None

        model = await until(reported, within=8.0, what="the device model")
        heartbeat = model[("OCPPCommCtrlr", None, "HeartbeatInterval")]
        assert heartbeat["value"] == "300"  # the server's heartbeat interval, taken at boot
        assert heartbeat["mutability"] == "ReadWrite"
        assert heartbeat["characteristics"]["dataType"] == "decimal"
        assert heartbeat["characteristics"]["supportsMonitoring"] is False
        assert model[("SampledDataCtrlr", None, "TxUpdatedInterval")]["value"] == "0.2"
        assert model[("ChargingStation", None, "Model")]["value"] == "Simulator"
        assert model[("ChargingStation", None, "VendorName")]["value"] == "chargeops"
        availability = model[("EVSE", 1, "AvailabilityState")]
        assert availability["value"] == "Available"
        assert availability["mutability"] == "ReadOnly"
        assert availability["characteristics"]["dataType"] == "OptionList"
        assert model[("EVSE", 1, "Power")]["characteristics"]["maxLimit"] == 11_000

        # the report came in parts numbered from 0, each but the last to be continued
        events = await server.get(f"/api/v1/stations/{STATION_ID}/events", kind="NotifyReport")
        parts = sorted((e["payload"] for e in events["items"]), key=lambda p: p["seq_no"])
        assert len(parts) > 1 and len({p["request_id"] for p in parts}) == 1
        assert [p["seq_no"] for p in parts] == list(range(len(parts)))
        assert [p["tbc"] for p in parts] == [True] * (len(parts) - 1) + [False]

        # GetVariables and a new report tell the same values, changes included
        read = await command(server, "get_configuration", keys=["OCPPCommCtrlr.HeartbeatInterval"])
        (result,) = read["response"]["getVariableResult"]
        assert result["attributeValue"] == heartbeat["value"]
        changed = await command(
            server, "change_configuration", key="OCPPCommCtrlr.HeartbeatInterval", value="120"
        )
        assert changed["status"] == "accepted", changed
        report = await command(server, "get_configuration")
        assert report["action"] == "GetBaseReport" and report["status"] == "accepted"

        async def reported_again() -> bool:
            found = await variables(server, component="OCPPCommCtrlr")
            return found[("OCPPCommCtrlr", None, "HeartbeatInterval")]["value"] == "120"

        await until(reported_again, what="the changed interval reported")


async def test_the_1_6_configuration_is_read_after_boot(chargeops: StartChargeops) -> None:
    server = await chargeops(read_config_after_boot=True)
    async with simulated(server, "1.6"):

        async def read() -> dict[tuple[str, int | None, str], Any] | None:
            found = await variables(server, component="OCPP16")
            return found or None

        keys = await until(read, within=8.0, what="the configuration")
        assert keys[("OCPP16", None, "HeartbeatInterval")]["value"] == "300"
        assert keys[("OCPP16", None, "HeartbeatInterval")]["mutability"] == "ReadWrite"
        assert keys[("OCPP16", None, "NumberOfConnectors")]["value"] == "1"
        profiles = keys[("OCPP16", None, "SupportedFeatureProfiles")]["value"]
        assert set(profiles.split(",")) >= {
            "Core",
            "FirmwareManagement",
            "LocalAuthListManagement",
            "Reservation",
            "SmartCharging",
        }


@VERSIONS
async def test_a_firmware_update_runs_to_installed_and_the_new_version_is_reported(
    chargeops: StartChargeops, version: str
) -> None:
    server = await chargeops()
    async with simulated(server, version):
        record = await command(
            server,
            "update_firmware",
            location="https://firmware.example.com/sim/chargeops-sim-2.0.bin",
        )
        assert record["status"] == "accepted", record
        steps = await progress(server, record["id"], "Installed")
        assert steps == ["Downloading", "Downloaded", "Installing", "Installed"]
        station = await server.get(f"/api/v1/stations/{STATION_ID}")
        assert station["firmware_version"] == "chargeops-sim-2.0"
        assert station["firmware_status"] == "Installed"
        if version == "2.0.1":
            boots = await server.get(
                f"/api/v1/stations/{STATION_ID}/events", kind="BootNotification"
            )
            assert len(boots["items"]) == 2  # power-up, then after the update


@VERSIONS
async def test_diagnostics_are_uploaded_and_can_be_downloaded(
    chargeops: StartChargeops, version: str
) -> None:
    server = await chargeops()
    async with simulated(server, version):
        triggered = await command(server, "trigger_message", message="MeterValues")
        assert triggered["status"] == "accepted", triggered
        record = await command(server, "get_diagnostics")
        assert record["status"] == "accepted", record
        named = record["response"]["fileName" if version == "1.6" else "filename"]
        assert named.startswith(f"{STATION_ID}-diagnostics-") and named.endswith(".log")
        steps = await progress(server, record["id"], "Uploaded")
        assert steps[0] == "Uploading" and "FileReceived" in steps

        (listed,) = (await server.get(f"/api/v1/stations/{STATION_ID}/files"))["items"]
        assert listed["command_id"] == record["id"]
        assert listed["filename"] == named
        assert 200 < listed["size_bytes"] < 100_000
        async with server.api() as client:
            download = await client.get(listed["download_url"])
        assert download.status_code == 200
        text = download.text
        assert text.startswith(f"# diagnostics log of {STATION_ID}")
        state, history = text.split("# history")
        assert "connector 1: Available" in state
        assert "booted, heartbeat every 300s" in history
        assert "DEBUG   connector 1: Available" in history  # status changes
        assert re.search(r"connector 1: \d+ Wh, 0 W, 0\.0 A, \d+\.\d V", history)  # readings
        payload = record["payload"]
        location = payload["location"] if version == "1.6" else payload["log"]["remoteLocation"]
        assert location.rsplit("/", 1)[-1] not in text  # the upload token stays private


@VERSIONS
async def test_an_upload_that_cannot_be_made_is_reported_as_failed(
    chargeops: StartChargeops, version: str
) -> None:
    server = await chargeops()
    failed = "UploadFailed" if version == "1.6" else "UploadFailure"
    async with simulated(server, version):
        record = await command(
            server, "get_diagnostics", location="ftp://logs.example.com/incoming/"
        )
        assert record["status"] == "accepted", record
        assert await progress(server, record["id"], failed) == [failed]

        record = await command(server, "get_diagnostics", location=f"{server.http_url}/nowhere")
        assert await progress(server, record["id"], failed) == ["Uploading", failed]
        assert (await server.get(f"/api/v1/stations/{STATION_ID}/files"))["items"] == []
