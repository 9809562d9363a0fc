"""The simulated fleet against a small real central system, over real WebSockets.

The central system here is the ``ocpp`` package's v16 ChargePoint on the server side,
recording what each station sends; it is a test double for the CSMS, not chargeops'
gateway, so these tests pin the simulator's behaviour on its own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from chargeops.simulator import FleetConfig, run_fleet, station_ids

# --------------------------------------------------------------------------- central system


@dataclass
class StationLog:
    """Everything one station sent, in order of arrival."""

    connections: int = 0
    open_connections: int = 0
    subprotocols: list[str | None] = field(default_factory=list)
    authorization_headers: list[str | None] = field(default_factory=list)
    boots: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: int = 0
    statuses: list[tuple[int, str]] = field(default_factory=list)
    authorizes: list[str] = field(default_factory=list)
    starts: list[dict[str, Any]] = field(default_factory=list)
    meter_values: list[dict[str, Any]] = field(default_factory=list)
    stops: list[dict[str, Any]] = field(default_factory=list)
    #: OCPP 2.0.1 TransactionEvents (tests/simulator/test_simulator_v201.py).
    transaction_events: list[dict[str, Any]] = field(default_factory=list)

    def open_transactions(self) -> set[int]:
        stopped = {stop["transaction_id"] for stop in self.stops}
        return {start["transaction_id"] for start in self.starts} - stopped


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def _on(action: str) -> Callable[[_Handler], _Handler]:
    """The ``ocpp`` package's untyped ``@on``, typed for mypy."""
    decorator: Callable[[_Handler], _Handler] = on(action)
    return decorator


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class CentralPoint(ChargePoint):  # type: ignore[misc]
    """Server side of one station's connection; handler names avoid the simulator's."""

    def __init__(self, station_id: str, ws: ServerConnection, csms: FakeCsms) -> None:
        super().__init__(station_id, ws)
        self.csms = csms
        self.log = csms.logs[station_id]

    @_on(Action.boot_notification)
    def csms_boot(self, **payload: Any) -> Any:
        self.log.boots.append(payload)
        status = self.csms.boot_statuses.pop(0) if self.csms.boot_statuses else "Accepted"
        return call_result.BootNotification(
            current_time=_now(), interval=self.csms.interval, status=status
        )

    @_on(Action.heartbeat)
    def csms_heartbeat(self) -> Any:
        self.log.heartbeats += 1
        return call_result.Heartbeat(current_time=_now())

    @_on(Action.status_notification)
    def csms_status(self, connector_id: int, status: str, **_: Any) -> Any:
        self.log.statuses.append((connector_id, status))
        return call_result.StatusNotification()

    @_on(Action.authorize)
    def csms_authorize(self, id_tag: str) -> Any:
        self.log.authorizes.append(id_tag)
        status = "Invalid" if id_tag in self.csms.rejected_tags else "Accepted"
        return call_result.Authorize(id_tag_info={"status": status})

    @_on(Action.start_transaction)
    def csms_start(self, **payload: Any) -> Any:
        self.csms.next_transaction_id += 1
        payload["transaction_id"] = self.csms.next_transaction_id
        self.log.starts.append(payload)
        return call_result.StartTransaction(
            transaction_id=self.csms.next_transaction_id,
            id_tag_info={"status": self.csms.start_status},
        )

    @_on(Action.meter_values)
    def csms_meter_values(self, **payload: Any) -> Any:
        self.log.meter_values.append(payload)
        if self.csms.fail_meter_values:
            raise RuntimeError("storage is down")  # answered as a CALLERROR InternalError
        return call_result.MeterValues()

    @_on(Action.stop_transaction)
    def csms_stop(self, **payload: Any) -> Any:
        self.log.stops.append(payload)
        return call_result.StopTransaction()


class FakeCsms:
    """A central system on 127.0.0.1 that answers like a permissive CSMS and records all."""

    #: The OCPP subprotocols it accepts, in order of preference.
    subprotocols: tuple[str, ...] = ("ocpp1.6",)

    def __init__(self) -> None:
        self.logs: defaultdict[str, StationLog] = defaultdict(StationLog)
        self.points: dict[str, Any] = {}
        self.interval = 1
        self.boot_statuses: list[str] = []
        self.rejected_tags: set[str] = set()
        self.start_status = "Accepted"
        self.fail_meter_values = False
        self.next_transaction_id = 100
        self.port = 0
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            subprotocols=[Subprotocol(name) for name in self.subprotocols],
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def central_point(self, station_id: str, ws: ServerConnection) -> Any:
        """The server side of a station's connection, for the subprotocol agreed on."""
        return CentralPoint(station_id, ws, self)

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        station_id = ws.request.path.rsplit("/", 1)[-1]
        log = self.logs[station_id]
        log.connections += 1
        log.open_connections += 1
        log.authorization_headers.append(ws.request.headers.get("Authorization"))
        log.subprotocols.append(ws.subprotocol)
        point = self.central_point(station_id, ws)
        self.points[station_id] = point
        try:
            await point.start()
        except ConnectionClosed:
            pass
        finally:
            log.open_connections -= 1


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until ``predicate()`` holds; fail the test with a timeout otherwise."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling what the double recorded is simplest
            await asyncio.sleep(0.02)


