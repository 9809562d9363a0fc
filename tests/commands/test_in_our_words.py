"""What chargeops fills in for the operator: configuration read after boot and kept,
a local list built from the registered tokens, a session's limit by our session id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.commands.test_commands import command
from tests.harness import RunningServer, charge_point, now_iso


class Configured16(ChargePoint16):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = {"HeartbeatInterval": "300", "NumberOfConnectors": "2"}
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @on("GetConfiguration")
    async def get_configuration(self, key: list[str] | None = None) -> Any:
        self.seen.append(("GetConfiguration", {"key": key}))
        return result16.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": k == "NumberOfConnectors", "value": v}
                for k, v in self.config.items()
                if not key or k in key
            ]
        )

    @on("ChangeConfiguration")
    async def change_configuration(self, key: str, value: str) -> Any:
        self.config[key] = value
        return result16.ChangeConfiguration(status="Accepted")

    @on("SendLocalList")
    async def send_local_list(self, **payload: Any) -> Any:
        self.seen.append(("SendLocalList", payload))
        return result16.SendLocalList(status="Accepted")

    @on("SetChargingProfile")
    async def set_charging_profile(self, **payload: Any) -> Any:
        self.seen.append(("SetChargingProfile", payload))
        return result16.SetChargingProfile(status="Accepted")


class Reported201(ChargePoint201):  # type: ignore[misc]
    requested: list[dict[str, Any]]

    @on("GetBaseReport")
    async def get_base_report(self, **payload: Any) -> Any:
        self.requested.append(payload)
        return result201.GetBaseReport(status="Accepted")


@pytest.fixture
async def booting_server(
    database_url: str, ports: tuple[int, int], tmp_path: Path
) -> AsyncIterator[RunningServer]:
    srv = RunningServer(database_url, *ports, call_timeout=3, data_dir=tmp_path)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def _commands_of(server: RunningServer, station_id: str, count: int) -> list[Any]:
    for _ in range(100):  # the read starts a moment after the boot
        items = (await server.get(f"/api/v1/stations/{station_id}/commands"))["items"]
        if len(items) >= count and all(c["status"] != "sent" for c in items):
            return list(items)
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} finished commands, have {items}")


async def test_a_16_stations_configuration_is_read_after_boot_and_kept_current(
    booting_server: RunningServer,
) -> None:
    server = booting_server
    await server.add_station("CP-B1")
    async with charge_point(server, "CP-B1", charger_class=Configured16) as cp:
        await cp.call(
            call16.BootNotification(charge_point_vendor="Alfen", charge_point_model="Eve")
        )
        (read,) = await _commands_of(server, "CP-B1", 1)
        assert read["name"] == "get_configuration" and read["status"] == "accepted"
        assert read["requested_by"] == "chargeops (after boot)"
        changed = await command(
            server, "CP-B1", "change_configuration", key="HeartbeatInterval", value="60"
        )
        assert changed.json()["status"] == "accepted"
    variables = (await server.get("/api/v1/stations/CP-B1/variables", component="OCPP16"))["items"]
    kept = {v["variable"]: (v["value"], v["mutability"]) for v in variables}
    assert kept == {
        "HeartbeatInterval": ("60", "ReadWrite"),
        "NumberOfConnectors": ("2", "ReadOnly"),
    }


async def test_a_201_station_is_asked_for_its_device_model_after_boot(
    booting_server: RunningServer,
) -> None:
    server = booting_server
    await server.add_station("CP-B2")
    async with charge_point(server, "CP-B2", version="2.0.1", charger_class=Reported201) as cp:
        cp.requested = []
        await cp.call(
            call201.BootNotification(
                charging_station={"vendor_name": "Kempower", "model": "S"}, reason="PowerUp"
            )
        )
        (read,) = await _commands_of(server, "CP-B2", 1)
    assert read["action"] == "GetBaseReport" and read["status"] == "accepted"
    assert cp.requested[0]["report_base"] == "FullInventory"


async def test_the_local_list_defaults_to_every_registered_token(server: RunningServer) -> None:
    await server.add_station("CP-LL")
    await server.add_token("CARD-OK")
    await server.add_token("CARD-LOST", status="blocked")
    async with charge_point(server, "CP-LL", charger_class=Configured16) as cp:
        record = (await command(server, "CP-LL", "send_local_list")).json()
        partial = await command(server, "CP-LL", "send_local_list", update="differential")
    assert record["status"] == "accepted"
    assert record["payload"]["updateType"] == "Full" and record["payload"]["listVersion"] > 0
    (_, sent), *_ = [s for s in cp.seen if s[0] == "SendLocalList"]
    statuses = {e["id_tag"]: e["id_tag_info"]["status"] for e in sent["local_authorization_list"]}
    assert statuses == {"CARD-OK": "Accepted", "CARD-LOST": "Blocked"}
    assert partial.status_code == 422 and "tokens" in partial.json()["detail"]


async def test_a_sessions_limit_is_set_by_our_session_id(server: RunningServer) -> None:
    await server.add_station("CP-TX")
    await server.add_token("CARD-1")
    async with charge_point(server, "CP-TX", charger_class=Configured16) as cp:
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="CARD-1", meter_start=0, timestamp=now_iso()
            )
        )
        (session,) = (await server.get("/api/v1/sessions", station_id="CP-TX"))["items"]
        record = (
            await command(
                server,
                "CP-TX",
                "set_charging_profile",
                session_id=session["id"],
                limit=16,
                unit="A",
                evse_id=1,
            )
        ).json()
        mixed = await command(
            server, "CP-TX", "set_charging_profile", session_id=session["id"], charging_profile={}
        )
    assert record["status"] == "accepted", record
    assert mixed.status_code == 422 and "short form" in mixed.json()["detail"]
    (_, sent), *_ = [s for s in cp.seen if s[0] == "SetChargingProfile"]
    profile = sent["cs_charging_profiles"]
    assert profile["charging_profile_purpose"] == "TxProfile"
    assert profile["transaction_id"] == started.transaction_id
    assert record["arguments"]["session_id"] == session["id"]  # the record keeps our words
