"""Drivers hear about their own sessions, end to end: real chargers charge with a
driver's card, and the driver gets the email (a real SMTP server) or the webhook (a real
HTTP receiver) their account chose, once each, even when events are replayed. Idle fees
and offline stations follow an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from ocpp.v16 import call as call16
from ocpp.v16.enums import Reason
from ocpp.v201 import call as call201
from ocpp.v201.enums import ReasonEnumType
from sqlalchemy import select

from chargeops.alerts import channels
from chargeops.alerts.drivers import INTERRUPTIONS, NORMAL_STOPS, is_interruption
from chargeops.alerts.models import Notification, SessionNotice
from chargeops.core.events import TransactionEnded, TransactionStarted
from chargeops.monitoring.models import StationConnectivity
from chargeops.sessions.models import ChargingSession
from chargeops.storage.writer import Work
from chargeops.users import accounts
from chargeops.users import service as users
from chargeops.users.models import IdToken
from tests.alerts.test_delivery import Inbox, smtp
from tests.harness import RunningServer, charge_point, now_iso
from tests.integrations.http_receiver import Receiver, serving

__all__ = ["smtp"]  # the fixture, shared with test_delivery

T = TypeVar("T")
SECRET = "whsec_driver_app_secret_0123456789"
# sessions happen in the ten minutes before the test; idle fees are judged by the clock
# the test hands the notifier, so what lies after T0+10 min is in the future
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def at(minutes: float) -> str:
    return now_iso(T0 + timedelta(minutes=minutes))


@pytest.fixture
async def server(
    database_url: str, ports: tuple[int, int], tmp_path: Path, smtp: tuple[Inbox, int]
) -> AsyncIterator[RunningServer]:
    """A server that sends email through the test's SMTP server."""
    srv = RunningServer(
        database_url,
        *ports,
        data_dir=tmp_path,
        read_config_after_boot=False,
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        smtp_security="none",
        smtp_sender="chargeops <noreply@example.com>",
    )
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def _until(check: Callable[[], Awaitable[T]], tries: int = 200) -> T:
    """Notifications follow bus events, just after the charger's message commits."""
    for _ in range(tries):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    return await check()


async def _driver(server: RunningServer, email: str, tag: str) -> tuple[int, httpx.AsyncClient]:
    """A driver owning card ``tag``, and a client acting as them."""
    async with server.db() as db:
        user = await accounts.create_user(db, email, roles="driver")
        await db.flush()
        key = (await users.create_api_key(db, "app", user_id=user.id)).key
        await db.commit()
    await server.add_token(tag)
    async with server.db() as db:
        token = (await db.execute(select(IdToken).where(IdToken.id_tag == tag))).scalar_one()
        token.user_id = user.id
        await db.commit()
    client = httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    return user.id, client


async def _channel(server: RunningServer, user_id: int, kind: str, address: str = "") -> None:
    async def unit(w: Work) -> None:
        secret = SECRET if kind == "webhook" else None
        await channels.add_channel(
            w, user_id, kind=kind, address=address, secret=secret, now=datetime.now(UTC)
        )

    assert server.app.writer is not None
    await server.app.writer.submit(unit)


async def _tariff(server: RunningServer, *elements: dict[str, Any]) -> None:
    """A tariff for the whole network, in force since before T0."""
    since = now_iso(T0 - timedelta(days=1))
    async with server.api() as admin:
        made = await admin.post(
            "/api/v1/tariffs",
            json={
                "name": "Network",
                "document": {"currency": "EUR", "elements": list(elements)},
                "valid_from": since,
            },
        )
        assert made.status_code == 201, made.text
        assigned = await admin.post(
            f"/api/v1/tariffs/{made.json()['id']}/assignments",
            json={"scope": "default", "valid_from": since},
        )
        assert assigned.status_code == 201, assigned.text


def _price(kind: str, price: str, step: int = 1) -> dict[str, Any]:
    return {"type": kind, "price": price, "step_size": step, "vat": "19"}


