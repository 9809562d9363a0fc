"""The simulator speaking OCPP 2.0.1, alone and beside 1.6, against a small central system.

The central system extends the 1.6 test double of ``test_simulator_fleet.py``: it accepts
both subprotocols and answers 2.0.1 connections with the ``ocpp`` package's v201
ChargePoint, which checks every message against the 2.0.1 schemas on arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.server import ServerConnection

from chargeops.simulator import MIXED, SUPPORTED_OCPP_VERSIONS, FleetConfig
from chargeops.simulator.meter import MeterSample, ReadingContext
from chargeops.simulator.v201 import connector_status, meter_value
from tests.simulator.test_simulator_fleet import (
    FAST,
    CentralPoint,
    FakeCsms,
    Fleet,
    StationLog,
    _now,
    _on,
    energies,
    eventually,
)

# --------------------------------------------------------------------------- central system


class CentralPoint201(ChargePoint):  # type: ignore[misc]
    """Server side of one station's 2.0.1 connection, recording into the station's log."""

    def __init__(self, station_id: str, ws: ServerConnection, csms: MixedCsms) -> None:
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
    def csms_status(self, evse_id: int, connector_id: int, connector_status: str, **_: Any) -> Any:
        self.log.statuses.append((evse_id, connector_status))
        self.csms.connector_ids.add(connector_id)
        return call_result.StatusNotification()

    @_on(Action.authorize)
    def csms_authorize(self, id_token: dict[str, str], **_: Any) -> Any:
        self.log.authorizes.append(id_token["id_token"])
        self.csms.token_types.add(id_token["type"])
        status = "Invalid" if id_token["id_token"] in self.csms.rejected_tags else "Accepted"
        return call_result.Authorize(id_token_info={"status": status})

    @_on(Action.transaction_event)
    def csms_transaction_event(self, **payload: Any) -> Any:
        self.log.transaction_events.append(payload)
        if payload["event_type"] == "Started":
            return call_result.TransactionEvent(id_token_info={"status": self.csms.start_status})
        return call_result.TransactionEvent()

    @_on(Action.meter_values)
    def csms_meter_values(self, **payload: Any) -> Any:
        self.log.meter_values.append(payload)
        return call_result.MeterValues()


class MixedCsms(FakeCsms):
    """Speaks 2.0.1 and 1.6, whichever the station asks for."""

    subprotocols = ("ocpp2.0.1", "ocpp1.6")

    def __init__(self) -> None:
        super().__init__()
        self.connector_ids: set[int] = set()
        self.token_types: set[str] = set()

    def central_point(self, station_id: str, ws: ServerConnection) -> Any:
        if ws.subprotocol == "ocpp2.0.1":
            return CentralPoint201(station_id, ws, self)
        return CentralPoint(station_id, ws, self)


@pytest.fixture
async def csms() -> AsyncIterator[MixedCsms]:
    central = MixedCsms()
    await central.start()
    yield central
    await central.stop()


@pytest.fixture
async def fleet() -> AsyncIterator[Callable[..., Fleet]]:
    """``fleet(url=..., **overrides)`` starts a 2.0.1 fleet; leftovers stop after the test."""
    started: list[Fleet] = []

    def start(**overrides: Any) -> Fleet:
        running = Fleet(FleetConfig(**{**FAST, "ocpp_version": "2.0.1", **overrides}))
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


def transactions(log: StationLog) -> dict[str, list[dict[str, Any]]]:
    """Each transaction's events in the order they arrived, by transaction id."""
    out: dict[str, list[dict[str, Any]]] = {}
    for event in log.transaction_events:
        out.setdefault(event["transaction_info"]["transaction_id"], []).append(event)
    return out


def ended(log: StationLog) -> list[list[dict[str, Any]]]:
    """The events of every transaction that has ended."""
    return [events for events in transactions(log).values() if events[-1]["event_type"] == "Ended"]


def open_transactions(log: StationLog) -> set[str]:
    return {tid for tid, events in transactions(log).items() if events[-1]["event_type"] != "Ended"}