@pytest.fixture
async def csms() -> AsyncIterator[FakeCsms]:
    central = FakeCsms()
    await central.start()
    yield central
    await central.stop()


FAST = dict(
    stations=3,
    meter_interval_s=0.1,
    charge_duration_s=(0.5, 0.6),
    idle_between_sessions_s=(0.05, 0.1),
    unplug_delay_s=0.05,
    power_w=(150_000, 350_000),
    stagger_s=0.01,
    reconnect_delay_s=(0.05, 0.2),
    shutdown_timeout_s=2.0,
    seed=7,
)


class Fleet:
    """A fleet running in the background; ``stop()`` asks it to end and waits for it."""

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(run_fleet(config, self.stop_event))

    @property
    def ids(self) -> list[str]:
        return station_ids(self.config.id_prefix, self.config.stations)

    async def stop(self, within: float = 5.0) -> None:
        self.stop_event.set()
        async with asyncio.timeout(within):
            await self.task


@pytest.fixture
async def fleet() -> AsyncIterator[Callable[..., Fleet]]:
    """Start fleets with ``fleet(url=..., **overrides)``; leftovers are stopped after the test."""
    started: list[Fleet] = []

    def start(**overrides: Any) -> Fleet:
        running = Fleet(FleetConfig(**{**FAST, **overrides}))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop_event.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3):
                await asyncio.shield(running.task)
        running.task.cancel()
        await asyncio.wait([running.task])


def energies(meter_values: list[dict[str, Any]], transaction_id: int) -> list[int]:
    """The energy register readings of one transaction, in the order they were sent."""
    readings = []
    for message in meter_values:
        if message.get("transaction_id") != transaction_id:
            continue
        for value in message["meter_value"]:
            for sampled in value["sampled_value"]:
                if sampled["measurand"] == "Energy.Active.Import.Register":
                    assert sampled["unit"] == "Wh"
                    assert sampled["context"] == "Sample.Periodic"
                    readings.append(int(sampled["value"]))
    return readings


# --------------------------------------------------------------------------- tests