async def _at_least(items: Sequence[Any], count: int) -> bool:
    return len(items) >= count


async def _told(server: RunningServer, user_id: int, channel: str | None = None) -> list[str]:
    async with server.db() as db:
        stmt = select(Notification).where(Notification.user_id == user_id)
        if channel is not None:
            stmt = stmt.where(Notification.channel == channel)
        rows = (await db.scalars(stmt.order_by(Notification.id))).all()
        return [n.event for n in rows]


async def _notices(server: RunningServer, session_id: int) -> set[str]:
    async with server.db() as db:
        rows = await db.scalars(
            select(SessionNotice.kind).where(SessionNotice.session_id == session_id)
        )
        return set(rows.all())


def test_every_ocpp_stop_reason_is_classified_for_drivers() -> None:
    """Each OCPP 1.6 Reason and 2.0.1 ReasonEnumType is a normal stop or an
    interruption on purpose; one we do not know (a later version's) is an interruption."""
    for reason in [*Reason, *ReasonEnumType]:
        assert (reason.value in NORMAL_STOPS) != (reason.value in INTERRUPTIONS), reason
    for normal in ("Local", "Remote", "EVDisconnected", "StoppedByEV", "DeAuthorized", None):
        assert not is_interruption(normal), normal
    for cut in ("PowerLoss", "EmergencyStop", "Reboot", "SoftReset", "Other", "Vendor42"):
        assert is_interruption(cut), cut


async def test_a_driver_is_emailed_when_charging_starts_and_stops_once_each(
    server: RunningServer, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    driver, app = await _driver(server, "driver@example.com", "CARD-D1")
    await _tariff(server, {"price_components": [_price("ENERGY", "0.30")]})
    await server.add_station("CP-D1")
    async with app, charge_point(server, "CP-D1") as cp:
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="card-d1", meter_start=1_000, timestamp=at(0)
            )
        )
        tx = int(started.transaction_id)
        assert await _until(lambda: _notices(server, tx))  # told it started
        await cp.call(
            call16.StopTransaction(
                meter_stop=11_000, timestamp=at(5), transaction_id=tx, reason="Local"
            )
        )
        await _until(lambda: _at_least(inbox.messages, 2))

        # nobody set up a channel: the account's email (and the console) hear of it
        mail = {m["X-Chargeops-Event"]: m for _, m in inbox.messages}
        assert mail["session.started"]["Subject"] == "Charging started at CP-D1"
        stopped = mail["session.stopped"]
        assert stopped["Subject"] == "Charging finished at CP-D1: 10.000 kWh, 3.57 EUR"
        assert all(to == ["driver@example.com"] for to, _ in inbox.messages)
        body = stopped.get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        assert "ended at" in text and "you stopped it at the station" in text
        assert "Energy: 10.000 kWh" in text and "Duration: 5 min" in text
        assert "Cost: 3.57 EUR incl. VAT (3.00 excl. VAT)" in text
        assert f"/sessions/{tx}" in text
        assert await _told(server, driver, "console") == ["session.started", "session.stopped"]

        # the same facts delivered again (a replay, a second process) tell nobody twice
        async with server.db() as db:
            session = await db.get(ChargingSession, tx)
            assert session is not None
        server.app.bus.publish(
            [
                TransactionStarted("CP-D1", session.started_at, tx, 1, "card-d1", 1_000),
                TransactionEnded("CP-D1", session.started_at, tx, 1, 10_000, "Local"),
            ]
        )
        await server.app.bus.drain()
        assert len(await _told(server, driver)) == 4  # console and email, twice

        # a driver who turns session notifications off hears nothing of the next one
        off = await app.put(
            "/api/v1/me/notification-settings",
            json={"time_zone": "Europe/Berlin", "session_notifications": False},
        )
        assert off.status_code == 200, off.text
        assert off.json()["session_notifications"] is False
        kept = await app.put("/api/v1/me/notification-settings", json={"time_zone": "UTC"})
        assert kept.json()["session_notifications"] is False  # not given: unchanged
        second = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="CARD-D1", meter_start=11_000, timestamp=at(6)
            )
        )
        await cp.call(
            call16.StopTransaction(
                meter_stop=12_000, timestamp=at(8), transaction_id=int(second.transaction_id)
            )
        )
        assert await _until(lambda: _ended(server, int(second.transaction_id)))
        assert await _notices(server, int(second.transaction_id)) == {"started", "ended"}
        await server.app.bus.drain()
        assert len(await _told(server, driver)) == 4


