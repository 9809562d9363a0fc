"""The correctness rules: who may connect, retries, offline data, bad frames, reconnects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import websockets
from ocpp.v16 import call
from sqlalchemy import select
from websockets.exceptions import InvalidStatus

from chargeops.stations.models import StationEvent
from tests.conftest import free_port
from tests.harness import RunningServer, charge_point, now_iso, raw_call

PASSWORD = "correct-horse-battery-staple"


# --- station authentication (security profile 1) ------------------------------------------


async def test_station_with_password_connects_with_it(server: RunningServer) -> None:
    await server.add_station("CP-SEC", password=PASSWORD)
    async with charge_point(server, "CP-SEC", password=PASSWORD) as cp:
        assert (await cp.call(call.Heartbeat())).current_time
    # a second connection is admitted from the remembered verification, still correctly
    async with charge_point(server, "CP-SEC", password=PASSWORD) as cp:
        assert (await cp.call(call.Heartbeat())).current_time


@pytest.mark.parametrize("password", [None, "wrong-password-1234", PASSWORD.upper()])
async def test_wrong_or_missing_password_is_refused(
    server: RunningServer, password: str | None
) -> None:
    await server.add_station("CP-SEC", password=PASSWORD)
    with pytest.raises(InvalidStatus) as refused:
        async with charge_point(server, "CP-SEC", password=password):
            pass
    assert refused.value.response.status_code == 401
    assert "Basic" in refused.value.response.headers.get("WWW-Authenticate", "")


async def test_wrong_password_after_a_right_one_is_still_refused(server: RunningServer) -> None:
    await server.add_station("CP-SEC", password=PASSWORD)
    async with charge_point(server, "CP-SEC", password=PASSWORD):
        pass
    with pytest.raises(InvalidStatus) as refused:
        async with charge_point(server, "CP-SEC", password="not-the-password-0000"):
            pass
    assert refused.value.response.status_code == 401


async def test_basic_auth_user_must_be_the_station_id(server: RunningServer) -> None:
    import base64

    await server.add_station("CP-SEC", password=PASSWORD)
    token = base64.b64encode(f"SOMEONE-ELSE:{PASSWORD}".encode()).decode()
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            f"{server.ocpp_url}/CP-SEC",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
        ):
            pass
    assert refused.value.response.status_code == 401


# --- unknown stations ---------------------------------------------------------------------


@pytest.fixture
async def policy_server(
    request: pytest.FixtureRequest, sqlite_url: str
) -> AsyncIterator[RunningServer]:
    srv = RunningServer(sqlite_url, free_port(), free_port(), unknown_stations=request.param)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.mark.parametrize("policy_server", ["accept"], indirect=True)
async def test_unknown_station_accepted_when_policy_is_accept(
    policy_server: RunningServer,
) -> None:
    async with charge_point(policy_server, "NEW-1") as cp:
        boot = await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
    assert boot.status == "Accepted"
    station = await policy_server.get("/api/v1/stations/NEW-1")
    assert station["registration"] == "accepted"


@pytest.mark.parametrize("policy_server", ["pending"], indirect=True)
async def test_unknown_station_pending_cannot_charge_until_registered(
    policy_server: RunningServer,
) -> None:
    await policy_server.add_token("TAG-1")
    async with charge_point(policy_server, "NEW-1") as cp:
        boot = await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        assert boot.status == "Pending"
        auth = await cp.call(call.Authorize(id_tag="TAG-1"))
        assert auth.id_tag_info["status"] == "Invalid"
    station = await policy_server.get("/api/v1/stations/NEW-1")
    assert station["registration"] == "pending"
    await policy_server.add_station("NEW-1")  # the operator approves it
    async with charge_point(policy_server, "NEW-1") as cp:
        boot = await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        assert boot.status == "Accepted"
        auth = await cp.call(call.Authorize(id_tag="TAG-1"))
        assert auth.id_tag_info["status"] == "Accepted"


@pytest.mark.parametrize("policy_server", ["reject"], indirect=True)
async def test_unknown_station_refused_when_policy_is_reject(
    policy_server: RunningServer,
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with charge_point(policy_server, "NEW-1"):
            pass
    assert refused.value.response.status_code == 404
    await policy_server.add_station("KNOWN-1")
    async with charge_point(policy_server, "KNOWN-1") as cp:
        boot = await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
    assert boot.status == "Accepted"


# --- paths and subprotocols ---------------------------------------------------------------


async def test_bare_path_without_ocpp_prefix_works(server: RunningServer) -> None:
    await server.add_station("CP-1")
    url = f"ws://127.0.0.1:{server.settings.ocpp_port}/CP-1"
    async with charge_point(server, "CP-1", path=url) as cp:
        assert (await cp.call(call.Heartbeat())).current_time


async def test_unsupported_subprotocol_is_refused_clearly(server: RunningServer) -> None:
    await server.add_station("CP-1")
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            f"{server.ocpp_url}/CP-1",
            subprotocols=["ocpp1.2"],  # type: ignore[list-item]
        ):
            pass
    assert refused.value.response.status_code == 400
    assert b"ocpp1.6" in refused.value.response.body


# --- retries and offline data -------------------------------------------------------------


async def test_repeated_stop_transaction_is_answered_and_changes_nothing(
    server: RunningServer,
) -> None:
    await server.add_station("CP-1")
    await server.add_token("TAG-1")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    async with charge_point(server, "CP-1") as cp:
        tx = (
            await cp.call(
                call.StartTransaction(
                    connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp=now_iso(t0)
                )
            )
        ).transaction_id
        stop = call.StopTransaction(
            meter_stop=4000,
            timestamp=now_iso(t0 + timedelta(minutes=30)),
            transaction_id=tx,
            reason="Local",
        )
        await cp.call(stop)
        first = (await server.get("/api/v1/sessions"))["items"][0]
        again = await cp.call(stop)  # the charger never saw our first answer
        assert again is not None
        # even a retry carrying other values does not rewrite a completed session
        await cp.call(
            call.StopTransaction(
                meter_stop=9999, timestamp=now_iso(), transaction_id=tx, reason="Other"
            )
        )
    after = (await server.get("/api/v1/sessions"))["items"]
    assert after == [first]
    assert first["energy_wh"] == 3000


async def test_transaction_stopped_offline_keeps_the_chargers_stop_time(
    server: RunningServer,
) -> None:
    await server.add_station("CP-1")
    await server.add_token("TAG-1")
    started = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    stopped = datetime(2026, 11, 20, 9, 17, 42, tzinfo=UTC)
    async with charge_point(server, "CP-1") as cp:
        tx = (
            await cp.call(
                call.StartTransaction(
                    connector_id=2, id_tag="TAG-1", meter_start=50_000, timestamp=now_iso(started)
                )
            )
        ).transaction_id
    # ... the connection drops; the charger stops the session offline, then reconnects
    # and delivers its queued StopTransaction, hours later
    async with charge_point(server, "CP-1") as cp:
        await cp.call(
            call.StopTransaction(
                meter_stop=71_300,
                timestamp="2026-11-20T10:17:42+01:00",
                transaction_id=tx,
                reason="EVDisconnected",
            )
        )
    (session,) = (await server.get("/api/v1/sessions"))["items"]
    assert datetime.fromisoformat(session["stopped_at"]) == stopped
    assert session["energy_wh"] == 21_300


async def test_stop_for_an_unknown_transaction_is_answered_and_kept(
    server: RunningServer,
) -> None:
    await server.add_station("CP-1")
    async with charge_point(server, "CP-1") as cp:
        answer = await cp.call(
            call.StopTransaction(meter_stop=10, timestamp=now_iso(), transaction_id=424242)
        )
    assert answer is not None
    async with server.db() as db:
        event = (
            await db.execute(
                select(StationEvent).where(StationEvent.kind == "UnknownTransactionStop")
            )
        ).scalar_one()
    assert event.payload["transaction_ref"] == "424242"
    assert event.payload["meter_stop_wh"] == 10


# --- malformed frames ---------------------------------------------------------------------


@pytest.fixture
async def raw_ws(server: RunningServer) -> AsyncIterator[websockets.ClientConnection]:
    await server.add_station("CP-RAW")
    async with websockets.connect(
        f"{server.ocpp_url}/CP-RAW",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
    ) as ws:
        yield ws


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('[2,"u1","MakeCoffee",{}]', "NotImplemented"),
        ('[2,"u2","Reset",{"type":"Hard"}]', "NotSupported"),
        (
            '[2,"u3","StatusNotification",{"connectorId":"one","errorCode":"NoError",'
            '"status":"Available"}]',
            "TypeConstraintViolation",
        ),
        (
            '[2,"u4","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
            '"status":"Sleeping"}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2,"u5","StatusNotification",{"connectorId":1,"errorCode":"NoError"}]',
            "FormationViolation",
        ),
        ('[2,"u6","Authorize",{"idTag":"ABCDEFGHIJKLMNOPQRSTU"}]', "TypeConstraintViolation"),
        ('[2,"u7","Heartbeat",["not","an","object"]]', "FormationViolation"),
        ('[2,"u8","Heartbeat",{"extra":1}]', "FormationViolation"),
        (
            '[2,"u9","StartTransaction",{"connectorId":1,"idTag":"T","meterStart":0,'
            '"timestamp":"yesterday"}]',
            "TypeConstraintViolation",
        ),
        ('[2,"u10","Heartbeat",{', "FormationViolation"),
    ],
)
async def test_malformed_frame_gets_the_right_call_error(
    raw_ws: websockets.ClientConnection, frame: str, code: str
) -> None:
    answer = await raw_call(raw_ws, frame)
    unique_id = frame.split('"')[1]
    assert answer[:3] == [4, unique_id, code]
    assert isinstance(answer[3], str) and answer[3]
    # the connection stays usable
    assert (await raw_call(raw_ws, '[2,"ok","Heartbeat",{}]'))[:2] == [3, "ok"]


async def test_garbage_is_ignored_and_the_connection_stays_usable(
    raw_ws: websockets.ClientConnection,
) -> None:
    for garbage in ("hello", "{}", "[]", "[2]", "42", '{"a": [2, "x"]}', "\x00\xff", ""):
        await raw_ws.send(garbage)
    await raw_ws.send(b"\x01\x02binary")
    answer = await raw_call(raw_ws, '[2,"after","Heartbeat",{}]')
    assert answer[:2] == [3, "after"]


async def test_nothing_a_charger_sends_crashes_the_server(
    server: RunningServer, raw_ws: websockets.ClientConnection
) -> None:
    frames = [
        '[2,"a1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z",'
        '"sampledValue":[{"value":"NaN"},{"value":"1e999999"},{"value":"-0"}]}]}]',
        '[2,"a2","StopTransaction",{"meterStop":-5,"timestamp":"2026-01-01T00:00:00Z",'
        '"transactionId":-1}]',
        '[2,"a3","StartTransaction",{"connectorId":99999999999,"idTag":"T","meterStart":'
        '99999999999999,"timestamp":"2026-01-01T00:00:00Z"}]',
        '[2,"a4","DataTransfer",{"vendorId":"v","data":"' + "x" * 100_000 + '"}]',
        '[3,"nobody-asked",{}]',
        '[4,"nobody-asked","GenericError","",{}]',
        json.dumps(
            [2, "a5", "BootNotification", {"chargePointVendor": "é✓", "chargePointModel": "\u0000"}]
        ),
    ]
    for frame in frames:
        await raw_ws.send(frame)
    answered: list[list[object]] = []
    while len(answered) < 5:
        answered.append(json.loads(await asyncio.wait_for(raw_ws.recv(), 5)))
    assert {a[1] for a in answered} == {"a1", "a2", "a3", "a4", "a5"}
    assert all(a[0] in (3, 4) for a in answered)
    assert (await raw_call(raw_ws, '[2,"alive","Heartbeat",{}]'))[:2] == [3, "alive"]
    async with server.api() as client:
        assert (await client.get("/health")).status_code == 200


# --- reconnects ---------------------------------------------------------------------------


async def test_reconnect_replaces_the_old_connection(server: RunningServer) -> None:
    await server.add_station("CP-1")
    async with websockets.connect(
        f"{server.ocpp_url}/CP-1",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
    ) as old:
        assert (await raw_call(old, '[2,"1","Heartbeat",{}]'))[0] == 3
        async with charge_point(server, "CP-1") as new:
            await asyncio.wait_for(old.wait_closed(), 5)
            assert old.close_code == 4000
            assert (await new.call(call.Heartbeat())).current_time
            station = await server.get("/api/v1/stations/CP-1")
            assert station["online"] is True  # the old socket's end does not mark it offline
            assert len(server.app.gateway.presence) == 1  # type: ignore[union-attr]
    await asyncio.sleep(0.2)
    station = await server.get("/api/v1/stations/CP-1")
    assert station["online"] is False
