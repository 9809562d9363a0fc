"""The OCPP message log end to end: real chargers (1.6 and 2.0.1) over real WebSockets,
the frames they exchange listed by the API with the right actions, filters, access,
retention, the switch that turns it off, and frames that are not OCPP-J."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201
from sqlalchemy import func, select

from chargeops.core.access import Role
from chargeops.monitoring import message_log
from chargeops.monitoring.message_log import MessageLog
from chargeops.monitoring.models import OcppMessage
from chargeops.users import service as users
from tests.harness import RunningServer, charge_point, now_iso, raw_call

FLUSH_S = 0.05


@pytest.fixture
async def server(database_url: str, ports: tuple[int, int]) -> AsyncIterator[RunningServer]:
    """A server whose log writes every 50 ms (and reads no configuration after boot, so
    the only CALLs we send are the test's)."""
    srv = RunningServer(
        database_url, *ports, message_log_flush_s=FLUSH_S, read_config_after_boot=False
    )
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


class Charger16(ChargePoint16):  # type: ignore[misc]
    @on("Reset")
    async def reset(self, **payload: Any) -> Any:
        return result16.Reset(status="Accepted")


async def messages(server: RunningServer, path: str = "/api/v1/messages", **params: Any) -> Any:
    return (await server.get(path, limit=500, **params))["items"]


async def logged(
    server: RunningServer,
    done: Callable[[list[dict[str, Any]]], bool],
    path: str = "/api/v1/messages",
    **params: Any,
) -> list[dict[str, Any]]:
    """The list once ``done`` holds for it: frames reach the database in batches."""
    for _ in range(100):
        items = await messages(server, path, **params)
        if done(items):
            return list(items)
        await asyncio.sleep(0.05)
    raise AssertionError(f"the log never got there: {items}")


def at_least(n: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda items: len(items) >= n


async def reset(server: RunningServer, station_id: str) -> dict[str, Any]:
    async with server.api() as client:
        response = await client.post(
            f"/api/v1/stations/{station_id}/commands",
            params={"wait": "true"},
            json={"name": "reset", "arguments": {"type": "hard"}},
        )
    assert response.status_code == 201, response.text
    return dict(response.json())


def summary(items: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(direction, type, action), oldest first."""
    return [(i["direction"], i["message_type"], i["action"]) for i in reversed(items)]


async def test_frames_in_and_out_of_16_and_201_chargers_are_listed_with_their_actions(
    server: RunningServer,
) -> None:
    await server.add_station("CP-16")
    await server.add_station("CP-201")
    async with charge_point(server, "CP-16", charger_class=Charger16) as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="Alfen", charge_point_model="E"))
        await cp.call(call16.Heartbeat())
        await cp.call(
            call16.StatusNotification(
                connector_id=1, error_code="NoError", status="Available", timestamp=now_iso()
            )
        )
        assert (await reset(server, "CP-16"))["status"] == "accepted"
    async with charge_point(server, "CP-201", version="2.0.1") as cp:
        await cp.call(
            call201.BootNotification(
                charging_station={"vendor_name": "Zaptec", "model": "Pro"}, reason="PowerUp"
            )
        )
        await cp.call(call201.Heartbeat())
        await cp.call(
            call201.StatusNotification(
                timestamp=now_iso(), connector_status="Available", evse_id=1, connector_id=1
            )
        )
        # this charger has no Reset handler: it answers with a CALLERROR
        assert (await reset(server, "CP-201"))["status"] == "failed"

    expected = [
        ("in", "CALL", "BootNotification"),
        ("out", "CALLRESULT", "BootNotification"),
        ("in", "CALL", "Heartbeat"),
        ("out", "CALLRESULT", "Heartbeat"),
        ("in", "CALL", "StatusNotification"),
        ("out", "CALLRESULT", "StatusNotification"),
        ("out", "CALL", "Reset"),
    ]
    path16 = "/api/v1/stations/CP-16/messages"
    path201 = "/api/v1/stations/CP-201/messages"
    of16 = await logged(server, at_least(8), path16)
    of201 = await logged(server, at_least(8), path201)
    assert summary(of16) == [*expected, ("in", "CALLRESULT", "Reset")]
    assert summary(of201) == [*expected, ("in", "CALLERROR", "Reset")]
    assert {i["station_id"] for i in of16} == {"CP-16"}

    # each item: the raw frame and its parsed payload; a result shares its CALL's id
    boot = of16[-1]
    assert boot["frame"].startswith('[2,"') and '"BootNotification"' in boot["frame"]
    assert boot["payload"] == {"chargePointVendor": "Alfen", "chargePointModel": "E"}
    booted = of16[-2]
    assert booted["unique_id"] == boot["unique_id"] and booted["payload"]["status"] == "Accepted"
    call_out, answer_in = of201[1], of201[0]
    assert call_out["payload"] == {"type": "Immediate"}
    assert answer_in["unique_id"] == call_out["unique_id"]
    assert answer_in["payload"]["errorCode"] == "NotImplemented"
    times = [datetime.fromisoformat(i["at"]) for i in of16]
    assert times == sorted(times, reverse=True)  # newest first

    # filters: action (answers included), unique id, direction, both routes alike
    everything = await messages(server)
    assert len(everything) == 16
    heartbeats = await messages(server, action="Heartbeat")
    assert sorted((i["station_id"], i["direction"]) for i in heartbeats) == [
        ("CP-16", "in"),
        ("CP-16", "out"),
        ("CP-201", "in"),
        ("CP-201", "out"),
    ]
    pair = await messages(server, unique_id=call_out["unique_id"], station_id="CP-201")
    assert [i["id"] for i in pair] == [answer_in["id"], call_out["id"]]
    outgoing = await messages(server, path201, direction="out")
    assert summary(outgoing) == [e for e in expected if e[0] == "out"]
    assert await messages(server, path16, action="Reset", direction="in") == [of16[0]]


async def test_time_filters_and_pages(server: RunningServer) -> None:
    await server.add_station("CP-T")
    async with charge_point(server, "CP-T") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await asyncio.sleep(0.02)
        middle = datetime.now(UTC)
        await asyncio.sleep(0.02)
        for _ in range(3):
            await cp.call(call16.Heartbeat())
    items = await logged(server, at_least(8))
    before = await messages(server, until=middle.isoformat())
    after = await messages(server, since=middle.isoformat())
    assert {i["action"] for i in before} == {"BootNotification"} and len(before) == 2
    assert {i["action"] for i in after} == {"Heartbeat"} and len(after) == 6
    naive = middle.replace(tzinfo=None).isoformat()  # no offset: UTC
    assert await messages(server, since=naive) == after

    # pages of 3 walk the same list, newest first, without overlap
    seen: list[int] = []
    cursor = None
    async with server.api() as client:
        while True:
            params: dict[str, Any] = {"station_id": "CP-T", "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/api/v1/messages", params=params)).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == [i["id"] for i in items]


async def test_bad_filters_an_unknown_station_and_drivers_are_refused(
    server: RunningServer,
) -> None:
    async with server.api() as client:
        bad = [
            await client.get("/api/v1/messages", params={"direction": "sideways"}),
            await client.get("/api/v1/messages", params={"since": "yesterday"}),
            await client.get(
                "/api/v1/messages",
                params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
            ),
            await client.get("/api/v1/messages", params={"cursor": "not-a-cursor"}),
            await client.get("/api/v1/messages", params={"limit": 0}),
        ]
        unknown = await client.get("/api/v1/stations/CP-NOPE/messages")
        filtered = await client.get("/api/v1/messages", params={"station_id": "CP-NOPE"})
    for response in bad:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert unknown.status_code == 404 and "CP-NOPE" in unknown.json()["detail"]
    assert filtered.status_code == 200 and filtered.json()["items"] == []

    async with server.db() as db:
        driver = (await users.create_api_key(db, "a driver", roles=[Role.DRIVER])).key
        support = (await users.create_api_key(db, "support", roles=[Role.SUPPORT])).key
        await db.commit()
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        as_driver = await client.get(
            "/api/v1/messages", headers={"Authorization": f"Bearer {driver}"}
        )
        as_support = await client.get(
            "/api/v1/messages", headers={"Authorization": f"Bearer {support}"}
        )
    assert as_driver.status_code == 403 and "messages:read" in as_driver.json()["detail"]
    assert as_support.status_code == 200


async def test_frames_that_are_not_ocpp_are_logged_as_they_came(server: RunningServer) -> None:
    await server.add_station("CP-RAW")
    url = f"{server.ocpp_url}/CP-RAW"
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        for garbage in ("hello", "[2]", "\x00\xff"):
            await ws.send(garbage)
        broken = await raw_call(ws, '[2,"u10","Heartbeat",{')
        assert broken[:3] == [4, "u10", "FormationViolation"]
        assert (await raw_call(ws, '[2,"ok","Heartbeat",{}]'))[:2] == [3, "ok"]
    items = await logged(server, at_least(7), station_id="CP-RAW")
    by_frame = {i["frame"]: i for i in items}
    for frame in ("hello", "[2]", "\\u0000\xff"):  # NUL kept as its JSON escape
        assert by_frame[frame]["message_type"] == "INVALID"
        assert by_frame[frame]["unique_id"] == "" and by_frame[frame]["payload"] is None
        assert by_frame[frame]["direction"] == "in"
    # broken JSON keeps the unique id it starts with: found beside the error it got
    pair = await messages(server, unique_id="u10")
    assert [(i["direction"], i["message_type"]) for i in pair] == [
        ("out", "CALLERROR"),
        ("in", "INVALID"),
    ]


async def test_retention_removes_only_older_frames(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(message_log, "PURGE_SLICE", 3)  # several slices for a few rows
    log = server.app.message_log
    writer = server.app.writer
    assert log is not None and writer is not None
    now = datetime.now(UTC)
    ages = [45, 40, 31, 30.5, 29, 10, 1, 0]  # days
    for n, days in enumerate(ages):
        log.record("CP-OLD", "in", f'[2,"m{n}","Heartbeat",{{}}]', now - timedelta(days=days))
    await logged(server, at_least(len(ages)), station_id="CP-OLD")

    assert await message_log.purge_expired(writer, 30) == 4
    kept = await messages(server, station_id="CP-OLD")
    assert sorted(i["unique_id"] for i in kept) == ["m4", "m5", "m6", "m7"]
    assert await message_log.purge_expired(writer, 30) == 0
    # the same through plain sessions (a command-line job has no writer)
    assert server.app.sessions is not None
    assert await message_log.purge(server.app.sessions, now - timedelta(days=5)) == 2
    kept = await messages(server, station_id="CP-OLD")
    assert sorted(i["unique_id"] for i in kept) == ["m6", "m7"]


async def test_a_full_buffer_drops_the_oldest_and_results_find_their_call_later(
    server: RunningServer,
) -> None:
    writer = server.app.writer
    assert writer is not None
    log = MessageLog(writer, max_buffer=5)  # not started: flushed by hand
    now = datetime.now(UTC)
    log.record("CP-BUF", "out", '[2,"x1","GetConfiguration",{}]', now)
    await log.flush()
    for n in range(7):
        log.record("CP-BUF", "in", f'[2,"h{n}","Heartbeat",{{}}]', now)
    log.record("CP-BUF", "in", '[3,"x1",{"configurationKey":[]}]', now)  # a later batch
    assert log.dropped == 3 and log.pending == 5
    await log.flush()
    assert log.pending == 0 and log.written == 6
    items = await messages(server, station_id="CP-BUF")
    assert sorted(i["unique_id"] for i in items) == ["h3", "h4", "h5", "h6", "x1", "x1"]
    result = next(i for i in items if i["message_type"] == "CALLRESULT")
    assert result["action"] == "GetConfiguration"


async def test_no_log_when_its_days_are_zero(database_url: str, ports: tuple[int, int]) -> None:
    server = RunningServer(database_url, *ports, message_log_days=0, message_log_flush_s=FLUSH_S)
    await server.start()
    try:
        assert server.app.message_log is None
        await server.add_station("CP-OFF")
        async with charge_point(server, "CP-OFF") as cp:
            await cp.call(call16.Heartbeat())
        await asyncio.sleep(5 * FLUSH_S)
        assert await messages(server) == []  # the API still answers, with nothing
        async with server.db() as db:
            assert await db.scalar(select(func.count()).select_from(OcppMessage)) == 0
    finally:
        await server.stop()
