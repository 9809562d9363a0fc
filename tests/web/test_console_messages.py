"""The console's message log over plain HTTP: staff read a station's frames (reached from
the station's page), filter them, page through them; drivers are refused."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v16 import call

from tests.harness import RunningServer, charge_point
from tests.web.network import ALICE, OPERATOR, SUPPORT, add_staff, logged_in


@pytest.fixture
async def server(
    database_url: str, ports: tuple[int, int], tmp_path: Path
) -> AsyncIterator[RunningServer]:
    srv = RunningServer(
        database_url,
        *ports,
        data_dir=tmp_path,
        read_config_after_boot=False,
        message_log_flush_s=0.05,
    )
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def rows(page: str) -> list[str]:
    """Each message: its row of facts and the row of its frame."""
    return re.findall(r"<tr data-message=.*?(?=<tr data-message=|</tbody>)", page, re.S)


async def frames_of(server: RunningServer, station_id: str, n: int) -> None:
    for _ in range(100):
        found = await server.get("/api/v1/messages", station_id=station_id, limit=500)
        if len(found["items"]) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{station_id}: fewer than {n} frames logged")


async def test_staff_read_a_stations_frames_and_drivers_are_refused(
    server: RunningServer,
) -> None:
    await add_staff(server)
    await server.add_station("CP-1")
    await server.add_station("CP-2")
    async with charge_point(server, "CP-1") as cp:
        await cp.call(call.BootNotification(charge_point_vendor="Alfen", charge_point_model="Eve"))
        await cp.call(
            call.DataTransfer(vendor_id="Alfen", data="x" * 300)  # a long frame: folded
        )
        for _ in range(3):
            await cp.call(call.Heartbeat())
    async with charge_point(server, "CP-2") as cp:
        await cp.call(call.Heartbeat())
    await frames_of(server, "CP-1", 10)
    await frames_of(server, "CP-2", 2)

    async with logged_in(server, SUPPORT) as support:
        station = await support.get("/stations/CP-1")
        page = await support.get("/messages", params={"station_id": "CP-1"})
        heartbeats = await support.get(
            "/messages", params={"station_id": "CP-1", "action": "Heartbeat", "direction": "out"}
        )
        everyone = await support.get("/messages")
        first = await support.get("/messages", params={"station_id": "CP-1", "before": 10**9})
        bad = await support.get("/messages", params={"since": "soon"})
    assert station.status_code == 200
    assert 'href="/messages?station_id=CP-1" data-message-log' in station.text

    assert page.status_code == 200
    assert "<h1" in page.text and "OCPP messages of CP-1" in page.text
    shown = rows(page.text)
    assert len(shown) == 10  # newest first: the last Heartbeat's answer, the Boot at the end
    assert 'data-direction="out" data-type="CALLRESULT"' in shown[0]
    assert "← out" in shown[0] and "Heartbeat" in shown[0]
    assert 'data-direction="in" data-type="CALL"' in shown[-1]
    assert "→ in" in shown[-1] and "BootNotification" in shown[-1]
    # the frame as it came, in a <pre>, with places to wrap after its commas
    boot = '"BootNotification",<wbr>{"chargePointModel":"Eve",<wbr>"chargePointVendor":"Alfen"}]'
    assert boot in html.unescape(shown[-1])
    assert "<pre>" in page.text and "<details><summary>" in page.text  # the long one folded
    assert 'value="CP-1"' in page.text  # the filter form keeps the station

    replies = rows(heartbeats.text)
    assert len(replies) == 3
    assert all("CALLRESULT" in r and "Heartbeat" in r for r in replies)
    assert len(rows(everyone.text)) == 12 and "CP-2" in everyone.text
    assert first.status_code == 200 and rows(first.text) == []
    assert bad.status_code == 422 and "is not a time" in bad.text

    async with logged_in(server, ALICE) as alice:
        refused = await alice.get("/messages", params={"station_id": "CP-1"})
        station = await alice.get("/stations/CP-1")
    assert refused.status_code == 403
    assert "messages:read" in refused.text and "Alfen" not in refused.text
    assert "data-message-log" not in station.text


async def test_pages_of_frames_walk_back_in_time(server: RunningServer) -> None:
    await add_staff(server)
    await server.add_station("CP-P")
    async with charge_point(server, "CP-P") as cp:
        for _ in range(30):
            await cp.call(call.Heartbeat())
    await frames_of(server, "CP-P", 60)
    async with logged_in(server, OPERATOR) as operator:
        newest = await operator.get("/messages", params={"station_id": "CP-P"})
        older = re.search(r'href="(/messages\?[^"]*before=\d+)" rel="next"', newest.text)
        assert older is not None
        second = await operator.get(html.unescape(older.group(1)))
    first_ids = re.findall(r'data-message="(\d+)"', newest.text)
    second_ids = re.findall(r'data-message="(\d+)"', second.text)
    assert len(first_ids) == 50 and len(second_ids) == 10
    assert not set(first_ids) & set(second_ids)
    assert 'rel="next"' not in second.text and ">Newest</a>" in second.text
