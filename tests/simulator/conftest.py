"""A real chargeops and a simulated station connected to it, driven through the HTTP API.

The operator's view end to end: a command goes in at ``POST .../commands``, the server
sends its CALL, the simulator answers and follows up, and what the server recorded is
read back from the API. Names here avoid the root conftest's ``server`` fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chargeops.simulator import FleetConfig, make_stations, run_station
from chargeops.simulator.station import Station
from tests.harness import RunningServer

T = TypeVar("T")

#: One AC station (3 phases, 11 kW), one connector, that starts no session by itself.
QUIET_STATION: dict[str, Any] = dict(
    stations=1,
    id_prefix="SIM",
    connectors=(1, 1),
    power_w=(11_000, 11_000),
    idle_between_sessions_s=(3600.0, 3600.0),
    charge_duration_s=(3600.0, 3600.0),
    meter_interval_s=0.2,
    transfer_step_s=0.05,
    unplug_delay_s=0.05,
    reconnect_delay_s=(0.05, 0.2),
    shutdown_timeout_s=2.0,
    seed=3,
)
STATION_ID = "SIM-0001"
DRIVER = "DRIVER-1"

StartChargeops = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def chargeops(
    database_url: str, ports: tuple[int, int], tmp_path: Path
) -> AsyncIterator[StartChargeops]:
    """``await chargeops(**settings)`` starts the server; it stops after the test."""
    started: list[RunningServer] = []

    async def start(**overrides: Any) -> RunningServer:
        settings: dict[str, Any] = {
            "call_timeout": 5.0,
            "data_dir": tmp_path,
            "read_config_after_boot": False,
            **overrides,
        }
        server = RunningServer(database_url, *ports, **settings)
        await server.start()
        started.append(server)
        await server.add_token(DRIVER)
        return server

    yield start
    for server in started:
        await server.stop()


async def until(
    probe: Callable[[], Awaitable[T | None]], within: float = 15.0, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something other than None (or False); the
    generous limit only matters when the suite runs on a loaded machine."""
    async with asyncio.timeout(within):
        while True:
            value = await probe()
            if value is not None and value is not False:
                return value
            await asyncio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


async def command(server: RunningServer, name: str, **arguments: Any) -> dict[str, Any]:
    """Send a command to the simulated station and wait for its answer."""
    async with server.api() as client:
        response = await client.post(
            f"/api/v1/stations/{STATION_ID}/commands",
            params={"wait": "true"},
            json={"name": name, "arguments": arguments},
        )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


async def connector_status(server: RunningServer, evse_id: int = 1) -> str | None:
    """The connector's status as the server knows it; None before the station connected."""
    async with server.api() as client:
        response = await client.get(f"/api/v1/stations/{STATION_ID}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    for connector in response.json()["connectors"]:
        if connector["evse_id"] == evse_id:
            return str(connector["status"])
    return None


async def status_becomes(server: RunningServer, status: str, evse_id: int = 1) -> None:
    async def probe() -> bool:
        return await connector_status(server, evse_id) == status

    await until(probe, what=f"connector {evse_id} {status}")


async def progress(server: RunningServer, command_id: int, last: str) -> list[str]:
    """The command's progress statuses, once ``last`` has been reported."""

    async def probe() -> list[str] | None:
        record = await server.get(f"/api/v1/commands/{command_id}")
        steps = [str(step["status"]) for step in record["progress"]]
        return steps if last in steps else None

    return await until(probe, what=f"progress {last}")


async def active_session(server: RunningServer) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        page = await server.get("/api/v1/sessions", station_id=STATION_ID, status="active")
        return page["items"][0] if page["items"] else None

    return await until(probe, what="an active session")


@contextlib.asynccontextmanager
async def simulated(
    server: RunningServer, version: str, **overrides: Any
) -> AsyncIterator[Station]:
    """One simulated station speaking OCPP ``version``, booted and reporting Available."""
    config = FleetConfig(
        url=server.ocpp_url, **{**QUIET_STATION, "ocpp_version": version, **overrides}
    )
    (station,) = make_stations(config)
    stop = asyncio.Event()
    task = asyncio.create_task(run_station(station, config, stop))
    try:
        await status_becomes(server, "Available")
        yield station
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.shield(task)
        task.cancel()
        await asyncio.wait([task])