def _event(kind: str, seq: int, minutes: float, wh: int, tx: str, **info: Any) -> Any:
    extra: dict[str, Any] = {}
    if kind == "Started":
        extra = {
            "evse": {"id": 1, "connector_id": 1},
            "id_token": {"id_token": "APP-D2", "type": "Central"},
        }
    return call201.TransactionEvent(
        event_type=kind,
        timestamp=at(minutes),
        trigger_reason="Authorized" if kind == "Started" else "MeterValuePeriodic",
        seq_no=seq,
        transaction_info={"transaction_id": tx, **info},
        meter_value=[
            {
                "timestamp": at(minutes),
                "sampled_value": [
                    {
                        "value": wh,
                        "measurand": "Energy.Active.Import.Register",
                        "unit_of_measure": {"unit": "Wh"},
                    }
                ],
            }
        ],
        **extra,
    )


async def test_the_driver_app_hears_of_interruptions_by_webhook(server: RunningServer) -> None:
    driver, app = await _driver(server, "app.driver@example.com", "APP-D2")
    await server.add_station("CP-D2")
    async with app, serving(Receiver(secret=SECRET)) as receiver:
        await _channel(server, driver, "webhook", receiver.url)
        async with charge_point(server, "CP-D2", version="2.0.1") as cp:
            await cp.call(_event("Started", 0, 0, 5_000, "TX-A", charging_state="Charging"))
            await _until(lambda: _at_least(receiver.received, 1))
            await cp.call(_event("Ended", 1, 3, 12_500, "TX-A", stopped_reason="PowerLoss"))
            # a second session: the connector faults during it, then it is stopped
            await cp.call(_event("Started", 0, 4, 12_500, "TX-B", charging_state="Charging"))
            await _until(lambda: _at_least(receiver.received, 3))
            await cp.call(
                call201.StatusNotification(
                    timestamp=now_iso(), connector_status="Faulted", evse_id=1, connector_id=1
                )
            )
            await _until(lambda: _at_least(receiver.received, 4))
            await cp.call(_event("Ended", 1, 8, 13_000, "TX-B", stopped_reason="Local"))
            await _until(lambda: _at_least(receiver.received, 5))

    bodies = sorted(
        (orjson.loads(r.body) for r in receiver.received), key=lambda b: b["notification_id"]
    )
    assert all(r.signature_ok for r in receiver.received)
    told = {
        tx: [b["event"] for b in bodies if b["transaction_id"] == tx] for tx in ("TX-A", "TX-B")
    }
    assert told == {
        "TX-A": ["session.started", "session.interrupted"],
        # the fault while it was open, then its end: a stop, not a second interruption
        "TX-B": ["session.started", "session.interrupted", "session.stopped"],
    }
    bodies = [b for b in bodies if b["transaction_id"] == "TX-A"] + [
        b for b in bodies if b["transaction_id"] == "TX-B"
    ]
    cut = bodies[1]
    assert cut["station_id"] == "CP-D2" and cut["evse_id"] == 1
    assert cut["session_id"] == bodies[0]["session_id"]
    assert cut["started_at"] == at(0).replace("Z", ".000Z")
    assert cut["stopped_at"] == at(3).replace("Z", ".000Z")
    assert cut["energy_wh"] == 7_500 and cut["energy_kwh"] == "7.500"
    assert cut["duration_s"] == 180
    assert cut["stop_reason"] == "PowerLoss" and cut["interrupted"] is True
    assert cut["reason_text"] == "the station lost power"
    assert cut["cost"] is None  # no tariff applies
    assert cut["subject"] == "Charging interrupted at CP-D2: the station lost power"
    assert cut["link"].endswith(f"/sessions/{cut['session_id']}")
    fault = bodies[3]
    assert fault["cause"] == "fault" and fault["error_code"] == "NoError"
    assert fault["energy_wh_so_far"] == 0  # only the start's register so far
    assert bodies[4]["interrupted"] is False and bodies[4]["energy_kwh"] == "0.500"
    assert {r.headers["x-chargeops-event"] for r in receiver.received} == {
        "session.started",
        "session.interrupted",
        "session.stopped",
    }


