"""Station commands from the command line: the CLI process -> the server's HTTP API ->
a real charger (the `ocpp` package's charge point side) -> the outcome and exit code."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import re
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from sqlalchemy import select

from chargeops.stations import service as stations
from chargeops.storage.engine import create_engine, session_factory
from chargeops.users import service as users
from chargeops.users.models import ApiKey
from tests.cli.test_cli import Served, chargeops
from tests.conftest import free_port
from tests.harness import now_iso

CALL_TIMEOUT_S = 6.0  # short for the silent charger, long enough for a busy machine


@pytest.fixture
def cli_env(database_url: str) -> dict[str, str]:
    """A server configuration the CLI shares: same database, same HTTP port."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHARGEOPS_")},
        "CHARGEOPS_DATABASE_URL": database_url,
        "CHARGEOPS_HTTP_PORT": str(free_port()),
        "CHARGEOPS_OCPP_PORT": str(free_port()),
        "CHARGEOPS_HOST": "127.0.0.1",
        "CHARGEOPS_UNKNOWN_STATIONS": "accept",
        "CHARGEOPS_CALL_TIMEOUT": str(CALL_TIMEOUT_S),
        # the chargers here see only the CLI's calls, not the server's own after boot
        "CHARGEOPS_READ_CONFIG_AFTER_BOOT": "false",
    }


