"""The network health pages over HTTP: the status board and the fault list with their
live streams, clearing a fault, a station's timeline, uptime with declared outages kept
apart, and declaring and withdrawing outages. On SQLite and PostgreSQL, with a real
charger."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from ocpp.v16 import call
from sqlalchemy import delete, update

from chargeops.monitoring.models import ConnectivityChange, StationConnectivity
from chargeops.stations import sites
from chargeops.stations.models import ConnectorStatusChange, Station
from chargeops.web import live
from tests.harness import RunningServer, charge_point, now_iso
from tests.web.network import (
    ALICE,
    OPERATOR,
    SUPPORT,
    add_user,
    csrf_of,
    csrf_token,
    logged_in,
)

STREAM = {"Accept": "text/event-stream"}


class Events:
    """A live stream read event by event."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, within: float = 10.0) -> tuple[str, dict[str, Any]]:
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

    async def until(self, check: Any) -> dict[str, Any]:
        """The first snapshot or update for which ``check(data)`` holds."""
        while True:
            _, data = await self.next()
            if check(data):
                return data


@contextlib.asynccontextmanager
async def watching(client: httpx.AsyncClient, path: str) -> AsyncIterator[Events]:
    async with client.stream("GET", path, headers=STREAM) as response:
        assert response.status_code == 200, await response.aread()
        yield Events(response)


def keys(data: dict[str, Any]) -> list[str]:
    return [row["key"] for row in data["rows"]]


def row_html(data: dict[str, Any], key: str) -> str:
    return str(next(row["html"] for row in data["rows"] if row["key"] == key))


def counted(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', html)}


def board_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-key="([^"]+)"', html)


async def put_at_site(server: RunningServer, name: str, *station_ids: str) -> int:
    async with server.db() as db:
        site = await sites.create_site(db, {"name": name})
        await db.execute(update(Station).where(Station.id.in_(station_ids)).values(site_id=site.id))
        await db.commit()
        return site.id


@contextlib.asynccontextmanager
async def small_network(server: RunningServer) -> AsyncIterator[Any]:
    """Staff, a driver, three stations: CP-1 connected (an `ocpp` 1.6 charger, its
    connector 2 faulted), CP-2 and CP-3 registered and never connected."""
    await add_user(server, OPERATOR, "Olivia Operator", "operator")
    await add_user(server, ALICE, "Alice Driver", "driver")
    await add_user(server, SUPPORT, "Sam Support", "support")
    for station_id in ("CP-1", "CP-2", "CP-3"):
        await server.add_station(station_id)
    async with charge_point(server, "CP-1") as cp:
        await cp.call(
            call.BootNotification(charge_point_vendor="Alfen", charge_point_model="Eve Double")
        )
        for connector_id, code in ((1, "NoError"), (2, "GroundFailure"), (3, "NoError")):
            await report(cp, connector_id, "Available" if code == "NoError" else "Faulted", code)
        yield cp


async def report(cp: Any, connector_id: int, status: str, code: str = "NoError") -> None:
    await cp.call(
        call.StatusNotification(
            connector_id=connector_id, error_code=code, status=status, timestamp=now_iso()
        )
    )