async def test_idle_fees_and_a_lost_station_are_told_when_they_begin(
    server: RunningServer,
) -> None:
    notifier = server.app.drivers
    assert notifier is not None
    driver, app = await _driver(server, "parker@example.com", "CARD-D3")
    await _channel(server, driver, "console")
    # idle time is free for the first 30 minutes of a session, then 6.00/h + 19 % VAT
    await _tariff(
        server,
        {"price_components": [_price("ENERGY", "0.30")]},
        {
            "price_components": [_price("PARKING_TIME", "6.00", 60)],
            "restrictions": {"min_duration": 1800},
        },
    )
    await server.add_station("CP-D3")
    async with app, charge_point(server, "CP-D3") as cp:

        async def status(state: str, minutes: float) -> None:
            await cp.call(
                call16.StatusNotification(
                    connector_id=1, error_code="NoError", status=state, timestamp=at(minutes)
                )
            )

        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="CARD-D3", meter_start=0, timestamp=at(0)
            )
        )
        tx = int(started.transaction_id)
        await status("Charging", 0)
        await status("SuspendedEV", 5)  # full after 5 minutes, still plugged in
        await _until(lambda: _told(server, driver))
        await server.app.bus.drain()
        assert await _told(server, driver) == ["session.started"]

        assert await notifier.check(T0 + timedelta(minutes=29)) == 0
        assert await notifier.check(T0 + timedelta(minutes=31)) == 1
        assert await notifier.check(T0 + timedelta(minutes=40)) == 0
        async with server.db() as db:
            idle = (
                await db.scalars(
                    select(Notification).where(Notification.event == "session.idle_fee_started")
                )
            ).one()
        assert idle.subject == "Idle fees now apply at CP-D3"
        assert f"stopped charging at {(T0 + timedelta(minutes=5)):%Y-%m-%d %H:%M} UTC" in idle.body
        assert f"Since {(T0 + timedelta(minutes=30)):%Y-%m-%d %H:%M} UTC" in idle.body
        assert "7.14 EUR per hour incl. VAT (6.00 EUR per hour excl. VAT)" in idle.body
        assert idle.payload["idle_fee_from"] == at(30).replace("Z", ".000Z")
        assert idle.payload["idle_fee"]["price_per_hour_excl_vat"] == "6.00"

    # the station drops off: a blip is nothing, five minutes without it is news
    since = await _until(lambda: _offline_since(server, "CP-D3"))
    assert since is not None
    assert await notifier.check(since + timedelta(minutes=4)) == 0
    assert await notifier.check(since + timedelta(minutes=6)) == 1
    assert await notifier.check(since + timedelta(minutes=7)) == 0
    async with charge_point(server, "CP-D3") as cp:
        await cp.call(
            call16.StopTransaction(
                meter_stop=8_000, timestamp=at(50), transaction_id=tx, reason="PowerLoss"
            )
        )
        await _until(lambda: _ended(server, tx))
    await server.app.bus.drain()
    assert await _told(server, driver) == [
        "session.started",
        "session.idle_fee_started",
        "session.interrupted",
        "session.stopped",  # the interruption was told: its end is a stop, with figures
    ]


async def _offline_since(server: RunningServer, station_id: str) -> datetime | None:
    async with server.db() as db:
        state = await db.get(StationConnectivity, station_id)
        return state.since if state is not None and not state.online else None


async def _ended(server: RunningServer, session_id: int) -> bool:
    return "ended" in await _notices(server, session_id)
