"""Faults: what chargers report wrong is opened at once, counted when repeated, and
cleared when the connector recovers or the station says it is over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.harness import RunningServer, charge_point, now_iso


async def _faults(server: RunningServer, station_id: str, **params: Any) -> list[dict[str, Any]]:
    page = await server.get("/api/v1/monitoring/faults", station_id=station_id, **params)
    return list(page["items"])


def _status16(status: str, code: str = "NoError", connector: int = 1, **kw: Any) -> Any:
    return call16.StatusNotification(connector_id=connector, error_code=code, status=status, **kw)


async def test_a_16_error_code_opens_a_fault_that_recovery_clears(server: RunningServer) -> None:
    await server.add_station("CP-F16")
    async with charge_point(server, "CP-F16") as cp:
        await cp.call(_status16("Available"))
        assert await _faults(server, "CP-F16") == []
        await cp.call(
            _status16(
                "Faulted",
                "GroundFailure",
                info="RCD tripped",
                vendor_id="com.alfen",
                vendor_error_code="E-117",
            )
        )
        await cp.call(_status16("Faulted", "GroundFailure"))  # said again: the same fault
        [fault] = await _faults(server, "CP-F16", open="true")
        assert fault["code"] == "GroundFailure" and fault["source"] == "status"
        assert fault["vendor_code"] == "E-117" and fault["vendor_id"] == "com.alfen"
        assert fault["info"] == "RCD tripped" and fault["status"] == "Faulted"
        assert fault["reports"] == 2 and fault["evse_id"] == 1
        health = await server.get("/api/v1/stations/CP-F16/health")
        assert [f["id"] for f in health["open_faults"]] == [fault["id"]]

        await cp.call(_status16("Available"))
        assert await _faults(server, "CP-F16", open="true") == []
        [cleared] = await _faults(server, "CP-F16")
        assert cleared["cleared_by"] == "recovery" and cleared["cleared_at"] is not None


async def test_another_error_code_supersedes_and_a_late_replay_changes_nothing(
    server: RunningServer,
) -> None:
    await server.add_station("CP-F16B")
    async with charge_point(server, "CP-F16B") as cp:
        # a warning while still available is a fault too (1.6 allows any status with it)
        await cp.call(_status16("Available", "HighTemperature"))
        await cp.call(_status16("Faulted", "OverVoltage"))
        faults = await _faults(server, "CP-F16B")
        assert [(f["code"], f["cleared_by"]) for f in faults] == [
            ("OverVoltage", None),
            ("HighTemperature", "superseded"),
        ]
        await cp.call(_status16("Available"))
        # an older report replayed from the charger's queue after the recovery
        old = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
        await cp.call(_status16("Faulted", "PowerMeterFailure", timestamp=old))
        assert await _faults(server, "CP-F16B", open="true") == []
        # station-wide problems sit on connector 0
        await cp.call(_status16("Faulted", "InternalError", connector=0))
        [station_fault] = await _faults(server, "CP-F16B", open="true")
        assert station_fault["evse_id"] == 0 and station_fault["code"] == "InternalError"


def _event(variable: str, value: str, *, trigger: str = "Delta", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": 7,
        "timestamp": now_iso(),
        "trigger": trigger,
        "actual_value": value,
        "event_notification_type": "HardWiredNotification",
        "component": {"name": "ConnectorPlugRetentionLock", "evse": {"id": 1, "connector_id": 1}},
        "variable": {"name": variable},
        **extra,
    }


async def _notify(cp: Any, *events: dict[str, Any]) -> None:
    await cp.call(call201.NotifyEvent(generated_at=now_iso(), seq_no=0, event_data=list(events)))


async def test_201_faulted_connectors_and_notify_event_problems(server: RunningServer) -> None:
    await server.add_station("CP-F201")
    async with charge_point(server, "CP-F201", version="2.0.1") as cp:

        async def status(value: str) -> None:
            await cp.call(
                call201.StatusNotification(
                    timestamp=now_iso(), connector_status=value, evse_id=1, connector_id=1
                )
            )

        await status("Faulted")
        [faulted] = await _faults(server, "CP-F201", open="true")
        assert faulted["code"] == "Faulted" and faulted["source"] == "status"
        await status("Available")
        assert await _faults(server, "CP-F201", open="true") == []

        await _notify(cp, _event("Problem", "true", tech_code="LCK-3", tech_info="lock jammed"))
        await _notify(cp, _event("Temperature", "41", trigger="Periodic"))  # not a problem
        [problem] = await _faults(server, "CP-F201", open="true")
        assert problem["code"] == "ConnectorPlugRetentionLock.Problem"
        assert problem["source"] == "event" and problem["vendor_code"] == "LCK-3"
        assert problem["info"] == "lock jammed" and problem["evse_id"] == 1

        await _notify(cp, _event("Problem", "false"))
        assert await _faults(server, "CP-F201", open="true") == []
        assert (await _faults(server, "CP-F201"))[0]["cleared_by"] == "station"

        # a monitor crossing its threshold, cleared by the station later
        await _notify(cp, _event("Problem", "true", trigger="Alerting"))
        await _notify(cp, _event("Problem", "true", trigger="Alerting", cleared=True))
        assert await _faults(server, "CP-F201", open="true") == []


async def test_an_operator_closes_a_fault_the_station_never_will(server: RunningServer) -> None:
    await server.add_station("CP-FX")
    async with charge_point(server, "CP-FX") as cp:
        await cp.call(_status16("Faulted", "ReaderFailure"))
    [fault] = await _faults(server, "CP-FX", open="true")
    async with server.api() as api:
        closed = await api.post(f"/api/v1/monitoring/faults/{fault['id']}/clear")
        missing = await api.post("/api/v1/monitoring/faults/999999/clear")
    assert closed.status_code == 200, closed.text
    assert closed.json()["cleared_by"].startswith("tests")
    assert missing.status_code == 404
    assert await _faults(server, "CP-FX", open="true") == []