async def test_the_status_board_and_the_fault_list_live(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "STREAM_SECONDS", 60.0)  # one stream through the whole story
    async with small_network(server) as cp:
        depot = await put_at_site(server, "Depot", "CP-1", "CP-2")
        async with (
            logged_in(server, OPERATOR) as olivia,
            logged_in(server, ALICE) as alice,
            logged_in(server, SUPPORT) as sam,
        ):
            board = await olivia.get("/status")
            narrowed = {
                query: await olivia.get("/status?" + query)
                for query in (
                    "state=faulted",
                    "state=never_connected",
                    "state=online",
                    f"site={depot}",
                    "q=eve",
                )
            }
            wrong = {q: await olivia.get("/status?" + q) for q in ("state=broken", "site=999")}
            driver = [await alice.get(p) for p in ("/status", "/faults", "/uptime")]

            async with (
                watching(olivia, "/status/live") as live_board,
                watching(olivia, "/faults/live") as live_faults,
            ):
                first = await live_board.until(lambda d: True)
                faults_first = await live_faults.until(lambda d: True)
                await report(cp, 3, "Faulted", "OverVoltage")
                # a moment later, the rows again: CP-1 now with two open faults
                moved = await live_board.until(
                    lambda d: "2 open faults at CP-1" in row_html(d, "CP-1")
                )
                listed = await live_faults.until(lambda d: len(d["rows"]) == 2)
                page = await olivia.get("/faults")
                over_voltage = re.search(
                    r'action="/faults/(\d+)/clear".*?Clear fault OverVoltage', page.text, re.S
                )
                assert over_voltage is not None
                fault_id = over_voltage.group(1)
                refused = await sam.post(
                    f"/faults/{fault_id}/clear", data={"csrf": await csrf_token(sam)}
                )
                forged = await olivia.post(f"/faults/{fault_id}/clear", data={"csrf": "x"})
                cleared = await olivia.post(
                    f"/faults/{fault_id}/clear",
                    data={"csrf": csrf_of(page.text), "back": "code=volt&evil=1"},
                )
                after = await live_faults.until(lambda d: len(d["rows"]) == 1)
                again = await olivia.post(
                    f"/faults/{fault_id}/clear", data={"csrf": csrf_of(page.text)}
                )
            lists = {
                q: await olivia.get("/faults?" + q)
                for q in ("state=cleared", "code=ground", "station_id=CP-2", "state=all")
            }
            support_view = await sam.get("/faults?state=all")
            landed = await olivia.get(cleared.headers["location"])
    at_depot = await server.get("/api/v1/monitoring/overview", site_id=depot)
    cleared_api = await server.get("/api/v1/monitoring/faults", cleared="true", code="VOLT")

    assert board.status_code == 200
    assert counted(board.text) == {
        "stations": 3,
        "online": 1,
        "offline": 0,
        "never_connected": 2,
        "faulted": 1,
        "open_faults": 1,
        "open_anomalies": 0,
    }
    assert board_rows(board.text) == ["CP-1", "CP-2", "CP-3"]
    cp1 = board.text[board.text.index('data-key="CP-1"') :].split("</tr>")[0]
    assert "Online" in cp1 and "Depot" in cp1 and "Alfen Eve Double" in cp1
    assert 'data-port="2:1"' in cp1 and "status-faulted" in cp1
    assert "1 open fault at CP-1" in cp1
    assert {q: board_rows(r.text) for q, r in narrowed.items()} == {
        "state=faulted": ["CP-1"],
        "state=never_connected": ["CP-2", "CP-3"],
        "state=online": ["CP-1"],
        f"site={depot}": ["CP-1", "CP-2"],
        "q=eve": ["CP-1"],
    }
    # a site's board counts that site's stations
    assert counted(narrowed[f"site={depot}"].text)["stations"] == 2
    assert {q: r.status_code for q, r in wrong.items()} == {"state=broken": 422, "site=999": 404}
    assert [r.status_code for r in driver] == [403, 403, 403]

    # live: the snapshot is what the page showed; a new fault redraws the row and counts
    assert keys(first) == ["CP-1", "CP-2", "CP-3"]
    assert counted(first["counts"])["open_faults"] == 1
    assert counted(moved["counts"])["open_faults"] == 2
    assert "OverVoltage" not in row_html(moved, "CP-2")
    assert len(faults_first["rows"]) == 1 and "GroundFailure" in faults_first["rows"][0]["html"]
    assert "OverVoltage" in listed["rows"][0]["html"]  # newest first

    # clearing: operators may, support may not; the list goes back where it was
    assert refused.status_code == 403 and forged.status_code == 403
    assert cleared.status_code == 303
    assert cleared.headers["location"] == "/faults?code=volt&done=cleared"
    assert "The fault was cleared." in landed.text
    assert "GroundFailure" in after["rows"][0]["html"]  # the open list lost the cleared one
    assert again.headers["location"] == "/faults?done=already"
    assert re.findall(r"<strong>(\w+)</strong>", lists["state=cleared"].text) == ["OverVoltage"]
    assert f"by {OPERATOR}" in lists["state=cleared"].text
    assert re.findall(r"<strong>(\w+)</strong>", lists["code=ground"].text) == ["GroundFailure"]
    assert "No faults match this filter." in lists["station_id=CP-2"].text
    assert re.findall(r"<strong>(\w+)</strong>", lists["state=all"].text) == [
        "OverVoltage",
        "GroundFailure",
    ]
    assert "Clear fault" in lists["state=all"].text  # the open one, for an operator
    assert "Clear fault" not in support_view.text
    # the API says the same: a site's figures, faults cleared by code
    assert (at_depot["stations"], at_depot["faulted_stations"]) == (2, 1)
    assert [f["code"] for f in cleared_api["items"]] == ["OverVoltage"]


