"""OCPP 2.0.1 chargers end to end, beside 1.6 ones: real WebSockets, real databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import websockets
from ocpp.v16 import call as call16
from ocpp.v201 import call
from sqlalchemy import func, select

from chargeops.sessions.models import MeterValue, TransactionEvent
from tests.harness import RunningServer, charge_point, now_iso

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def at(minutes: float) -> str:
    return now_iso(T0 + timedelta(minutes=minutes))


def energy(wh: float, minutes: float, context: str = "Sample.Periodic") -> list[dict[str, Any]]:
    return [
        {
            "timestamp": at(minutes),
            "sampled_value": [
                {
                    "value": wh,
                    "context": context,
                    "measurand": "Energy.Active.Import.Register",
                    "unit_of_measure": {"unit": "Wh"},
                },
                {
                    "value": 7200,
                    "measurand": "Power.Active.Import",
                    "unit_of_measure": {"unit": "W"},
                },
            ],
        }
    ]


def event(
    event_type: str,
    seq_no: int,
    minutes: float,
    tx: str = "TX-1",
    *,
    trigger: str = "MeterValuePeriodic",
    state: str | None = None,
    wh: float | None = None,
    **extra: Any,
) -> call.TransactionEvent:
    info: dict[str, Any] = {"transaction_id": tx}
    if state:
        info["charging_state"] = state
    info.update(extra.pop("info", {}))
    return call.TransactionEvent(
        event_type=event_type,
        timestamp=at(minutes),
        trigger_reason=trigger,
        seq_no=seq_no,
        transaction_info=info,
        meter_value=energy(wh, minutes) if wh is not None else None,
        **extra,
    )


async def boot(cp: Any) -> None:
    answer = await cp.call(
        call.BootNotification(
            charging_station={"vendor_name": "Zaptec", "model": "Pro", "firmware_version": "2.3"},
            reason="PowerUp",
        )
    )
    assert answer.status == "Accepted"


async def session_of(server: RunningServer, station_id: str) -> dict[str, Any]:
    page = await server.get("/api/v1/sessions", station_id=station_id)
    assert len(page["items"]) == 1, page
    return dict(page["items"][0])


# --- connection ---------------------------------------------------------------------------


async def test_the_best_version_both_sides_speak_is_chosen(server: RunningServer) -> None:
    await server.add_station("CP-NEG")
    url = f"{server.ocpp_url}/CP-NEG"
    for offered, chosen in [
        (["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"),
        (["ocpp2.0.1", "ocpp2.1"], "ocpp2.1"),
        (["ocpp1.6"], "ocpp1.6"),
    ]:
        async with websockets.connect(url, subprotocols=offered) as ws:  # type: ignore[arg-type]
            assert ws.subprotocol == chosen


async def test_a_charger_offering_no_version_we_speak_is_refused_clearly(
    server: RunningServer,
) -> None:
    await server.add_station("CP-OLD")
    try:
        async with websockets.connect(
            f"{server.ocpp_url}/CP-OLD",
            subprotocols=["ocpp1.5"],  # type: ignore[list-item]
        ):
            raise AssertionError("the connection should have been refused")
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 400
        body = exc.response.body.decode()
        assert "ocpp1.5" in body and "ocpp2.0.1" in body


async def test_boot_status_and_heartbeat_of_a_201_station(server: RunningServer) -> None:
    await server.add_station("CP-201")
    async with charge_point(server, "CP-201", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(call.Heartbeat())
        for evse in (1, 2):
            await cp.call(
                call.StatusNotification(
                    timestamp=now_iso(), connector_status="Available", evse_id=evse, connector_id=1
                )
            )
        await cp.call(
            call.StatusNotification(
                timestamp=now_iso(), connector_status="Occupied", evse_id=2, connector_id=1
            )
        )
        station = await server.get("/api/v1/stations/CP-201")
    assert station["ocpp_version"] == "2.0.1"
    assert (station["vendor"], station["model"], station["firmware_version"]) == (
        "Zaptec",
        "Pro",
        "2.3",
    )
    assert [(c["evse_id"], c["connector_id"], c["status"]) for c in station["connectors"]] == [
        (1, 1, "Available"),
        (2, 1, "Occupied"),
    ]


async def test_16_connectors_are_evses_with_one_connector(server: RunningServer) -> None:
    await server.add_station("CP-16")
    async with charge_point(server, "CP-16") as cp:
        await cp.call(
            call16.StatusNotification(connector_id=2, error_code="NoError", status="Charging")
        )
        station = await server.get("/api/v1/stations/CP-16")
    assert [(c["evse_id"], c["connector_id"]) for c in station["connectors"]] == [(2, 1)]


async def test_authorize_by_token_type(server: RunningServer) -> None:
    await server.add_station("CP-A")
    await server.add_token("04AABB", token_type="ISO14443")
    await server.add_token("NL-TNM-C00122045-K", token_type="eMAID")
    await server.add_token("ANYTYPE")
    async with charge_point(server, "CP-A", version="2.0.1") as cp:
        await boot(cp)

        async def status(token: str, token_type: str) -> str:
            answer = await cp.call(call.Authorize(id_token={"id_token": token, "type": token_type}))
            return str(answer.id_token_info["status"])

        assert await status("04AABB", "ISO14443") == "Accepted"
        assert await status("04aabb", "ISO14443") == "Accepted"  # case-insensitive
        assert await status("04AABB", "eMAID") == "Invalid"  # same value, another token
        assert await status("NL-TNM-C00122045-K", "eMAID") == "Accepted"
        assert await status("ANYTYPE", "KeyCode") == "Accepted"
        assert await status("UNKNOWN", "ISO14443") == "Invalid"
        assert await status("", "NoAuthorization") == "Accepted"


# --- transactions -------------------------------------------------------------------------


async def test_a_full_transaction_started_updated_ended(server: RunningServer) -> None:
    await server.add_station("CP-TX")
    await server.add_token("TAG-1")
    async with charge_point(server, "CP-TX", version="2.0.1") as cp:
        await boot(cp)
        started = await cp.call(
            event(
                "Started",
                0,
                0,
                trigger="Authorized",
                state="Charging",
                wh=10_000,
                evse={"id": 1, "connector_id": 1},
                id_token={"id_token": "TAG-1", "type": "ISO14443"},
                info={"remote_start_id": 5},
            )
        )
        assert started.id_token_info["status"] == "Accepted"
        active = await session_of(server, "CP-TX")
        assert active["status"] == "active" and active["charging_state"] == "Charging"
        updated = await cp.call(event("Updated", 1, 10, wh=11_250.4))
        assert updated.id_token_info is None  # no token in the event, none in the answer
        await cp.call(
            event(
                "Ended",
                2,
                20,
                trigger="EVCommunicationLost",
                state="Idle",
                wh=12_500,
                info={"stopped_reason": "EVDisconnected"},
            )
        )
        done = await session_of(server, "CP-TX")
        detail = await server.get(f"/api/v1/sessions/{done['id']}")
    assert done["transaction_id"] == "TX-1"
    assert (done["evse_id"], done["connector_id"]) == (1, 1)
    assert (done["id_tag"], done["id_token_type"]) == ("TAG-1", "ISO14443")
    assert done["status"] == "completed" and done["stop_reason"] == "EVDisconnected"
    assert (done["meter_start_wh"], done["meter_stop_wh"], done["energy_wh"]) == (
        10_000,
        12_500,
        2_500,
    )
    assert datetime.fromisoformat(done["started_at"]) == T0
    assert datetime.fromisoformat(done["stopped_at"]) == T0 + timedelta(minutes=20)
    assert done["charging_state"] == "Idle"
    # every sample of every event is kept with the session
    assert len(detail["meter_values"]) == 6


async def test_a_repeated_event_is_stored_once(server: RunningServer) -> None:
    await server.add_station("CP-DUP")
    async with charge_point(server, "CP-DUP", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(event("Started", 0, 0, wh=500, evse={"id": 1}))
        for _ in range(3):  # a charger that never saw our answers
            await cp.call(event("Ended", 1, 30, wh=4_500))
        done = await session_of(server, "CP-DUP")
    async with server.db() as db:
        stored = await db.scalar(
            select(func.count())
            .select_from(TransactionEvent)
            .where(TransactionEvent.transaction_id == "TX-1")
        )
    assert stored == 2
    assert done["energy_wh"] == 4_000


async def test_events_out_of_order_give_the_same_session(server: RunningServer) -> None:
    # An offline queue replayed with the Ended first and the Started last: the session
    # must come out exactly as if they had arrived in order.
    await server.add_station("CP-OOO")
    async with charge_point(server, "CP-OOO", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(event("Ended", 3, 30, wh=9_000, offline=True, state="Idle"))
        await cp.call(event("Updated", 2, 20, wh=7_000, offline=True, state="SuspendedEV"))
        await cp.call(event("Updated", 1, 10, wh=5_000, offline=True, state="Charging"))
        await cp.call(
            event(
                "Started",
                0,
                0,
                wh=3_000,
                offline=True,
                state="Charging",
                evse={"id": 2, "connector_id": 1},
                id_token={"id_token": "OFFLINE-TAG", "type": "ISO14443"},
            )
        )
        done = await session_of(server, "CP-OOO")
    assert done["status"] == "completed"
    assert (done["meter_start_wh"], done["meter_stop_wh"], done["energy_wh"]) == (
        3_000,
        9_000,
        6_000,
    )
    # offline events keep the charger's own times
    assert datetime.fromisoformat(done["started_at"]) == T0
    assert datetime.fromisoformat(done["stopped_at"]) == T0 + timedelta(minutes=30)
    assert done["charging_state"] == "Idle"  # the state of the highest seqNo
    assert done["evse_id"] == 2 and done["id_tag"] == "OFFLINE-TAG"


async def test_an_event_arriving_after_ended_is_placed_in_the_session(
    server: RunningServer,
) -> None:
    await server.add_station("CP-LATE")
    async with charge_point(server, "CP-LATE", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(event("Started", 0, 0, wh=1_000, evse={"id": 1}))
        await cp.call(event("Ended", 2, 20, wh=None))  # no register in the Ended event
        await cp.call(event("Updated", 1, 10, wh=2_500, offline=True))
        done = await session_of(server, "CP-LATE")
    assert done["status"] == "completed"
    assert done["meter_stop_wh"] == 2_500 and done["energy_wh"] == 1_500
    assert done["stop_reason"] == "Local"  # what an omitted stoppedReason means


async def test_offline_session_replayed_after_reconnect(server: RunningServer) -> None:
    await server.add_station("CP-RE")
    async with charge_point(server, "CP-RE", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(event("Started", 0, 0, wh=100, evse={"id": 1}))
    # the connection dropped; the charger queued the rest and sends it on reconnect
    async with charge_point(server, "CP-RE", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(event("Updated", 1, 5, wh=600, offline=True))
        await cp.call(event("Ended", 2, 9, wh=1_100, offline=True))
        done = await session_of(server, "CP-RE")
    assert done["energy_wh"] == 1_000
    assert datetime.fromisoformat(done["stopped_at"]) == T0 + timedelta(minutes=9)


async def test_a_mixed_fleet_charges_at_once_with_correct_energy(server: RunningServer) -> None:
    await server.add_token("FLEET")
    for n in range(3):
        await server.add_station(f"MIX-16-{n}")
        await server.add_station(f"MIX-201-{n}")

    async def charge16(n: int) -> None:
        async with charge_point(server, f"MIX-16-{n}") as cp:
            start = await cp.call(
                call16.StartTransaction(
                    connector_id=1, id_tag="FLEET", meter_start=1_000 * n, timestamp=now_iso()
                )
            )
            await cp.call(
                call16.StopTransaction(
                    transaction_id=start.transaction_id,
                    meter_stop=1_000 * n + 2_000 + n,
                    timestamp=now_iso(),
                )
            )

    async def charge201(n: int) -> None:
        async with charge_point(server, f"MIX-201-{n}", version="2.0.1") as cp:
            await boot(cp)
            tx = f"MIX-{n}"
            await cp.call(event("Started", 0, 0, tx, wh=500 * n, evse={"id": 1}))
            await cp.call(event("Updated", 1, 5, tx, wh=500 * n + 1_000))
            await cp.call(event("Ended", 2, 10, tx, wh=500 * n + 3_000 + n))

    await asyncio.gather(*(charge16(n) for n in range(3)), *(charge201(n) for n in range(3)))
    page = await server.get("/api/v1/sessions", limit=50)
    energy_by_station = {s["station_id"]: s["energy_wh"] for s in page["items"]}
    assert energy_by_station == {
        **{f"MIX-16-{n}": 2_000 + n for n in range(3)},
        **{f"MIX-201-{n}": 3_000 + n for n in range(3)},
    }
    # one shape for both versions
    assert {frozenset(s) for s in page["items"]} == {frozenset(page["items"][0])}


# --- what else a 2.0.1 station reports ----------------------------------------------------


async def test_security_and_notify_events_are_listed(server: RunningServer) -> None:
    await server.add_station("CP-EV")
    async with charge_point(server, "CP-EV", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(
            call.SecurityEventNotification(
                type="FirmwareUpdated", timestamp=now_iso(), tech_info="v2.3 -> v2.4"
            )
        )
        await cp.call(
            call.NotifyEvent(
                generated_at=now_iso(),
                seq_no=0,
                event_data=[
                    {
                        "event_id": 1,
                        "timestamp": now_iso(),
                        "trigger": "Alerting",
                        "actual_value": "Faulted",
                        "event_notification_type": "HardWiredNotification",
                        "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
                        "variable": {"name": "AvailabilityState"},
                    }
                ],
            )
        )
        security = await server.get("/api/v1/stations/CP-EV/events", kind="SecurityEvent")
        everything = await server.get("/api/v1/stations/CP-EV/events")
    (sec,) = security["items"]
    assert sec["summary"] == "FirmwareUpdated: v2.3 -> v2.4"
    assert sec["payload"]["type"] == "FirmwareUpdated"
    kinds = [e["kind"] for e in everything["items"]]
    assert kinds[:2] == ["NotifyEvent", "SecurityEvent"]  # newest first
    assert "Connector EVSE 1/1.AvailabilityState = Faulted" in everything["items"][0]["summary"]


async def test_the_device_model_is_stored_and_browsable(server: RunningServer) -> None:
    await server.add_station("CP-DM")

    def report(seq_no: int, value: str, generated: str, *, tbc: bool) -> call.NotifyReport:
        return call.NotifyReport(
            request_id=1,
            generated_at=generated,
            seq_no=seq_no,
            tbc=tbc,
            report_data=[
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "variable_attribute": [{"type": "Actual", "value": value}],
                    "variable_characteristics": {
                        "unit": "s",
                        "data_type": "integer",
                        "supports_monitoring": False,
                    },
                },
                {
                    "component": {"name": "EVSE", "evse": {"id": seq_no + 1}},
                    "variable": {"name": "Power"},
                    "variable_attribute": [
                        {"type": "Actual", "value": "0", "mutability": "ReadOnly"},
                        {"type": "MaxSet", "value": "22000"},
                    ],
                },
            ],
        )

    async with charge_point(server, "CP-DM", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(report(0, "300", now_iso(), tbc=True))
        await cp.call(report(1, "60", now_iso(), tbc=False))
        # a part delivered late, generated before: it must not overwrite the newer value
        await cp.call(report(2, "999", now_iso(datetime.now(UTC) - timedelta(hours=1)), tbc=False))
        heartbeat = await server.get("/api/v1/stations/CP-DM/variables", component="ocppcommctrlr")
        first = await server.get("/api/v1/stations/CP-DM/variables", limit=3)
        rest = await server.get(
            "/api/v1/stations/CP-DM/variables", limit=50, cursor=first["next_cursor"]
        )
    (hb,) = heartbeat["items"]
    assert (hb["variable"], hb["value"]) == ("HeartbeatInterval", "60")
    assert hb["characteristics"]["unit"] == "s"
    listed = first["items"] + rest["items"]
    assert rest["next_cursor"] is None
    assert len(listed) == 7  # 3 EVSEs x (Actual, MaxSet) + the heartbeat interval
    assert [(v["component"], v["evse_id"], v["attribute_type"]) for v in listed[:2]] == [
        ("EVSE", 1, "Actual"),
        ("EVSE", 1, "MaxSet"),
    ]


async def test_unknown_station_lists_are_404(server: RunningServer) -> None:
    async with server.api() as client:
        events = await client.get("/api/v1/stations/NOPE/events")
        variables = await client.get("/api/v1/stations/NOPE/variables")
    assert events.status_code == 404 and variables.status_code == 404


async def test_limits_reservations_logs_firmware_and_data_transfer(server: RunningServer) -> None:
    await server.add_station("CP-MISC")
    async with charge_point(server, "CP-MISC", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(
            call.NotifyChargingLimit(
                charging_limit={"charging_limit_source": "EMS", "is_grid_critical": True},
                evse_id=1,
            )
        )
        await cp.call(call.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))
        await cp.call(
            call.ReservationStatusUpdate(reservation_id=3, reservation_update_status="Expired")
        )
        await cp.call(call.LogStatusNotification(status="Uploading", request_id=9))
        await cp.call(call.FirmwareStatusNotification(status="Downloading", request_id=4))
        transfer = await cp.call(call.DataTransfer(vendor_id="com.example", data={"a": 1}))
        station = await server.get("/api/v1/stations/CP-MISC")
        listed = await server.get("/api/v1/stations/CP-MISC/events", limit=20)
    assert transfer.status == "UnknownVendorId"
    assert station["diagnostics_status"] == "Uploading"
    assert station["firmware_status"] == "Downloading"
    summaries = {e["kind"]: e["summary"] for e in listed["items"]}
    assert summaries["NotifyChargingLimit"] == "charging limited by EMS on EVSE 1, grid critical"
    assert summaries["ClearedChargingLimit"] == "charging limit of EMS cleared on EVSE 1"
    assert summaries["ReservationStatusUpdate"] == "reservation 3: Expired"
    assert "LogStatusNotification" in summaries and "DataTransfer" in summaries


async def test_a_21_station_is_handled_like_a_201_one(server: RunningServer) -> None:
    from ocpp.v21 import call as call21

    await server.add_station("CP-21")
    async with charge_point(server, "CP-21", version="2.1") as cp:
        answer = await cp.call(
            call21.BootNotification(
                charging_station={"vendor_name": "V", "model": "M"}, reason="PowerUp"
            )
        )
        assert answer.status == "Accepted"
        station = await server.get("/api/v1/stations/CP-21")
    assert station["ocpp_version"] == "2.1"


async def test_updates_in_sequence_keep_state_and_skip_repeats(server: RunningServer) -> None:
    # The short path for Updated events (what the connection remembers) must agree with
    # the database: repeats stored once, the newest charging state shown, before and
    # after a reconnect.
    await server.add_station("CP-SEQ")
    async with charge_point(server, "CP-SEQ", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(event("Started", 0, 0, wh=0, state="Charging", evse={"id": 1}))
        await cp.call(event("Updated", 1, 1, wh=100, state="SuspendedEV"))
        await cp.call(event("Updated", 1, 1, wh=100, state="SuspendedEV"))  # a retry
        await cp.call(event("Updated", 2, 2, wh=200, state="Charging"))
        await cp.call(event("Updated", 3, 3, wh=300))  # no state: it did not change
        middle = await session_of(server, "CP-SEQ")
    async with charge_point(server, "CP-SEQ", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(event("Updated", 3, 3, wh=300))  # a retry after the reconnect
        await cp.call(event("Updated", 4, 4, wh=400, state="SuspendedEVSE"))
        await cp.call(event("Ended", 5, 5, wh=500))
        done = await session_of(server, "CP-SEQ")
    async with server.db() as db:
        stored = await db.scalar(
            select(func.count())
            .select_from(TransactionEvent)
            .where(TransactionEvent.transaction_id == "TX-1")
        )
    assert middle["charging_state"] == "Charging" and middle["status"] == "active"
    assert stored == 6
    assert done["charging_state"] == "SuspendedEVSE"
    assert (done["meter_start_wh"], done["meter_stop_wh"], done["energy_wh"]) == (0, 500, 500)


async def test_meter_values_outside_a_transaction_are_kept_per_evse(
    server: RunningServer,
) -> None:
    await server.add_station("CP-MV")
    async with charge_point(server, "CP-MV", version="2.0.1") as cp:
        await boot(cp)
        await cp.call(call.MeterValues(evse_id=0, meter_value=energy(123_456.7, 1)))
        await cp.call(call.MeterValues(evse_id=2, meter_value=energy(5_000, 1)))
        await cp.call(call.MeterValues(evse_id=2, meter_value=energy(5_000, 1)))  # a retry
    async with server.db() as db:
        rows = (
            await db.execute(
                select(MeterValue.evse_id, MeterValue.measurand, MeterValue.value)
                .where(MeterValue.station_id == "CP-MV")
                .order_by(MeterValue.evse_id, MeterValue.measurand)
            )
        ).all()
    assert [(r.evse_id, r.measurand, r.value) for r in rows] == [
        (0, "Energy.Active.Import.Register", Decimal("123456.7")),
        (0, "Power.Active.Import", Decimal("7200")),
        (2, "Energy.Active.Import.Register", Decimal("5000")),
        (2, "Power.Active.Import", Decimal("7200")),
    ]
