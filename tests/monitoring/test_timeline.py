"""A station's timeline from what a real charger did: connections, status changes (a
repeated report is no change), faults opened and cleared, newest first, in words; and
its window, kinds and limit."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.v16 import call

from tests.harness import RunningServer, charge_point


async def _timeline(server: RunningServer, **params: Any) -> dict[str, Any]:
    async with server.api() as api:
        response = await api.get("/api/v1/stations/CP-TL/timeline", params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _status(status: str, code: str = "NoError", **extra: Any) -> Any:
    return call.StatusNotification(connector_id=1, error_code=code, status=status, **extra)


async def test_what_happened_at_a_station_newest_first(server: RunningServer) -> None:
    await server.add_station("CP-TL")
    async with charge_point(server, "CP-TL") as cp:
        await cp.call(_status("Available"))
        await cp.call(_status("Faulted", "GroundFailure", vendor_error_code="E-117"))
        await cp.call(_status("Faulted", "GroundFailure"))  # said again: no change
        await cp.call(_status("Available"))
    for _ in range(100):  # the disconnection is recorded from the bus, just after
        found = await _timeline(server)
        if found["entries"][0]["label"] == "Offline":
            break
        await asyncio.sleep(0.05)

    seen = [(e["kind"], e["label"], e["words"]) for e in found["entries"]]
    assert seen == [
        ("connectivity", "Offline", "Disconnected"),
        ("status", "Available", "Reported Available"),
        ("fault", "Fault over", "Fault GroundFailure cleared: the connector works again"),
        ("status", "Faulted", "Reported Faulted, error GroundFailure, vendor code E-117"),
        ("fault", "Fault", "Fault GroundFailure opened (vendor code E-117); reported 2 times"),
        ("status", "Available", "Reported Available"),
        ("connectivity", "Online", "Connected"),
    ]
    assert [e["tone"] for e in found["entries"]] == [
        "down",
        "info",
        "up",
        "down",
        "down",
        "info",
        "up",
    ]
    fault = found["entries"][2]
    assert (fault["evse_id"], fault["connector_id"]) == (1, 1) and fault["ref_id"] is not None
    assert found["truncated"] is False

    faults_only = await _timeline(server, kind="fault")
    assert [e["label"] for e in faults_only["entries"]] == ["Fault over", "Fault"]
    newest = await _timeline(server, limit=2)
    assert [e["label"] for e in newest["entries"]] == ["Offline", "Available"]
    assert newest["truncated"] is True
    later = await _timeline(server, since=found["entries"][0]["at"])
    assert [e["label"] for e in later["entries"]] == ["Offline"]  # the start is included

    async with server.api() as api:
        unknown = await api.get("/api/v1/stations/CP-NONE/timeline")
        backwards = await api.get(
            "/api/v1/stations/CP-TL/timeline",
            params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        )
        wrong_kind = await api.get("/api/v1/stations/CP-TL/timeline", params={"kind": "gossip"})
    assert unknown.status_code == 404
    assert backwards.status_code == 422 and "end after it starts" in backwards.text
    assert wrong_kind.status_code == 422 and "kind must be among" in wrong_kind.text