def _history(
    t: datetime,
) -> tuple[list[tuple[datetime, bool, str]], list[tuple[datetime, str, str]]]:
    """An hour of a station: connected, silent from minute 20 to 32, its connector
    faulted from 29 to 35."""

    def m(minutes: int) -> datetime:
        return t + timedelta(minutes=minutes)

    presence = [(m(0), True, "connected"), (m(20), False, "silent"), (m(32), True, "heard")]
    statuses = [
        (m(0), "Available", "NoError"),
        (m(29), "Faulted", "GroundFailure"),
        (m(30), "Faulted", "GroundFailure"),  # said again: no change
        (m(35), "Available", "NoError"),
    ]
    return presence, statuses


async def test_timeline_uptime_and_declared_outages(server: RunningServer) -> None:
    """Uptime over that hour with maintenance declared from minute 33 to 40: down 20-35
    (15 min), 2 of them excluded, so (60 - 13) / 60 = 78.333 %."""
    await add_user(server, OPERATOR, "Olivia Operator", "operator")
    await server.add_station("CP-U")
    await server.add_station("CP-V")
    harbour = await put_at_site(server, "Harbour", "CP-U")
    t = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=70)
    presence, statuses = _history(t)
    async with server.db() as db:
        for table in (ConnectivityChange, ConnectorStatusChange):
            await db.execute(delete(table).where(table.station_id == "CP-U"))
        for at, online, reason in presence:
            db.add(ConnectivityChange(station_id="CP-U", online=online, at=at, reason=reason))
        since = presence[-1][0]
        await db.merge(
            StationConnectivity(station_id="CP-U", online=True, since=since, reason="heard")
        )
        for at, status, code in statuses:
            db.add(
                ConnectorStatusChange(
                    station_id="CP-U",
                    evse_id=1,
                    connector_id=1,
                    status=status,
                    error_code=code,
                    timestamp=at,
                    received_at=at,
                )
            )
        await db.commit()

    def local(minutes: int) -> str:
        return (t + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")

    hour = {"window": "custom", "since": local(0), "until": local(60)}
    async with logged_in(server, OPERATOR) as olivia:
        empty = await olivia.get("/exclusions?station_id=CP-U")
        token = csrf_of(empty.text)
        outage = {
            "csrf": token,
            "station_id": "CP-U",
            "site": "",
            "evse": "1",
            "cause": "maintenance",
            "starts": local(33),
            "ends": local(40),
            "note": "RCD replaced",
            "back": "station_id=CP-U",
        }
        refusals = {
            what: await olivia.post("/exclusions", data={**outage, **change})
            for what, change in {
                "backwards": {"ends": local(30)},
                "both": {"site": str(harbour)},
                "unknown": {"station_id": "CP-X"},
                "port 0": {"evse": "0"},
                "no time": {"starts": "soon"},
            }.items()
        }
        declared = await olivia.post("/exclusions", data=outage)
        listed = await olivia.get(declared.headers["location"])
        by_station = await olivia.get("/uptime?" + urlencode(hour))
        by_site = await olivia.get("/uptime?" + urlencode({**hour, "by": "site"}))
        of_site = await olivia.get("/uptime?" + urlencode({**hour, "site": harbour}))
        story = await olivia.get("/stations/CP-U/timeline?" + urlencode(hour))
        api = await server.get(
            "/api/v1/stations/CP-U/timeline",
            since=(t + timedelta(minutes=28)).isoformat(),
            until=(t + timedelta(minutes=36)).isoformat(),
        )
        faults_only = await olivia.get(
            "/stations/CP-U/timeline?" + urlencode({**hour, "kind": "status"})
        )
        week = await olivia.get("/stations/CP-U/timeline")
        bad_window = await olivia.get(
            "/stations/CP-U/timeline?" + urlencode({**hour, "until": local(-5)})
        )
        station_page = await olivia.get("/stations/CP-U")
        line = await olivia.get("/stations/CP-U/uptime-line")
        site_page = await olivia.get(f"/sites/{harbour}")
        exclusion_id = re.findall(r'data-exclusion="(\d+)"', listed.text)
        withdrawn = await olivia.post(
            f"/exclusions/{exclusion_id[0]}/withdraw",
            data={"csrf": token, "back": "station_id=CP-U"},
        )
        after = await olivia.get(withdrawn.headers["location"])
        uptime_after = await olivia.get("/uptime?" + urlencode(hour))

    # a refused declaration draws the form again with the service's words, and keeps it
    words = {w: r.status_code for w, r in refusals.items()}
    assert words == dict.fromkeys(refusals, 422)
    assert "The exclusion must end after it starts." in refusals["backwards"].text
    assert "Name either a station or a site." in refusals["both"].text
    assert "Station CP-X is not registered." in refusals["unknown"].text
    assert "Ports (evse_id) are numbered from 1" in refusals["port 0"].text
    assert "From: &#39;soon&#39; is not a time" in refusals["no time"].text
    assert ">RCD replaced</textarea>" in refusals["backwards"].text
    assert declared.status_code == 303
    assert declared.headers["location"] == "/exclusions?station_id=CP-U&done=declared"
    assert "The outage was declared." in listed.text and len(exclusion_id) == 1
    assert "Scheduled maintenance" in listed.text and f"{OPERATOR}" in listed.text

    # uptime: the outage and its excluded part apart, per station, per port, per site
    row = by_station.text[by_station.text.index('data-station="CP-U"') :].split("</tr>")[0]
    assert "78.333 %" in row and "Harbour" in row
    assert re.search(r'data-label="Outage">15 min<', row)
    assert re.search(r'data-label="Excluded" data-field="excluded">2 min<', row)
    assert re.search(r'data-label="Counted outage">13 min<', row)
    assert "1 port of CP-U" in by_station.text
    assert "not known" in by_station.text.split('data-station="CP-V"')[1].split("</tr>")[0]
    assert re.search(r'data-site="\d+">.*?Harbour.*?78\.333 %', by_site.text, re.S)
    assert "Harbour: <strong>78.333 %</strong>" in of_site.text
    assert board_stations(of_site.text) == ["CP-U"]

    # the timeline: newest first, repeats left out, the declared outage in it
    assert story.status_code == 200
    whats = re.findall(r'<span class="badge [^"]+">([^<]+)</span> ([^<]+)</td>', story.text)
    assert whats == [
        ("Declared outage ends", "Declared outage of port 1 ends: scheduled maintenance"),
        ("Available", "Reported Available"),
        (
            "Declared outage",
            f"Declared outage of port 1 begins: scheduled maintenance (RCD replaced); "
            f"declared by {OPERATOR}",
        ),
        ("Online", "Heard from again after a silence"),
        ("Faulted", "Reported Faulted, error GroundFailure"),
        (
            "Offline",
            "Went silent: no message within its heartbeat interval and the grace",
        ),
        ("Online", "Connected"),
        ("Available", "Reported Available"),
    ]
    assert "78.333 %" in story.text and "of which 2 min excluded" in story.text
    assert re.findall(r'data-kind="(\w+)"', faults_only.text) == ["status"] * 3
    assert week.status_code == 200 and "Last 7 days" in week.text
    assert bad_window.status_code == 422
    assert "To: the end is not after the start." in bad_window.text
    assert 'href="/stations/CP-U/timeline"' in station_page.text
    assert 'data-health-fetch="/stations/CP-U/uptime-line"' in station_page.text
    assert "Uptime over the last 7 days: <strong" in line.text
    assert 'href="/uptime?site=' in site_page.text

    # withdrawn: its time counts against uptime again
    assert withdrawn.headers["location"] == "/exclusions?station_id=CP-U&done=withdrawn"
    assert "No outages declared here." in after.text
    row = uptime_after.text[uptime_after.text.index('data-station="CP-U"') :].split("</tr>")[0]
    assert "75.000 %" in row  # (60 - 15) / 60

    # the API's timeline: the same entries, in a narrower window
    assert [(e["kind"], e["label"]) for e in api["entries"]] == [
        ("status", "Available"),
        ("exclusion", "Declared outage"),
        ("connectivity", "Online"),
        ("status", "Faulted"),
    ]
    assert api["entries"][3]["evse_id"] == 1 and api["truncated"] is False


def board_stations(html: str) -> list[str]:
    return re.findall(r'<tr data-station="([^"]+)"', html)
