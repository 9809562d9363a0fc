"""A running chargeops and real charge points, for end-to-end tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import websockets
from ocpp import v16, v21, v201

from chargeops.app import Application
from chargeops.config import Settings
from chargeops.stations import service as stations
from chargeops.users import service as users
from chargeops.users import tokens

_CHARGE_POINTS: dict[str, Any] = {
    "1.6": v16.ChargePoint,
    "2.0.1": v201.ChargePoint,
    "2.1": v21.ChargePoint,
}


def now_iso(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


class RunningServer:
    def __init__(self, database_url: str, http_port: int, ocpp_port: int, **overrides: Any):
        self.settings = Settings(
            database_url=database_url,
            host="127.0.0.1",
            http_port=http_port,
            ocpp_port=ocpp_port,
            log_format="console",
            **overrides,
        )
        self.app = Application(self.settings)
        self.api_key = ""

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.ocpp_port}/ocpp"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    async def start(self) -> None:
        await self.app.start()
        async with self.db() as session:
            self.api_key = (await users.create_api_key(session, "tests")).key
            await session.commit()

    async def stop(self) -> None:
        await self.app.stop()

    def db(self) -> Any:
        assert self.app.sessions is not None
        return self.app.sessions()

    async def add_station(self, station_id: str, password: str | None = None) -> None:
        async with self.db() as session:
            await stations.register_station(session, station_id, password=password)
            await session.commit()

    async def add_token(self, id_tag: str, **kwargs: Any) -> None:
        async with self.db() as session:
            await tokens.add_token(session, id_tag, **kwargs)
            await session.commit()

    def api(self) -> httpx.AsyncClient:
        # httpx's 5 s default is shorter than a loaded CI machine can stall a test server
        # (3 workers on 2 cores, browsers beside them): a wait, not a limit under test
        return httpx.AsyncClient(
            base_url=self.http_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
        )

    async def get(self, path: str, **params: Any) -> Any:
        async with self.api() as client:
            response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@contextlib.asynccontextmanager
async def charge_point(
    server: RunningServer,
    station_id: str,
    *,
    password: str | None = None,
    path: str | None = None,
    subprotocols: list[str] | None = None,
    version: str = "1.6",
    charger_class: Any = None,
) -> AsyncIterator[Any]:
    """A real charger (the `ocpp` package's charge point side) connected to us, speaking
    OCPP ``version`` (1.6, 2.0.1 or 2.1)."""
    charger_class = charger_class or _CHARGE_POINTS[version]
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    url = path or f"{server.ocpp_url}/{station_id}"
    async with websockets.connect(
        url,
        subprotocols=subprotocols or [f"ocpp{version}"],  # type: ignore[list-item]
        additional_headers=headers,
    ) as ws:
        cp = charger_class(station_id, ws, response_timeout=10)
        task = asyncio.create_task(cp.start())
        await _attached(server, station_id)
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _attached(server: RunningServer, station_id: str) -> None:
    """Wait until the gateway holds the connection (it records it first): a command sent
    before then would find the station not connected."""
    gateway = server.app.gateway
    for _ in range(200):
        if gateway is None or gateway.presence.get(station_id) is not None:
            return
        await asyncio.sleep(0.01)


async def raw_call(ws: Any, frame: str) -> list[Any]:
    """Send a raw text frame and return the parsed answer."""
    import json

    await ws.send(frame)
    return list(json.loads(await asyncio.wait_for(ws.recv(), 5)))
