"""Every message a 1.6 charger sends, end to end: real WebSocket, real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ocpp.v16 import call
from sqlalchemy import func, select

from chargeops.sessions.models import MeterValue
from chargeops.stations.models import ConnectorStatusChange, StationEvent
from tests.harness import RunningServer, charge_point, now_iso


async def test_boot_notification_stores_identity_and_accepts(server: RunningServer) -> None:
    await server.add_station("CP-1")
    async with charge_point(server, "CP-1") as cp:
        answer = await cp.call(
            call.BootNotification(
                charge_point_vendor="Alfen",
                charge_point_model="Eve Single",
                charge_point_serial_number="SN-42",
                charge_box_serial_number="BOX-7",
                firmware_version="4.12.0",
                iccid="8931",
                imsi="2040",
                meter_type="Carlo Gavazzi",
                meter_serial_number="M-99",
            )
        )
        assert answer.status == "Accepted"
        assert answer.interval == server.settings.heartbeat_interval
        assert abs(datetime.fromisoformat(answer.current_time) - datetime.now(UTC)) < timedelta(
            seconds=5
        )
        station = await server.get("/api/v1/stations/CP-1")
    assert station["vendor"] == "Alfen"
    assert station["model"] == "Eve Single"
    assert station["serial_number"] == "SN-42"
    assert station["charge_box_serial_number"] == "BOX-7"
    assert station["firmware_version"] == "4.12.0"
    assert station["meter_type"] == "Carlo Gavazzi"
    assert station["meter_serial_number"] == "M-99"
    assert station["iccid"] == "8931" and station["imsi"] == "2040"
    assert station["online"] is True
    assert station["ocpp_version"] == "1.6"


async def test_heartbeat_answers_time_and_updates_last_seen(server: RunningServer) -> None:
    await server.add_station("CP-1")
    async with charge_point(server, "CP-1") as cp:
        before = datetime.now(UTC)
        answer = await cp.call(call.Heartbeat())
        station = await server.get("/api/v1/stations/CP-1")
    assert abs(datetime.fromisoformat(answer.current_time) - before) < timedelta(seconds=5)
    assert datetime.fromisoformat(station["last_seen_at"]) >= before - timedelta(seconds=1)


async def test_status_notification_per_connector_with_error_details(
    server: RunningServer,
) -> None:
    await server.add_station("CP-1")
    async with charge_point(server, "CP-1") as cp:
        await cp.call(
            call.StatusNotification(connector_id=0, error_code="NoError", status="Available")
        )
        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
        await cp.call(
            call.StatusNotification(
                connector_id=2,
                error_code="GroundFailure",
                status="Faulted",
                info="RCD tripped",
                vendor_id="com.alfen",
                vendor_error_code="E-117",
                timestamp=now_iso(),
            )
        )
        station = await server.get("/api/v1/stations/CP-1")
    assert station["status"] == "Available"  # connector 0: the station as a whole
    # a 1.6 connector n is EVSE n with its one connector
    connectors = {c["evse_id"]: c for c in station["connectors"]}
    assert set(connectors) == {1, 2}
    assert {c["connector_id"] for c in station["connectors"]} == {1}
    assert connectors[1]["status"] == "Available"
    assert connectors[2]["status"] == "Faulted"
    assert connectors[2]["error_code"] == "GroundFailure"
    assert connectors[2]["info"] == "RCD tripped"
    assert connectors[2]["vendor_error_code"] == "E-117"


async def test_older_status_from_offline_queue_does_not_overwrite_newer(
    server: RunningServer,
) -> None:
    await server.add_station("CP-1")
    now = datetime.now(UTC)
    async with charge_point(server, "CP-1") as cp:
        await cp.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Charging", timestamp=now_iso(now)
            )
        )
        await cp.call(
            call.StatusNotification(
                connector_id=1,
                error_code="NoError",
                status="Preparing",
                timestamp=now_iso(now - timedelta(minutes=5)),
            )
        )
        station = await server.get("/api/v1/stations/CP-1")
    assert station["connectors"][0]["status"] == "Charging"
    async with server.db() as db:
        history = await db.execute(select(func.count()).select_from(ConnectorStatusChange))
        assert history.scalar_one() == 2  # both kept in the timeline


async def test_authorize_answers_from_the_token_registry(server: RunningServer) -> None:
    await server.add_station("CP-1")
    await server.add_token("GOOD")
    await server.add_token("LOST", status="blocked")
    await server.add_token("OLD", status="expired")
    await server.add_token("LAPSED", expires_at=datetime.now(UTC) - timedelta(days=1))
    future = datetime.now(UTC) + timedelta(days=30)
    await server.add_token("VALID-UNTIL", expires_at=future, parent_id_tag="FLEET-1")
    async with charge_point(server, "CP-1") as cp:
        statuses = {}
        for tag in ("GOOD", "good", "LOST", "OLD", "LAPSED", "NOBODY", "VALID-UNTIL"):
            statuses[tag] = (await cp.call(call.Authorize(id_tag=tag))).id_tag_info
    assert statuses["GOOD"]["status"] == "Accepted"
    assert statuses["good"]["status"] == "Accepted"  # id tags are case-insensitive
    assert statuses["LOST"]["status"] == "Blocked"
    assert statuses["OLD"]["status"] == "Expired"
    assert statuses["LAPSED"]["status"] == "Expired"
    assert statuses["NOBODY"]["status"] == "Invalid"
    assert statuses["VALID-UNTIL"]["status"] == "Accepted"
    assert statuses["VALID-UNTIL"]["parent_id_tag"] == "FLEET-1"
    assert abs(datetime.fromisoformat(statuses["VALID-UNTIL"]["expiry_date"]) - future) < timedelta(
        seconds=1
    )
    async with server.db() as db:
        kinds = (await db.execute(select(StationEvent.kind))).scalars().all()
    assert kinds.count("Authorize") == 7


async def test_full_session_start_meter_values_stop(server: RunningServer) -> None:
    await server.add_station("CP-1")
    await server.add_token("TAG-1")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    async with charge_point(server, "CP-1") as cp:
        started = await cp.call(
            call.StartTransaction(
                connector_id=1, id_tag="TAG-1", meter_start=12_000, timestamp=now_iso(t0)
            )
        )
        assert started.id_tag_info["status"] == "Accepted"
        tx = started.transaction_id
        assert isinstance(tx, int)
        active = await server.get("/api/v1/sessions", status="active")
        assert [s["transaction_id"] for s in active["items"]] == [tx]
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": now_iso(t0 + timedelta(minutes=10)),
                        "sampledValue": [
                            {
                                "value": "15.5",
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "kWh",
                                "context": "Sample.Periodic",
                            },
                            {"value": "11.2", "measurand": "Power.Active.Import", "unit": "kW"},
                            {
                                "value": "16.1",
                                "measurand": "Current.Import",
                                "unit": "A",
                                "phase": "L1",
                            },
                            {
                                "value": "230.5",
                                "measurand": "Voltage",
                                "unit": "V",
                                "phase": "L1-N",
                            },
                            {
                                "value": "48",
                                "measurand": "SoC",
                                "unit": "Percent",
                                "location": "EV",
                            },
                        ],
                    }
                ],
            )
        )
        stopped = await cp.call(
            call.StopTransaction(
                meter_stop=20_250,
                timestamp=now_iso(t0 + timedelta(minutes=20)),
                transaction_id=tx,
                reason="EVDisconnected",
                id_tag="TAG-1",
                transaction_data=[
                    {
                        "timestamp": now_iso(t0 + timedelta(minutes=20)),
                        "sampledValue": [{"value": "20250", "context": "Transaction.End"}],
                    }
                ],
            )
        )
        assert stopped.id_tag_info["status"] == "Accepted"
    sessions = await server.get("/api/v1/sessions", station_id="CP-1")
    assert len(sessions["items"]) == 1
    summary = sessions["items"][0]
    detail = await server.get(f"/api/v1/sessions/{summary['id']}")
    assert detail["transaction_id"] == tx
    assert detail["status"] == "completed"
    assert detail["id_tag"] == "TAG-1"
    assert detail["connector_id"] == 1
    assert detail["meter_start_wh"] == 12_000
    assert detail["meter_stop_wh"] == 20_250
    assert detail["energy_wh"] == 8_250
    assert detail["stop_reason"] == "EVDisconnected"
    assert datetime.fromisoformat(detail["started_at"]) == t0
    assert datetime.fromisoformat(detail["stopped_at"]) == t0 + timedelta(minutes=20)
    values = {
        (v["measurand"], v["phase"]): v
        for v in detail["meter_values"]
        if v["context"] == "Sample.Periodic"
    }
    energy = values[("Energy.Active.Import.Register", None)]
    assert Decimal(energy["value"]) == 15_500 and energy["unit"] == "Wh"
    assert energy["raw_value"] == "15.5" and energy["raw_unit"] == "kWh"
    power = values[("Power.Active.Import", None)]
    assert Decimal(power["value"]) == 11_200 and power["unit"] == "W"
    assert values[("Current.Import", "L1")]["unit"] == "A"
    assert values[("Voltage", "L1-N")]["raw_value"] == "230.5"
    assert values[("SoC", None)]["location"] == "EV"
    contexts = [v["context"] for v in detail["meter_values"]]
    assert "Transaction.End" in contexts  # transactionData is kept with the session


async def test_start_with_unknown_token_is_recorded_and_answered_invalid(
    server: RunningServer,
) -> None:
    await server.add_station("CP-1")
    async with charge_point(server, "CP-1") as cp:
        started = await cp.call(
            call.StartTransaction(
                connector_id=1, id_tag="STRANGER", meter_start=0, timestamp=now_iso()
            )
        )
    assert started.id_tag_info["status"] == "Invalid"
    (item,) = (await server.get("/api/v1/sessions"))["items"]
    assert item["authorization"] == "Invalid"
    assert item["transaction_id"] == started.transaction_id


async def test_repeated_start_transaction_gets_the_same_transaction_id(
    server: RunningServer,
) -> None:
    await server.add_station("CP-1")
    await server.add_token("TAG-1")
    at = now_iso()
    async with charge_point(server, "CP-1") as cp:
        first = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=500, timestamp=at)
        )
        again = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=500, timestamp=at)
        )
    assert again.transaction_id == first.transaction_id
    assert len((await server.get("/api/v1/sessions"))["items"]) == 1


async def test_repeated_meter_values_are_stored_once(server: RunningServer) -> None:
    await server.add_station("CP-1")
    sample = [
        {
            "timestamp": now_iso(),
            "sampledValue": [
                {"value": "100"},
                {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
            ],
        }
    ]
    async with charge_point(server, "CP-1") as cp:
        for _ in range(3):
            await cp.call(call.MeterValues(connector_id=1, meter_value=sample))
    async with server.db() as db:
        count = (await db.execute(select(func.count()).select_from(MeterValue))).scalar_one()
    assert count == 2


async def test_data_transfer_is_stored(server: RunningServer) -> None:
    await server.add_station("CP-1")
    async with charge_point(server, "CP-1") as cp:
        answer = await cp.call(
            call.DataTransfer(vendor_id="com.vendor", message_id="Temp", data='{"c": 41}')
        )
    assert answer.status in {"UnknownVendorId", "Accepted", "UnknownMessageId", "Rejected"}
    async with server.db() as db:
        event = (
            await db.execute(select(StationEvent).where(StationEvent.kind == "DataTransfer"))
        ).scalar_one()
    assert event.payload == {"vendor_id": "com.vendor", "message_id": "Temp", "data": '{"c": 41}'}


async def test_firmware_and_diagnostics_status_are_stored(server: RunningServer) -> None:
    await server.add_station("CP-1")
    async with charge_point(server, "CP-1") as cp:
        await cp.call(call.FirmwareStatusNotification(status="Downloading"))
        await cp.call(call.FirmwareStatusNotification(status="Installed"))
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
        station = await server.get("/api/v1/stations/CP-1")
    assert station["firmware_status"] == "Installed"
    assert station["diagnostics_status"] == "Uploaded"
    async with server.db() as db:
        kinds = (await db.execute(select(StationEvent.kind).order_by(StationEvent.id))).scalars()
        assert list(kinds) == [
            "FirmwareStatusNotification",
            "FirmwareStatusNotification",
            "DiagnosticsStatusNotification",
        ]