async def test_each_station_boots_charges_and_stops(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    running = fleet(url=csms.url)

    def every_station_completed_a_session() -> bool:
        return all(csms.logs[sid].stops and csms.logs[sid].heartbeats for sid in running.ids)

    await eventually(every_station_completed_a_session)
    await running.stop()

    for sid in running.ids:
        log = csms.logs[sid]
        boot = log.boots[0]
        assert boot["charge_point_vendor"] == "chargeops"
        assert boot["charge_point_model"] == "Simulator"
        assert boot["charge_point_serial_number"]
        assert boot["firmware_version"] and boot["meter_type"]
        assert log.authorization_headers == [None]
        connectors = {connector for connector, _ in log.statuses} - {0}
        assert log.statuses[0] == (0, "Available")
        for connector in connectors:
            assert (connector, "Available") in log.statuses
        assert log.authorizes

        stop = log.stops[0]
        start = next(s for s in log.starts if s["transaction_id"] == stop["transaction_id"])
        assert start["id_tag"] in log.authorizes
        assert start["timestamp"].endswith("Z")
        readings = energies(log.meter_values, start["transaction_id"])
        assert len(readings) >= 2
        assert readings == sorted(readings) and readings[-1] > readings[0]
        assert start["meter_start"] <= readings[0]
        assert stop["meter_stop"] >= readings[-1] >= start["meter_start"]
        assert stop["reason"] == "EVDisconnected"
        end_values = stop["transaction_data"][0]["sampled_value"]
        assert {value["context"] for value in end_values} == {"Transaction.End"}
        assert {value["measurand"] for value in end_values} >= {
            "Energy.Active.Import.Register",
            "Power.Active.Import",
            "Current.Import",
            "Voltage",
            "SoC",
        }

        connector = start["connector_id"]
        cycle = [status for c, status in log.statuses if c == connector]
        assert cycle[:5] == ["Available", "Preparing", "Charging", "Finishing", "Available"]
        assert not log.open_transactions()


async def test_password_is_sent_as_basic_auth_with_the_station_id_as_user(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    running = fleet(url=csms.url, stations=2, password="s3cret")
    await eventually(lambda: all(csms.logs[sid].boots for sid in running.ids))
    await running.stop()

    for sid in running.ids:
        token = base64.b64encode(f"{sid}:s3cret".encode()).decode()
        assert csms.logs[sid].authorization_headers == [f"Basic {token}"]


async def test_rejected_token_starts_no_transaction_and_returns_to_available(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    csms.rejected_tags = {"BAD-1", "BAD-2"}
    running = fleet(url=csms.url, stations=2, connectors=(1, 1), id_tags=["BAD-1", "BAD-2"])
    await eventually(lambda: all(len(csms.logs[sid].authorizes) >= 2 for sid in running.ids))
    await running.stop()

    for sid in running.ids:
        log = csms.logs[sid]
        assert not log.starts
        statuses = [status for connector, status in log.statuses if connector == 1]
        assert statuses[:4] == ["Available", "Preparing", "Available", "Preparing"]


async def test_stop_ends_running_transactions_with_reason_local_and_closes(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    running = fleet(url=csms.url, charge_duration_s=(60.0, 60.0), connectors=(2, 2))
    await eventually(lambda: all(len(csms.logs[sid].starts) == 2 for sid in running.ids))
    await running.stop(within=3.0)

    await eventually(lambda: all(csms.logs[sid].open_connections == 0 for sid in running.ids))
    for sid in running.ids:
        log = csms.logs[sid]
        assert not log.open_transactions()
        assert {stop["reason"] for stop in log.stops} == {"Local"}
        assert all(
            stop["meter_stop"] >= start["meter_start"]
            for start, stop in zip(
                sorted(log.starts, key=lambda s: s["transaction_id"]),
                sorted(log.stops, key=lambda s: s["transaction_id"]),
                strict=True,
            )
        )


async def test_station_reconnects_and_boots_again_when_the_server_comes_back(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    running = fleet(url=csms.url, stations=2, charge_duration_s=(60.0, 60.0), connectors=(1, 1))

    def charging_with_an_answered_start(sid: str) -> bool:
        # A meter value with the transaction id shows the station received the start's answer;
        # one still in flight when the server stops is rightly sent again (and numbered anew).
        log = csms.logs[sid]
        if not log.starts:
            return False
        return bool(energies(log.meter_values, log.starts[0]["transaction_id"]))

    await eventually(lambda: all(charging_with_an_answered_start(sid) for sid in running.ids))

    await csms.stop()  # the server goes away mid-transaction
    await asyncio.sleep(0.3)  # stations retry against a closed port meanwhile
    await csms.start()
    await eventually(lambda: all(len(csms.logs[sid].boots) == 2 for sid in running.ids))
    # After the second boot the charging connector is reported as still charging, and its
    # transaction goes on: meter values keep coming for the same transaction id.
    await eventually(
        lambda: all((1, "Charging") in csms.logs[sid].statuses[-3:] for sid in running.ids)
    )
    for sid in running.ids:
        log = csms.logs[sid]
        transaction_id = log.starts[0]["transaction_id"]
        seen = len(log.meter_values)

        def more_meter_values(log: StationLog = log, seen: int = seen) -> bool:
            return len(log.meter_values) > seen

        await eventually(more_meter_values)
        assert log.meter_values[-1]["transaction_id"] == transaction_id
        assert len(log.starts) == 1
    await running.stop()
    for sid in running.ids:
        assert not csms.logs[sid].open_transactions()


async def test_pending_boot_is_retried_after_the_interval(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    csms.boot_statuses = ["Pending"]
    running = fleet(url=csms.url, stations=1)
    await eventually(lambda: len(csms.logs[running.ids[0]].boots) == 2)
    log = csms.logs[running.ids[0]]
    assert log.statuses == [] or log.statuses[0] == (0, "Available")
    await running.stop()


async def test_token_refused_at_start_is_stopped_as_deauthorized(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    csms.start_status = "Blocked"
    running = fleet(url=csms.url, stations=1, connectors=(1, 1))
    log = csms.logs[running.ids[0]]
    await eventually(lambda: bool(log.stops))
    await running.stop()

    assert log.stops[0]["reason"] == "DeAuthorized"
    assert log.stops[0]["transaction_id"] == log.starts[0]["transaction_id"]
    assert not energies(log.meter_values, log.starts[0]["transaction_id"])
    assert (1, "Charging") not in log.statuses


async def test_call_errors_from_the_csms_do_not_break_the_charging_cycle(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    csms.fail_meter_values = True
    running = fleet(url=csms.url, stations=1, connectors=(1, 1))
    log = csms.logs[running.ids[0]]
    await eventually(lambda: len(log.stops) >= 2)
    await running.stop()

    assert len(log.meter_values) >= 2
    assert log.connections == 1
    assert not log.open_transactions()


# ------------------------------------------------------------------ CSMS-initiated calls


async def _idle_station(csms: FakeCsms, fleet: Callable[..., Fleet]) -> tuple[Fleet, CentralPoint]:
    """One booted station with one connector that would not start a session on its own."""
    running = fleet(url=csms.url, stations=1, connectors=(1, 1), idle_between_sessions_s=(60, 60))
    sid = running.ids[0]
    await eventually(lambda: (1, "Available") in csms.logs[sid].statuses)
    return running, csms.points[sid]


async def test_remote_start_and_stop_run_a_transaction_without_local_authorize(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    running, point = await _idle_station(csms, fleet)
    log = csms.logs[point.id]

    answer = await point.call(call.RemoteStartTransaction(id_tag="REMOTE-1"), suppress=False)
    assert answer.status == "Accepted"
    await eventually(lambda: bool(log.starts))
    assert log.starts[0]["id_tag"] == "REMOTE-1"
    assert log.authorizes == []

    transaction_id = log.starts[0]["transaction_id"]
    answer = await point.call(call.RemoteStopTransaction(transaction_id=transaction_id))
    assert answer.status == "Accepted"
    await eventually(lambda: bool(log.stops))
    assert log.stops[0]["reason"] == "Remote"
    answer = await point.call(call.RemoteStopTransaction(transaction_id=transaction_id))
    assert answer.status == "Rejected"
    await running.stop()


async def test_configuration_can_be_read_and_the_intervals_changed(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    running, point = await _idle_station(csms, fleet)

    answer = await point.call(call.GetConfiguration(key=["HeartbeatInterval", "Nope"]))
    assert answer.configuration_key == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "1"}
    ]
    assert answer.unknown_key == ["Nope"]
    answer = await point.call(call.GetConfiguration())
    assert {entry["key"] for entry in answer.configuration_key} >= {
        "MeterValueSampleInterval",
        "NumberOfConnectors",
    }

    changes = {
        ("MeterValueSampleInterval", "2"): "Accepted",
        ("HeartbeatInterval", "soon"): "Rejected",
        ("NumberOfConnectors", "4"): "Rejected",
        ("NoSuchKey", "1"): "NotSupported",
    }
    for (key, value), expected in changes.items():
        answer = await point.call(call.ChangeConfiguration(key=key, value=value))
        assert answer.status == expected, key
    answer = await point.call(call.GetConfiguration(key=["MeterValueSampleInterval"]))
    assert answer.configuration_key[0]["value"] == "2"
    await running.stop()


async def test_triggered_messages_are_sent_after_the_answer(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    running, point = await _idle_station(csms, fleet)
    log = csms.logs[point.id]
    statuses_before, heartbeats_before = len(log.statuses), log.heartbeats

    for message in ("StatusNotification", "Heartbeat", "MeterValues"):
        answer = await point.call(call.TriggerMessage(requested_message=message))
        assert answer.status == "Accepted"
    answer = await point.call(
        call.TriggerMessage(requested_message="DiagnosticsStatusNotification")
    )
    assert answer.status == "NotImplemented"

    await eventually(lambda: len(log.statuses) >= statuses_before + 2)
    await eventually(lambda: log.heartbeats > heartbeats_before and bool(log.meter_values))
    sampled = log.meter_values[-1]["meter_value"][0]["sampled_value"]
    assert "transaction_id" not in log.meter_values[-1]
    assert {value["context"] for value in sampled} == {"Trigger"}
    await running.stop()


async def test_availability_unlock_and_unknown_commands_are_answered(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    running, point = await _idle_station(csms, fleet)
    log = csms.logs[point.id]

    answer = await point.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert answer.status == "Accepted"
    await eventually(lambda: log.statuses[-1] == (1, "Unavailable"))
    answer = await point.call(call.RemoteStartTransaction(id_tag="REMOTE-1"))
    assert answer.status == "Rejected"
    answer = await point.call(call.ChangeAvailability(connector_id=1, type="Operative"))
    assert answer.status == "Accepted"
    await eventually(lambda: log.statuses[-1] == (1, "Available"))

    answer = await point.call(call.UnlockConnector(connector_id=1))
    assert answer.status == "Unlocked"
    answer = await point.call(call.UnlockConnector(connector_id=9))
    assert answer.status == "NotSupported"
    with pytest.raises(OcppNotImplementedError):
        await point.call(
            call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"),
            suppress=False,
        )
    await running.stop()


async def test_reset_stops_the_transaction_and_boots_again(
    csms: FakeCsms, fleet: Callable[..., Fleet]
) -> None:
    running, point = await _idle_station(csms, fleet)
    log = csms.logs[point.id]
    await point.call(call.RemoteStartTransaction(id_tag="REMOTE-1", connector_id=1))
    await eventually(lambda: bool(log.starts))

    answer = await point.call(call.Reset(type="Soft"))
    assert answer.status == "Accepted"
    await eventually(lambda: len(log.boots) == 2)
    assert log.stops[0]["reason"] == "SoftReset"
    assert log.connections == 2
    assert not log.open_transactions()
    await running.stop()
