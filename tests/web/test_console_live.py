"""The live station page's stream (Server-Sent Events): what it sends, to whom, and that
it ends when the browser goes, when the console shuts down and at server stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from chargeops import web
from chargeops.web import live
from tests.harness import RunningServer, now_iso
from tests.web.network import ALICE, OPERATOR, add_people, logged_in, network

STREAM = {"Accept": "text/event-stream"}


def app_of(server: RunningServer) -> Any:
    http = server.app._http
    assert http is not None
    return http.config.app


class Events:
    """Reads a stream event by event."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, within: float = 5.0) -> tuple[str, dict[str, Any]]:
        async with asyncio.timeout(within):
            kind, data = "", ""
            async for line in self._lines:
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == "" and kind:
                    return kind, json.loads(data)
        raise EOFError("the stream ended")

    async def until(self, kind: str) -> dict[str, Any]:
        while True:
            got, data = await self.next()
            if got == kind:
                return data


@contextlib.asynccontextmanager
async def watching(client: httpx.AsyncClient, station_id: str) -> AsyncIterator[Events]:
    async with client.stream("GET", f"/stations/{station_id}/live", headers=STREAM) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Events(response)


async def until_nobody_listens(server: RunningServer) -> None:
    hub = app_of(server).state.console.live
    for _ in range(100):
        if hub.listening == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{hub.listening} streams still open")


async def test_the_stream_sends_a_snapshot_then_each_change(server: RunningServer) -> None:
    async with network(server) as net:
        async with (
            logged_in(server, OPERATOR) as olivia,
            logged_in(server, ALICE) as alice,
            watching(olivia, "CP-1") as staff,
            watching(alice, "CP-1") as own,
        ):
            snapshot = await staff.until("snapshot")
            await own.until("snapshot")
            await net.status(3, "Unavailable")
            changed = await staff.until("connector")
            await net.charger.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=net.bob_session,
                    meter_value=[
                        {
                            "timestamp": now_iso(),
                            "sampledValue": [{"value": "11000", "unit": "Wh"}],
                        }
                    ],
                )
            )
            meter = await staff.until("meter")
            await net.status(2, "Available")  # after the meter sample
            alice_saw = [await own.next(), await own.next()]
        await until_nobody_listens(server)  # the streams ended with their clients
    assert snapshot["online"] is True
    assert [(c["evse_id"], c["status"]) for c in snapshot["connectors"]] == [
        (1, "Available"),
        (2, "Faulted"),
        (3, "Available"),
    ]
    assert changed["evse_id"] == 3 and changed["status"] == "Unavailable"
    assert changed["at_text"].endswith(" UTC")
    assert meter["session_id"] == net.bob_session and meter["energy"] == "10.00 kWh"
    # a driver's stream carries the connectors, not someone else's charging
    assert [(kind, data.get("evse_id")) for kind, data in alice_saw] == [
        ("connector", 3),
        ("connector", 2),
    ]


async def test_streams_need_a_login_and_a_station(server: RunningServer) -> None:
    await add_people(server)
    async with httpx.AsyncClient(base_url=server.http_url, headers=STREAM) as anonymous:
        nobody = await anonymous.get("/stations/CP-1/live")
    async with logged_in(server, OPERATOR) as olivia:
        unknown = await olivia.get("/stations/CP-9/live", headers=STREAM)
    assert nobody.status_code == 401  # a stream is not redirected to a login page
    assert unknown.status_code == 404


async def test_shutting_the_console_down_ends_its_streams_at_once(server: RunningServer) -> None:
    await add_people(server)
    await server.add_station("CP-1")
    async with logged_in(server, OPERATOR) as olivia:
        async with watching(olivia, "CP-1") as events:
            await events.until("snapshot")
            web.shutdown(app_of(server))  # what the composition root may call before stopping
            with pytest.raises(EOFError):
                await events.next(within=2)
        refused = await olivia.get("/stations/CP-1/live", headers=STREAM)
    assert refused.status_code == 204  # an EventSource stops reconnecting


async def test_an_open_stream_does_not_hold_the_server_when_it_stops(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "STREAM_SECONDS", 1.0)
    await add_people(server)
    await server.add_station("CP-1")
    opened = asyncio.Event()

    async def hold(olivia: httpx.AsyncClient) -> None:
        with contextlib.suppress(httpx.HTTPError, EOFError):
            async with watching(olivia, "CP-1") as events:
                await events.until("snapshot")
                opened.set()
                while True:
                    await events.next(within=10)

    async with logged_in(server, OPERATOR) as olivia:
        holder = asyncio.create_task(hold(olivia))
        await asyncio.wait_for(opened.wait(), 5)
        started = time.monotonic()
        await server.stop()
        stopped_in = time.monotonic() - started
        await asyncio.wait_for(holder, 5)
    assert stopped_in < live.STREAM_SECONDS + 1.5