def sampled(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [value for mv in event["meter_value"] for value in mv["sampled_value"]]


def energy(event: dict[str, Any]) -> float:
    (value,) = [v for v in sampled(event) if v["measurand"] == "Energy.Active.Import.Register"]
    assert value["unit_of_measure"] == {"unit": "Wh"}
    return float(value["value"])


# --------------------------------------------------------------------------- mapping


def test_the_versions_and_the_mixed_fleet() -> None:
    assert SUPPORTED_OCPP_VERSIONS == ("1.6", "2.0.1")
    mixed = FleetConfig(url="ws://x/ocpp", ocpp_version=MIXED)
    assert mixed.ocpp_versions == ("1.6", "2.0.1")
    assert [mixed.ocpp_version_of(i) for i in range(4)] == ["1.6", "2.0.1", "1.6", "2.0.1"]
    assert FleetConfig(url="ws://x/ocpp", ocpp_version="2.0.1").ocpp_version_of(3) == "2.0.1"
    with pytest.raises(ValueError, match="mixed"):
        FleetConfig(url="ws://x/ocpp", ocpp_version="2.1")


def test_statuses_and_samples_in_their_2_0_1_form() -> None:
    expected = {
        "Available": "Available",
        "Preparing": "Occupied",
        "Charging": "Occupied",
        "SuspendedEV": "Occupied",
        "SuspendedEVSE": "Occupied",
        "Finishing": "Occupied",
        "Reserved": "Reserved",
        "Unavailable": "Unavailable",
        "Faulted": "Faulted",
    }
    assert {word: connector_status(word) for word in expected} == expected

    at = datetime(2026, 1, 2, 3, 4, 5, 678_900, tzinfo=UTC)
    sample = MeterSample(at, ReadingContext.PERIODIC, 1234, 7321.6, 10.61, 229.94, 55.4)
    value = meter_value(sample)
    assert value["timestamp"] == "2026-01-02T03:04:05.678Z"
    assert [
        (v["measurand"], v["value"], v["unit_of_measure"]["unit"]) for v in value["sampled_value"]
    ] == [
        ("Energy.Active.Import.Register", 1234, "Wh"),
        ("Power.Active.Import", 7322, "W"),
        ("Current.Import", 10.6, "A"),
        ("Voltage", 229.9, "V"),
        ("SoC", 55, "Percent"),
    ]
    assert {v["context"] for v in value["sampled_value"]} == {"Sample.Periodic"}


# --------------------------------------------------------------------------- charging


async def test_each_2_0_1_station_boots_charges_and_ends_its_transactions(
    csms: MixedCsms, fleet: Callable[..., Fleet]
) -> None:
    running = fleet(url=csms.url)

    def every_station_ended_a_transaction() -> bool:
        return all(ended(csms.logs[sid]) and csms.logs[sid].heartbeats for sid in running.ids)

    await eventually(every_station_ended_a_transaction)
    await running.stop()

    assert csms.connector_ids == {1}
    assert csms.token_types == {"ISO14443"}
    for sid in running.ids:
        log = csms.logs[sid]
        assert log.subprotocols == ["ocpp2.0.1"]
        boot = log.boots[0]
        assert boot["reason"] == "PowerUp"
        station = boot["charging_station"]
        assert station["vendor_name"] == "chargeops" and station["model"] == "Simulator"
        assert station["serial_number"] and station["firmware_version"]
        assert all(evse >= 1 for evse, _ in log.statuses)  # 2.0.1 has no station status
        assert log.authorizes and not log.starts and not log.stops

        events = ended(log)[0]
        started, *updated, end = events
        assert [e["seq_no"] for e in events] == list(range(len(events)))
        kinds = [e["event_type"] for e in events]
        assert kinds == ["Started", *["Updated"] * len(updated), "Ended"]

        transaction_id = started["transaction_info"]["transaction_id"]
        assert uuid.UUID(transaction_id).version == 4
        assert started["trigger_reason"] == "Authorized"
        assert started["transaction_info"]["charging_state"] == "Charging"
        assert started["id_token"]["type"] == "ISO14443"
        assert started["id_token"]["id_token"] in log.authorizes
        evse = started["evse"]
        assert evse["connector_id"] == 1
        assert {v["context"] for v in sampled(started)} == {"Transaction.Begin"}

        # how many periodic samples fit in a short session depends on the machine's load:
        # at least one, and the register only grows from the start
        assert updated
        assert {e["trigger_reason"] for e in updated} == {"MeterValuePeriodic"}
        readings = [energy(started), *(energy(e) for e in updated)]
        assert readings == sorted(readings) and readings[-1] > readings[0]
        units = {v["measurand"]: v["unit_of_measure"]["unit"] for v in sampled(updated[0])}
        assert units == {
            "Energy.Active.Import.Register": "Wh",
            "Power.Active.Import": "W",
            "Current.Import": "A",
            "Voltage": "V",
            "SoC": "Percent",
        }
        assert all(isinstance(v["value"], int | float) for v in sampled(updated[0]))

        assert end["trigger_reason"] == "EVCommunicationLost"
        assert end["transaction_info"]["stopped_reason"] == "EVDisconnected"
        assert {v["context"] for v in sampled(end)} == {"Transaction.End"}
        assert energy(end) >= readings[-1]

        cycle = [status for e, status in log.statuses if e == evse["id"]]
        assert cycle[:5] == ["Available", "Occupied", "Occupied", "Occupied", "Available"]
        assert not open_transactions(log)


async def test_stop_ends_2_0_1_transactions_as_local_and_closes(
    csms: MixedCsms, fleet: Callable[..., Fleet]
) -> None:
    running = fleet(url=csms.url, charge_duration_s=(60.0, 60.0), connectors=(2, 2))
    await eventually(lambda: all(len(transactions(csms.logs[sid])) == 2 for sid in running.ids))
    await running.stop(within=3.0)

    await eventually(lambda: all(csms.logs[sid].open_connections == 0 for sid in running.ids))
    for sid in running.ids:
        log = csms.logs[sid]
        assert not open_transactions(log)
        for events in ended(log):
            end = events[-1]
            assert end["transaction_info"]["stopped_reason"] == "Local"
            assert end["trigger_reason"] == "StopAuthorized"
            assert end["id_token"] == events[0]["id_token"]
            assert end["seq_no"] == events[-2]["seq_no"] + 1


async def test_a_2_0_1_transaction_goes_on_after_a_reconnect_without_reusing_seq_no(
    csms: MixedCsms, fleet: Callable[..., Fleet]
) -> None:
    running = fleet(url=csms.url, stations=2, charge_duration_s=(60.0, 60.0), connectors=(1, 1))

    def updated_once() -> bool:
        return all(len(csms.logs[sid].transaction_events) >= 2 for sid in running.ids)

    await eventually(updated_once)
    await csms.stop()
    await asyncio.sleep(0.3)
    await csms.start()
    await eventually(lambda: all(len(csms.logs[sid].boots) == 2 for sid in running.ids))
    for sid in running.ids:
        log = csms.logs[sid]
        seen = len(log.transaction_events)

        def more_events(log: StationLog = log, seen: int = seen) -> bool:
            return len(log.transaction_events) > seen + 1

        await eventually(more_events)
    await running.stop()

    for sid in running.ids:
        log = csms.logs[sid]
        (events,) = transactions(log).values()  # one transaction, before and after
        seq_nos = [e["seq_no"] for e in events]
        assert seq_nos == sorted(set(seq_nos)) and seq_nos[0] == 0
        assert events[-1]["event_type"] == "Ended"
        assert [e["event_type"] for e in events].count("Started") == 1


async def test_a_token_refused_at_start_ends_the_transaction_as_deauthorized(
    csms: MixedCsms, fleet: Callable[..., Fleet]
) -> None:
    csms.start_status = "Blocked"
    running = fleet(url=csms.url, stations=1, connectors=(1, 1))
    log = csms.logs[running.ids[0]]
    await eventually(lambda: bool(ended(log)))
    await running.stop()

    started, end = ended(log)[0]
    assert (started["seq_no"], end["seq_no"]) == (0, 1)
    assert end["trigger_reason"] == "Deauthorized"
    assert end["transaction_info"]["stopped_reason"] == "DeAuthorized"


# ------------------------------------------------------------------ CSMS-initiated calls


async def _idle_station(
    csms: MixedCsms, fleet: Callable[..., Fleet]
) -> tuple[Fleet, CentralPoint201]:
    """One booted 2.0.1 station with one EVSE that would not start a session on its own."""
    running = fleet(url=csms.url, stations=1, connectors=(1, 1), idle_between_sessions_s=(60, 60))
    sid = running.ids[0]
    await eventually(lambda: (1, "Available") in csms.logs[sid].statuses)
    point = csms.points[sid]
    assert isinstance(point, CentralPoint201)
    return running, point


async def test_request_start_and_stop_run_a_transaction_without_local_authorize(
    csms: MixedCsms, fleet: Callable[..., Fleet]
) -> None:
    running, point = await _idle_station(csms, fleet)
    log = csms.logs[point.id]

    answer = await point.call(
        call.RequestStartTransaction(
            id_token={"id_token": "REMOTE-1", "type": "Central"}, remote_start_id=42
        ),
        suppress=False,
    )
    assert answer.status == "Accepted"
    await eventually(lambda: bool(log.transaction_events))
    started = log.transaction_events[0]
    assert started["trigger_reason"] == "RemoteStart"
    assert started["transaction_info"]["remote_start_id"] == 42
    assert started["id_token"] == {"id_token": "REMOTE-1", "type": "Central"}
    assert log.authorizes == []

    transaction_id = started["transaction_info"]["transaction_id"]
    answer = await point.call(call.RequestStopTransaction(transaction_id=transaction_id))
    assert answer.status == "Accepted"
    await eventually(lambda: bool(ended(log)))
    end = ended(log)[0][-1]
    assert end["trigger_reason"] == "RemoteStop"
    assert end["transaction_info"]["stopped_reason"] == "Remote"
    answer = await point.call(call.RequestStopTransaction(transaction_id=transaction_id))
    assert answer.status == "Rejected"
    await running.stop()


async def test_the_device_model_can_be_read_and_the_intervals_changed(
    csms: MixedCsms, fleet: Callable[..., Fleet]
) -> None:
    running, point = await _idle_station(csms, fleet)

    def item(component: str, variable: str, **extra: str) -> dict[str, Any]:
        return {"component": {"name": component}, "variable": {"name": variable}, **extra}

    answer = await point.call(
        call.GetVariables(
            get_variable_data=[
                item("OCPPCommCtrlr", "HeartbeatInterval"),
                item("OCPPCommCtrlr", "Nope"),
                item("NoSuchCtrlr", "HeartbeatInterval"),
                item("OCPPCommCtrlr", "HeartbeatInterval", attribute_type="Target"),
            ]
        )
    )
    results = answer.get_variable_result
    assert [r["attribute_status"] for r in results] == [
        "Accepted",
        "UnknownVariable",
        "UnknownComponent",
        "NotSupportedAttributeType",
    ]
    assert results[0]["attribute_value"] == "1"
    assert results[0]["component"] == {"name": "OCPPCommCtrlr"}

    answer = await point.call(
        call.SetVariables(
            set_variable_data=[
                item("SampledDataCtrlr", "TxUpdatedInterval", attribute_value="2"),
                item("OCPPCommCtrlr", "HeartbeatInterval", attribute_value="soon"),
                item("SecurityCtrlr", "Identity", attribute_value="X"),
                item("NoSuchCtrlr", "X", attribute_value="1"),
            ]
        )
    )
    assert [r["attribute_status"] for r in answer.set_variable_result] == [
        "Accepted",
        "Rejected",
        "Rejected",
        "UnknownComponent",
    ]
    answer = await point.call(
        call.GetVariables(get_variable_data=[item("SampledDataCtrlr", "TxUpdatedInterval")])
    )
    assert answer.get_variable_result[0]["attribute_value"] == "2"
    await running.stop()


async def test_triggered_messages_are_sent_after_the_answer(
    csms: MixedCsms, fleet: Callable[..., Fleet]
) -> None:
    running, point = await _idle_station(csms, fleet)
    log = csms.logs[point.id]
    statuses_before, heartbeats_before = len(log.statuses), log.heartbeats

    for message in ("StatusNotification", "Heartbeat", "MeterValues", "BootNotification"):
        answer = await point.call(call.TriggerMessage(requested_message=message))
        assert answer.status == "Accepted", message
    answer = await point.call(call.TriggerMessage(requested_message="LogStatusNotification"))
    assert answer.status == "NotImplemented"

    await eventually(lambda: len(log.statuses) > statuses_before)
    await eventually(lambda: log.heartbeats > heartbeats_before and bool(log.meter_values))
    await eventually(lambda: len(log.boots) == 2)
    assert log.boots[1]["reason"] == "Triggered"
    triggered = log.meter_values[-1]
    assert triggered["evse_id"] == 1
    assert {v["context"] for v in triggered["meter_value"][0]["sampled_value"]} == {"Trigger"}
    await running.stop()


async def test_availability_unlock_and_other_commands_are_answered(
    csms: MixedCsms, fleet: Callable[..., Fleet]
) -> None:
    running, point = await _idle_station(csms, fleet)
    log = csms.logs[point.id]

    answer = await point.call(
        call.ChangeAvailability(operational_status="Inoperative", evse={"id": 1})
    )
    assert answer.status == "Accepted"
    await eventually(lambda: log.statuses[-1] == (1, "Unavailable"))
    token = {"id_token": "REMOTE-1", "type": "Central"}
    answer = await point.call(call.RequestStartTransaction(id_token=token, remote_start_id=1))
    assert answer.status == "Rejected"
    answer = await point.call(call.ChangeAvailability(operational_status="Operative"))
    assert answer.status == "Accepted"
    await eventually(lambda: log.statuses[-1] == (1, "Available"))

    answer = await point.call(call.UnlockConnector(evse_id=1, connector_id=1))
    assert answer.status == "Unlocked"
    answer = await point.call(call.UnlockConnector(evse_id=9, connector_id=1))
    assert answer.status == "UnknownConnector"
    answer = await point.call(call.DataTransfer(vendor_id="com.example"))
    assert answer.status == "UnknownVendorId"
    answer = await point.call(call.ClearCache())
    assert answer.status == "Accepted"
    with pytest.raises(OcppNotImplementedError):
        await point.call(call.GetDisplayMessages(request_id=1), suppress=False)
    await running.stop()


async def test_reset_ends_the_transaction_and_boots_again(
    csms: MixedCsms, fleet: Callable[..., Fleet]
) -> None:
    running, point = await _idle_station(csms, fleet)
    log = csms.logs[point.id]
    token = {"id_token": "REMOTE-1", "type": "Central"}
    await point.call(call.RequestStartTransaction(id_token=token, remote_start_id=7, evse_id=1))
    await eventually(lambda: bool(log.transaction_events))

    answer = await point.call(call.UnlockConnector(evse_id=1, connector_id=1))
    assert answer.status == "OngoingAuthorizedTransaction"
    answer = await point.call(call.Reset(type="Immediate"))
    assert answer.status == "Accepted"
    await eventually(lambda: len(log.boots) == 2)
    assert log.boots[1]["reason"] == "RemoteReset"
    end = ended(log)[0][-1]
    assert end["trigger_reason"] == "ResetCommand"
    assert end["transaction_info"]["stopped_reason"] == "ImmediateReset"
    assert log.connections == 2
    assert not open_transactions(log)
    await running.stop()


# --------------------------------------------------------------------------- mixed fleet


async def test_a_mixed_fleet_speaks_1_6_and_2_0_1_by_turns(
    csms: MixedCsms, fleet: Callable[..., Fleet]
) -> None:
    running = fleet(url=csms.url, stations=4, ocpp_version=MIXED)
    ids = running.ids
    v16_ids, v201_ids = ids[0::2], ids[1::2]

    def every_station_completed_a_session() -> bool:
        return all(csms.logs[sid].stops for sid in v16_ids) and all(
            ended(csms.logs[sid]) for sid in v201_ids
        )

    await eventually(every_station_completed_a_session)
    await running.stop()

    for sid in v16_ids:
        log = csms.logs[sid]
        assert log.subprotocols == ["ocpp1.6"]
        assert "charge_point_vendor" in log.boots[0]
        assert not log.transaction_events
        assert energies(log.meter_values, log.stops[0]["transaction_id"])
        assert not log.open_transactions()
    for sid in v201_ids:
        log = csms.logs[sid]
        assert log.subprotocols == ["ocpp2.0.1"]
        assert "charging_station" in log.boots[0]
        assert not log.starts and not log.stops
        assert not open_transactions(log)