@pytest.fixture
def served(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    s = Served(cli_env, tmp_path / "serve.log")
    try:
        yield s
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


async def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a separate process, while this test's charger keeps answering. Tests
    run several at once where the order does not matter: starting one takes a second."""
    return await asyncio.to_thread(chargeops, env, *args)


async def in_database(database_url: str, fn: Any) -> Any:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            result = await fn(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


async def api_key_names(database_url: str) -> list[str]:
    async def names(session: Any) -> list[str]:
        return list((await session.execute(select(ApiKey.name).order_by(ApiKey.id))).scalars())

    result: list[str] = await in_database(database_url, names)
    return result


async def new_api_key(database_url: str, name: str) -> str:
    async def create(session: Any) -> str:
        return (await users.create_api_key(session, name)).key

    key: str = await in_database(database_url, create)
    return key


class Charger16(ChargePoint16):  # type: ignore[misc]
    """A 1.6 charger that answers as ``answers`` says (per action or configuration key);
    "silent" answers too late."""

    seen: list[tuple[str, dict[str, Any]]]
    answers: dict[str, str]
    hold: asyncio.Event | None = None  # answer only once the test has looked around
    held: asyncio.Event  # a call is being held
    configuration = {"HeartbeatInterval": ("300", False), "NumberOfConnectors": ("2", True)}

    async def _answer(self, what: str, default: str = "Accepted") -> str:
        if self.hold is not None:
            self.held.set()
            await self.hold.wait()
        answer = self.answers.get(what, default)
        if answer == "silent":
            await asyncio.sleep(CALL_TIMEOUT_S * 1.5)  # too late: what it says is lost
            return default
        return answer

    @on("Reset")
    async def reset(self, **payload: Any) -> Any:
        self.seen.append(("Reset", payload))
        return result16.Reset(status=await self._answer(f"Reset {payload['type']}"))

    @on("UnlockConnector")
    async def unlock(self, **payload: Any) -> Any:
        self.seen.append(("UnlockConnector", payload))
        return result16.UnlockConnector(status=await self._answer("UnlockConnector", "Unlocked"))

    @on("ChangeAvailability")
    async def change_availability(self, **payload: Any) -> Any:
        self.seen.append(("ChangeAvailability", payload))
        return result16.ChangeAvailability(status=await self._answer("ChangeAvailability"))

    @on("GetConfiguration")
    async def get_configuration(self, **payload: Any) -> Any:
        self.seen.append(("GetConfiguration", payload))
        asked = payload.get("key") or list(self.configuration)
        known = [k for k in asked if k in self.configuration]
        return result16.GetConfiguration(
            configuration_key=[
                {"key": k, "value": self.configuration[k][0], "readonly": self.configuration[k][1]}
                for k in known
            ],
            unknown_key=[k for k in asked if k not in self.configuration] or None,
        )

    @on("ChangeConfiguration")
    async def change_configuration(self, **payload: Any) -> Any:
        self.seen.append(("ChangeConfiguration", payload))
        return result16.ChangeConfiguration(status=await self._answer(payload["key"]))


class Charger201(ChargePoint201):  # type: ignore[misc]
    """A 2.0.1 charger with a small device model, reported in two NotifyReport parts."""

    seen: list[tuple[str, dict[str, Any]]]
    answers: dict[str, str]

    @on("Reset")
    async def reset(self, **payload: Any) -> Any:
        self.seen.append(("Reset", payload))
        return result201.Reset(status="Accepted")

    @on("GetBaseReport")
    async def get_base_report(self, **payload: Any) -> Any:
        self.seen.append(("GetBaseReport", payload))
        return result201.GetBaseReport(status="Accepted")

    @after("GetBaseReport")
    async def send_report(self, request_id: int, **_: Any) -> None:
        parts = [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "variable_attribute": [{"type": "Actual", "value": "300"}],
            },
            {
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Power"},
                "variable_attribute": [
                    {"type": "Actual", "value": "0", "mutability": "ReadOnly"},
                    {"type": "MaxSet", "value": "22000"},
                ],
            },
        ]
        for seq_no, part in enumerate(parts):
            await asyncio.sleep(0.2)  # the CLI must wait for the last part, not the first
            await self.call(
                call201.NotifyReport(
                    request_id=request_id,
                    generated_at=now_iso(),
                    seq_no=seq_no,
                    tbc=seq_no < len(parts) - 1,
                    report_data=[part],
                )
            )

    @on("GetVariables")
    async def get_variables(self, get_variable_data: list[dict[str, Any]]) -> Any:
        self.seen.append(("GetVariables", {"get_variable_data": get_variable_data}))
        known = {("OCPPCommCtrlr", "HeartbeatInterval"): "300"}
        results = []
        for item in get_variable_data:
            value = known.get((item["component"]["name"], item["variable"]["name"]))
            result = {
                "attribute_status": "Accepted" if value else "UnknownComponent",
                "component": item["component"],
                "variable": item["variable"],
            }
            if value:
                result["attribute_value"] = value
            results.append(result)
        return result201.GetVariables(get_variable_result=results)

    @on("SetVariables")
    async def set_variables(self, set_variable_data: list[dict[str, Any]]) -> Any:
        self.seen.append(("SetVariables", {"set_variable_data": set_variable_data}))
        return result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": "RebootRequired",
                    "component": item["component"],
                    "variable": item["variable"],
                }
                for item in set_variable_data
            ]
        )


@contextlib.asynccontextmanager
async def charger(served: Served, station_id: str, version: str = "1.6") -> AsyncIterator[Any]:
    """A booted charger connected to the served chargeops."""
    async with websockets.connect(
        f"{served.ocpp}/{station_id}",
        subprotocols=[f"ocpp{version}"],  # type: ignore[list-item]
    ) as ws:
        cp: Any
        if version == "1.6":
            cp = Charger16(station_id, ws, response_timeout=10)
            boot: Any = call16.BootNotification(charge_point_vendor="V", charge_point_model="M")
        else:
            cp = Charger201(station_id, ws, response_timeout=10)
            boot = call201.BootNotification(
                charging_station={"vendor_name": "V", "model": "M"}, reason="PowerUp"
            )
        cp.seen, cp.answers = [], {}
        task = asyncio.create_task(cp.start())
        try:
            await cp.call(boot)
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.strip() for line in result.stdout.splitlines()]


async def test_reset_without_a_key_uses_a_temporary_one_and_leaves_none(
    cli_env: dict[str, str], served: Served, database_url: str
) -> None:
    assert "CHARGEOPS_API_KEY" not in cli_env and "CHARGEOPS_API_URL" not in cli_env
    async with charger(served, "CP-1") as cp:
        cp.answers["Reset Soft"] = "Rejected"
        cp.hold, cp.held = asyncio.Event(), asyncio.Event()
        both = asyncio.gather(
            cli(cli_env, "station", "reset", "CP-1", "--hard"),
            cli(cli_env, "station", "reset", "CP-1"),
        )
        await asyncio.wait_for(cp.held.wait(), 30)  # a reset is in: its key exists now
        during = await api_key_names(database_url)
        cp.hold.set()
        accepted, rejected = await both
    # named for who made it, so a key left by a killed command is understood
    assert during and all(
        name.startswith(f"cli {getpass.getuser()}@{socket.gethostname()}") for name in during
    )
    assert sorted(cp.seen, key=repr) == [("Reset", {"type": "Hard"}), ("Reset", {"type": "Soft"})]
    assert accepted.returncode == 0, accepted.stderr
    assert lines(accepted) == ["reset CP-1: accepted (Reset → Accepted)"]
    assert rejected.returncode == 1
    assert lines(rejected) == ["reset CP-1: rejected (Reset → Rejected)"]
    assert rejected.stderr.strip() == "error: the station answered Rejected"
    assert await api_key_names(database_url) == []
    # the key is gone, the audit record still says whose it was
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {await new_api_key(database_url, 'audit')}"}
    ) as client:
        listed = (await client.get(f"{served.http}/api/v1/stations/CP-1/commands")).json()
    me = f"cli {getpass.getuser()}@{socket.gethostname()}"  # (two at once: one adds #pid)
    assert len(listed["items"]) == 2
    assert all(c["requested_by"].startswith(me) for c in listed["items"])


async def test_unlock_and_configuration_with_a_key_from_the_environment(
    cli_env: dict[str, str], served: Served, database_url: str
) -> None:
    env = {
        **cli_env,
        "CHARGEOPS_API_KEY": await new_api_key(database_url, "ops"),
        "CHARGEOPS_API_URL": served.http,
        # with a key the CLI needs no database: one out of reach proves it does not try
        "CHARGEOPS_DATABASE_URL": f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/x",
    }
    async with charger(served, "CP-2") as cp:
        cp.answers = {"HeartbeatInterval": "RebootRequired", "MeterValueSampleInterval": "Rejected"}
        unlocked, everything, some, changed, wrong_key = await asyncio.gather(
            cli(env, "station", "unlock", "CP-2", "2"),
            cli(env, "station", "config", "CP-2"),
            cli(env, "station", "config", "CP-2", "HeartbeatInterval", "Nope"),
            cli(
                env,
                "station",
                "config",
                "CP-2",
                "HeartbeatInterval=60",
                "MeterValueSampleInterval=5",
            ),
            cli({**env, "CHARGEOPS_API_KEY": "co_nope"}, "station", "reset", "CP-2"),
        )
    assert sorted(cp.seen, key=repr) == sorted(
        [
            ("UnlockConnector", {"connector_id": 2}),
            ("GetConfiguration", {}),
            ("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]}),
            ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}),
            ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "5"}),
        ],
        key=repr,
    )
    changes = [payload["key"] for action, payload in cp.seen if action == "ChangeConfiguration"]
    assert changes == ["HeartbeatInterval", "MeterValueSampleInterval"]  # in the order given
    assert unlocked.returncode == 0, unlocked.stderr
    assert lines(unlocked) == ["unlock_connector CP-2: accepted (UnlockConnector → Unlocked)"]

    assert everything.returncode == 0, everything.stderr
    assert lines(everything) == [
        "get_configuration CP-2: accepted (GetConfiguration)",
        "HeartbeatInterval  = 300",
        "NumberOfConnectors = 2 (read-only)",
    ]
    assert some.returncode == 0, some.stderr
    assert lines(some)[1:] == ["HeartbeatInterval = 300", "Nope              = (unknown key)"]

    # one command per pair, each outcome shown; a refusal among them makes the exit 1
    assert changed.returncode == 1
    assert lines(changed) == [
        "change_configuration CP-2 HeartbeatInterval=60: accepted "
        "(ChangeConfiguration → RebootRequired)",
        "the new value takes effect after a reboot: chargeops station reset CP-2",
        "change_configuration CP-2 MeterValueSampleInterval=5: rejected "
        "(ChangeConfiguration → Rejected)",
    ]
    assert changed.stderr.strip() == "error: the station answered Rejected"

    assert wrong_key.returncode == 1
    assert "this API key is not valid" in wrong_key.stderr
    assert await api_key_names(database_url) == ["ops"]  # no temporary key was made


async def test_any_command_with_arguments_and_every_way_it_can_fail(
    cli_env: dict[str, str], served: Served, database_url: str
) -> None:
    env = {**cli_env, "CHARGEOPS_API_KEY": await new_api_key(database_url, "ops")}
    await in_database(database_url, lambda s: stations.register_station(s, "CP-OFF"))
    async with charger(served, "CP-3") as cp, charger(served, "CP-SILENT") as silent:
        silent.answers = {"Reset Soft": "silent", "Reset Hard": "silent"}
        raw, bad, unknown, offline, timeout, no_answer_yet = await asyncio.gather(
            cli(
                env,
                "station",
                "command",
                "CP-3",
                "change_availability",
                "--arg",
                "operative=false",
                "--arg",
                "evse_id=1",
                "--json",
            ),
            cli(env, "station", "command", "CP-3", "unlock_connector", "--arg", "evse_id=0"),
            cli(env, "station", "reset", "NOPE"),
            cli(env, "station", "unlock", "CP-OFF", "1"),
            cli(env, "station", "reset", "CP-SILENT"),
            cli(env, "station", "reset", "CP-SILENT", "--hard", "--wait", "0"),
        )
    # JSON values are taken as JSON: false and 1, not "false" and "1"
    assert cp.seen == [("ChangeAvailability", {"connector_id": 1, "type": "Inoperative"})]
    assert raw.returncode == 0, raw.stderr
    record = json.loads(raw.stdout)
    assert record["status"] == "accepted"
    assert record["arguments"] == {"operative": False, "evse_id": 1}

    assert bad.returncode == 1
    assert (
        bad.stderr.strip() == "error: unlock_connector: evse_id: must be an integer of at least 1"
    )
    assert unknown.returncode == 1 and unknown.stderr.strip() == "error: no station 'NOPE'"
    assert offline.returncode == 1
    assert lines(offline) == ["unlock_connector CP-OFF: station_offline"]
    assert "CP-OFF is not connected" in offline.stderr

    assert timeout.returncode == 1
    assert lines(timeout) == ["reset CP-SILENT: timeout (Reset)"]
    assert timeout.stderr.startswith("error: ")
    assert no_answer_yet.returncode == 3
    assert re.fullmatch(
        rf"reset CP-SILENT: sent \(Reset\)\n"
        rf"no answer from CP-SILENT within 0 s: command \d+ is sent; look it up with "
        rf"GET {re.escape(served.http)}/api/v1/commands/\d+\n$",
        no_answer_yet.stdout,
    )
    for result in (raw, bad, unknown, offline, timeout, no_answer_yet):
        assert "Traceback" not in result.stderr + result.stdout


async def test_a_201_station_is_reset_and_configured_through_its_device_model(
    cli_env: dict[str, str], served: Served, database_url: str
) -> None:
    async with charger(served, "CP-201", version="2.0.1") as cp:
        # three commands at once, each with a temporary key of its own
        reset, report, some = await asyncio.gather(
            cli(cli_env, "station", "reset", "CP-201", "--hard"),
            cli(cli_env, "station", "config", "CP-201"),
            cli(
                cli_env, "station", "config", "CP-201", "OCPPCommCtrlr.HeartbeatInterval", "Foo.Bar"
            ),
        )
        # then the change (the server keeps the stored value current: the report shows 300)
        changed = await cli(
            cli_env, "station", "config", "CP-201", "OCPPCommCtrlr.HeartbeatInterval=60"
        )
    seen = dict(cp.seen)
    assert sorted(seen) == ["GetBaseReport", "GetVariables", "Reset", "SetVariables"]
    assert seen["Reset"] == {"type": "Immediate"}
    assert seen["GetBaseReport"]["report_base"] == "FullInventory"
    assert seen["SetVariables"]["set_variable_data"] == [
        {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
            "attribute_value": "60",
        }
    ]
    assert reset.returncode == 0 and lines(reset) == ["reset CP-201: accepted (Reset → Accepted)"]

    assert report.returncode == 0, report.stderr
    shown = lines(report)
    assert shown[0] == "get_configuration CP-201: accepted (GetBaseReport → Accepted)"
    assert "NotifyReport" in shown[1]
    assert shown[2:] == [
        "EVSE.Power@1                    = 0 (read-only)",
        "EVSE.Power@1 [MaxSet]           = 22000",
        "OCPPCommCtrlr.HeartbeatInterval = 300",
    ]

    assert some.returncode == 0, some.stderr
    assert lines(some) == [
        "get_configuration CP-201: accepted (GetVariables)",
        "OCPPCommCtrlr.HeartbeatInterval = 300",
        "Foo.Bar                         = (UnknownComponent)",
    ]
    assert changed.returncode == 0, changed.stderr
    assert lines(changed) == [
        "change_configuration CP-201 OCPPCommCtrlr.HeartbeatInterval=60: accepted "
        "(SetVariables → RebootRequired)",
        "the new value takes effect after a reboot: chargeops station reset CP-201",
    ]
    assert await api_key_names(database_url) == []


async def test_a_server_that_is_not_running_is_one_clear_line(
    cli_env: dict[str, str], database_url: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = await cli(cli_env, "station", "reset", "CP-1", "--api-url", url)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach the chargeops API")
    assert line.endswith(f"is `chargeops serve` running at {url}?")
    assert await api_key_names(database_url) == []  # the temporary key is gone all the same


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["station", "command", "CP-1", "reset", "--arg", "hard"], "--arg takes KEY=VALUE"),
        (["station", "command", "CP-1", "reset", "--arg", "a=1", "--arg", "a=2"], "twice"),
        (["station", "config", "CP-1", "HeartbeatInterval", "A=1"], "not both"),
    ],
)
def test_bad_command_lines_are_refused_before_anything_is_sent(
    args: list[str], message: str, sqlite_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEOPS_")}
    result = chargeops({**env, "CHARGEOPS_DATABASE_URL": sqlite_url}, *args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
