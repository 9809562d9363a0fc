"""The command line as an operator uses it: real processes, real signals, real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from alembic.script import ScriptDirectory
from ocpp.v16 import ChargePoint, call

from chargeops import migrations
from tests.cli.conftest import BOTH_DATABASES
from tests.conftest import free_port
from tests.harness import now_iso

CHARGEOPS = [sys.executable, "-m", "chargeops.cli"]


def chargeops(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHARGEOPS, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHARGEOPS_")},
        "CHARGEOPS_DATABASE_URL": database_url,
        "CHARGEOPS_HTTP_PORT": str(free_port()),
        "CHARGEOPS_OCPP_PORT": str(free_port()),
        "CHARGEOPS_HOST": "127.0.0.1",
        "CHARGEOPS_UNKNOWN_STATIONS": "reject",
    }


class Served:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.http = f"http://127.0.0.1:{env['CHARGEOPS_HTTP_PORT']}"
        self.ocpp = f"ws://127.0.0.1:{env['CHARGEOPS_OCPP_PORT']}/ocpp"
        self.proc = subprocess.Popen(
            [*CHARGEOPS, "serve"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited: {log.read_text()}")
            try:
                if httpx.get(f"{self.http}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("serve did not become healthy")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=20)


@pytest.fixture
def served(env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    s = Served(env, tmp_path / "serve.log")
    try:
        yield s
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def test_admin_commands_register_stations_tokens_and_keys(env: dict[str, str]) -> None:
    added = chargeops(env, "station", "add", "CP-9", "--password", "a-long-enough-secret")
    assert added.returncode == 0, added.stderr
    assert "CP-9" in added.stdout
    token = chargeops(
        env, "token", "add", "CARD-1", "--status", "blocked", "--expires", "2027-01-31T23:59:59Z"
    )
    assert token.returncode == 0, token.stderr
    assert "blocked" in token.stdout
    key = chargeops(env, "apikey", "create", "--name", "billing export")
    assert key.returncode == 0, key.stderr
    assert key.stdout.strip().splitlines()[-1].startswith("co_")
    upgrade = chargeops(env, "db", "upgrade")
    head = ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()
    assert upgrade.returncode == 0 and f"database is at revision {head}" in upgrade.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "add", "CARD", "--status", "lost"], "accepted, blocked, expired"),
        (["token", "add", "CARD", "--expires", "soon"], "--expires"),
        (["station", "add", "bad id with spaces"], "station id"),
        (["apikey", "create", "--name", "  "], "needs a name"),
    ],
)
def test_bad_input_gets_one_clear_line_and_a_nonzero_exit(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = chargeops(env, *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_configuration_is_reported_clearly(sqlite_url: str) -> None:
    env = {
        **os.environ,
        "CHARGEOPS_DATABASE_URL": sqlite_url,
        "CHARGEOPS_UNKNOWN_STATIONS": "maybe",
    }
    result = chargeops(env, "serve")
    assert result.returncode != 0
    assert "CHARGEOPS_UNKNOWN_STATIONS" in result.stderr
    assert "Traceback" not in result.stderr
    env["CHARGEOPS_UNKNOWN_STATIONS"] = "accept"
    env["CHARGEOPS_DATABASE_URL"] = "mysql://nope"
    result = chargeops(env, "station", "add", "X")
    assert result.returncode != 0 and "CHARGEOPS_DATABASE_URL" in result.stderr


def test_unreachable_database_is_reported_clearly() -> None:
    env = {
        **os.environ,
        "CHARGEOPS_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x",
    }
    result = chargeops(env, "station", "add", "X")
    assert result.returncode != 0
    assert "database" in result.stderr and "Traceback" not in result.stderr


def test_api_key_from_the_cli_opens_the_api(env: dict[str, str], served: Served) -> None:
    key = chargeops(env, "apikey", "create", "--name", "ops").stdout.strip().splitlines()[-1]
    assert httpx.get(f"{served.http}/api/v1/stations").status_code == 401
    ok = httpx.get(f"{served.http}/api/v1/stations", headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200 and ok.json() == {"items": [], "next_cursor": None}


async def _charge(ocpp: str, station: str, password: str | None = None) -> tuple[int, int | None]:
    """Boot and start a transaction; return (transaction id, close code seen later)."""
    headers = {}
    if password:
        import base64

        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"{station}:{password}".encode()).decode()
        )
    async with websockets.connect(
        f"{ocpp}/{station}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=headers,
    ) as ws:
        cp = ChargePoint(station, ws)
        task = asyncio.create_task(cp.start())
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        tx = (
            await cp.call(
                call.StartTransaction(
                    connector_id=1, id_tag="CARD", meter_start=100, timestamp=now_iso()
                )
            )
        ).transaction_id
        task.cancel()
        return tx, None


@BOTH_DATABASES
def test_serve_stops_cleanly_on_ctrl_c_and_keeps_data_across_restarts(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert chargeops(env, "station", "add", "CP-1").returncode == 0
    assert chargeops(env, "token", "add", "CARD").returncode == 0
    key = chargeops(env, "apikey", "create", "--name", "t").stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    log = tmp_path / "serve.log"
    first = Served(env, log)

    async def connected_then_interrupted() -> tuple[int, int | None]:
        async with websockets.connect(f"{first.ocpp}/CP-1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            cp = ChargePoint("CP-1", ws)
            task = asyncio.create_task(cp.start())
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            tx = (
                await cp.call(
                    call.StartTransaction(
                        connector_id=1, id_tag="CARD", meter_start=100, timestamp=now_iso()
                    )
                )
            ).transaction_id
            first.proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(ws.wait_closed(), 10)
            task.cancel()
            return tx, ws.close_code

    tx, close_code = asyncio.run(connected_then_interrupted())
    assert first.proc.wait(timeout=20) == 0
    assert close_code == 1001  # going away
    text = log.read_text()
    assert "stopped" in text and "Traceback" not in text

    second = Served(env, log)
    try:
        sessions = httpx.get(f"{second.http}/api/v1/sessions", headers=auth).json()["items"]
        assert [(s["transaction_id"], s["status"]) for s in sessions] == [(tx, "active")]
        station = httpx.get(f"{second.http}/api/v1/stations/CP-1", headers=auth).json()
        assert station["online"] is False and station["vendor"] == "V"
    finally:
        assert second.interrupt() == 0


def test_logs_are_json_lines_naming_the_station(served: Served) -> None:
    assert chargeops(served.env, "station", "add", "CP-LOG").returncode == 0
    assert chargeops(served.env, "token", "add", "CARD").returncode == 0
    asyncio.run(_charge(served.ocpp, "CP-LOG"))
    assert served.interrupt() == 0
    lines = [json.loads(line) for line in served.log.read_text().splitlines() if line.strip()]
    about_station = [
        entry
        for entry in lines
        if "CP-LOG" in entry["message"] or entry.get("station_id") == "CP-LOG"
    ]
    assert about_station
    assert all(entry.get("station_id") == "CP-LOG" for entry in about_station)
    assert {"time", "level", "logger", "message"} <= set(lines[0])


def test_port_in_use_is_reported_clearly(env: dict[str, str], served: Served) -> None:
    result = chargeops(env, "serve")
    assert result.returncode != 0
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


def test_demo_shows_a_living_network_and_stops_cleanly(tmp_path: Path) -> None:
    http_port, ocpp_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHARGEOPS_")},
        "CHARGEOPS_HTTP_PORT": str(http_port),
        "CHARGEOPS_OCPP_PORT": str(ocpp_port),
    }
    log = tmp_path / "demo.log"
    proc = subprocess.Popen(
        [*CHARGEOPS, "demo", "--stations", "4"],
        env=env,
        cwd=tmp_path,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        key = None
        sessions: list[dict[str, object]] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not sessions:
            time.sleep(1)
            assert proc.poll() is None, log.read_text()
            text = log.read_text()
            if key is None and "API key" in text:
                key = text.split("API key")[1].split()[0]
            if key:
                response = httpx.get(
                    f"http://127.0.0.1:{http_port}/api/v1/sessions",
                    headers={"Authorization": f"Bearer {key}"},
                )
                sessions = response.json()["items"]
        assert sessions, "no charging session within 90 s"
        assert f"http://localhost:{http_port}/api/v1" in log.read_text()
        stations = httpx.get(
            f"http://127.0.0.1:{http_port}/api/v1/stations",
            headers={"Authorization": f"Bearer {key}"},
        ).json()["items"]
        assert len(stations) == 4 and all(s["online"] for s in stations)
        assert {s["site_id"] for s in stations} == {1, 2}  # spread over the demo's sites
        # the banner's logins work: the operator's, with this run's password
        password = log.read_text().split(", password ")[1].split()[0]
        login = httpx.post(
            f"http://127.0.0.1:{http_port}/api/v1/auth/login",
            data={"username": "operator@demo.chargeops", "password": password},
        )
        assert login.status_code == 200, login.text
        # the demo fleet is mixed by default: DEMO-0001 speaks 1.6, DEMO-0002 2.0.1, ...
        versions = {s["id"]: s["ocpp_version"] for s in stations}
        assert versions == {
            "DEMO-0001": "1.6",
            "DEMO-0002": "2.0.1",
            "DEMO-0003": "1.6",
            "DEMO-0004": "2.0.1",
        }
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "var" / "chargeops.db").exists()  # the default database
    assert "Traceback" not in log.read_text()


def test_simulate_refuses_an_unknown_ocpp_version() -> None:
    result = subprocess.run(
        [*CHARGEOPS, "simulate", "--ocpp", "0.9"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0 and "--ocpp" in result.stderr


@pytest.mark.parametrize("command", ["simulate", "demo"])
def test_simulate_and_demo_offer_both_versions_and_mixed(command: str) -> None:
    result = subprocess.run(
        [*CHARGEOPS, command, "--ocpp", "0.9"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "--ocpp must be one of 1.6, 2.0.1, mixed" in result.stderr
