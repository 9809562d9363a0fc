"""Diagnostics and logs: the station uploads to chargeops, the operator downloads."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.commands.test_commands import command
from tests.harness import RunningServer, charge_point

DIAGNOSTICS = b"2026-11-22T10:00:00Z ERROR ground fault on EVSE 1\n" * 2000


class Diagnostics16(ChargePoint16):  # type: ignore[misc]
    """Answers GetDiagnostics with a file name, as a 1.6 charger does, then uploads."""

    location = ""

    @on("GetDiagnostics")
    async def get_diagnostics(self, location: str, **_: Any) -> Any:
        self.location = location
        return result16.GetDiagnostics(file_name="diag-CP-D1.log")


class Log201(ChargePoint201):  # type: ignore[misc]
    location = ""
    request_id = 0

    @on("GetLog")
    async def get_log(self, log: dict[str, Any], request_id: int, **_: Any) -> Any:
        self.location, self.request_id = log["remote_location"], request_id
        return result201.GetLog(status="Accepted", filename="security.log")


async def progress(server: RunningServer, command_id: int, steps: int) -> list[dict[str, Any]]:
    for _ in range(60):  # progress is recorded from the bus, just after each commit
        record = await server.get(f"/api/v1/commands/{command_id}")
        if len(record["progress"]) >= steps:
            break
        await asyncio.sleep(0.05)
    return list(record["progress"])


async def test_a_16_station_uploads_its_diagnostics_and_the_operator_downloads_them(
    server: RunningServer,
) -> None:
    await server.add_station("CP-D1")
    async with charge_point(server, "CP-D1", charger_class=Diagnostics16) as cp:
        response = await command(
            server, "CP-D1", "get_diagnostics", start_at="2026-11-21T00:00:00+01:00"
        )
        record = response.json()
        assert record["status"] == "accepted", record
        assert record["payload"]["startTime"] == "2026-11-20T23:00:00.000Z"
        assert cp.location.startswith(f"{server.http_url}/uploads/")
        await cp.call(call16.DiagnosticsStatusNotification(status="Uploading"))
        async with httpx.AsyncClient() as station_http:  # as curl -F would, no API key
            upload = await station_http.post(
                cp.location, files={"file": ("diag-CP-D1.log", DIAGNOSTICS, "text/plain")}
            )
        assert upload.status_code == 200, upload.text
        await cp.call(call16.DiagnosticsStatusNotification(status="Uploaded"))
        steps = await progress(server, record["id"], 3)
    assert [s["status"] for s in steps] == ["Uploading", "FileReceived", "Uploaded"]
    file_id = steps[1]["file_id"]
    (listed,) = (await server.get("/api/v1/stations/CP-D1/files"))["items"]
    assert listed["id"] == file_id and listed["command_id"] == record["id"]
    assert listed["filename"] == "diag-CP-D1.log"
    assert listed["size_bytes"] == len(DIAGNOSTICS)
    assert listed["sha256"] == hashlib.sha256(DIAGNOSTICS).hexdigest()
    async with server.api() as client:
        download = await client.get(listed["download_url"])
    assert download.status_code == 200
    assert download.content == DIAGNOSTICS
    assert "diag-CP-D1.log" in download.headers["content-disposition"]


async def test_a_201_log_upload_by_put_with_the_name_in_the_path(server: RunningServer) -> None:
    await server.add_station("CP-L2")
    async with charge_point(server, "CP-L2", version="2.0.1", charger_class=Log201) as cp:
        response = await command(server, "CP-L2", "get_diagnostics", log_type="security")
        record = response.json()
        assert record["status"] == "accepted" and record["action"] == "GetLog"
        assert record["payload"]["logType"] == "SecurityLog"
        async with httpx.AsyncClient() as station_http:
            upload = await station_http.put(f"{cp.location}/security.log", content=b"tamper\n")
        assert upload.status_code == 200, upload.text
        # a report about another request is not this command's progress
        await cp.call(call201.LogStatusNotification(status="Uploaded", request_id=1))
        await cp.call(call201.LogStatusNotification(status="Uploaded", request_id=cp.request_id))
        steps = await progress(server, record["id"], 2)
    assert [s["status"] for s in steps] == ["FileReceived", "Uploaded"]
    (listed,) = (await server.get("/api/v1/stations/CP-L2/files"))["items"]
    assert listed["filename"] == "security.log" and listed["size_bytes"] == 7


async def test_uploads_need_a_live_token_and_respect_the_size_limit(
    server: RunningServer,
) -> None:
    await server.add_station("CP-D3")
    async with charge_point(server, "CP-D3", charger_class=Diagnostics16) as cp:
        record = (await command(server, "CP-D3", "get_diagnostics")).json()
        assert record["status"] == "accepted"
        location = cp.location
    limit = server.settings.max_upload_mb * 2**20
    async with httpx.AsyncClient() as station_http:
        unknown = await station_http.post(f"{server.http_url}/uploads/not-a-token", content=b"x")
        too_big = await station_http.put(location, content=b"\0" * (limit + 2**17))
        later = await station_http.put(location, content=b"fine")
    assert unknown.status_code == 404
    assert too_big.status_code == 413 and "MB" in too_big.json()["detail"]
    assert later.status_code == 200
    files = (await server.get("/api/v1/stations/CP-D3/files"))["items"]
    assert [f["size_bytes"] for f in files] == [4]  # nothing kept of the refused upload
    leftovers = [p for p in server.settings.data_dir.rglob("*") if p.name.endswith(".part")]
    assert leftovers == []


async def test_a_given_location_is_passed_on_and_no_upload_is_expected(
    server: RunningServer,
) -> None:
    await server.add_station("CP-D4")
    async with charge_point(server, "CP-D4", charger_class=Diagnostics16) as cp:
        record = (
            await command(server, "CP-D4", "get_diagnostics", location="ftp://logs.example.com/in/")
        ).json()
    assert record["status"] == "accepted"
    assert cp.location == "ftp://logs.example.com/in/"
