"""Station subscriptions: a driver asks to hear when a station out of service is back,
over HTTP against the running server, and hears it once, by webhook (the real HTTP
receiver) when a connector reports Available, or from the periodic check (an injected
clock) when a station reconnects without reporting its connectors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import orjson
from ocpp.v16 import call as call16
from sqlalchemy import select

from chargeops.alerts import channels
from chargeops.alerts.models import Notification
from chargeops.monitoring.models import StationConnectivity
from chargeops.storage.writer import Work
from chargeops.users import accounts
from chargeops.users import service as users
from tests.harness import RunningServer, charge_point
from tests.integrations.http_receiver import Receiver, serving

T = TypeVar("T")
SECRET = "whsec_subscriber_secret_0123456789"
MINE = "/api/v1/me/subscriptions"


def _subscribe(station_id: str) -> str:
    return f"/api/v1/stations/{station_id}/subscriptions"


async def _person(server: RunningServer, email: str, roles: str = "driver") -> tuple[int, Any]:
    async with server.db() as db:
        user = await accounts.create_user(db, email, roles=roles)
        await db.flush()
        key = (await users.create_api_key(db, "k", user_id=user.id)).key
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


async def _until(check: Callable[[], Awaitable[T]], tries: int = 200) -> T:
    for _ in range(tries):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    return await check()


def _status(status: str, code: str = "NoError", connector: int = 1) -> Any:
    return call16.StatusNotification(connector_id=connector, error_code=code, status=status)


async def _told(server: RunningServer, user_id: int) -> list[Notification]:
    await server.app.bus.drain()
    async with server.db() as db:
        rows = await db.scalars(
            select(Notification)
            .where(Notification.user_id == user_id, Notification.event == "station.back_in_service")
            .order_by(Notification.id)
        )
        return list(rows.all())


async def test_a_subscriber_hears_once_when_a_faulted_station_is_available_again(
    server: RunningServer,
) -> None:
    driver, app = await _person(server, "waiting@example.com")
    _, stranger = await _person(server, "other@example.com")
    await server.add_station("CP-S1")
    await server.add_station("CP-S2")
    async with (
        app,
        stranger,
        serving(Receiver(secret=SECRET)) as receiver,
        charge_point(server, "CP-S1") as cp,
        charge_point(server, "CP-S2") as working,
    ):
        await _channel(server, driver, "webhook", receiver.url)
        await cp.call(_status("Faulted", "GroundFailure"))
        await cp.call(_status("Faulted", "GroundFailure", connector=2))
        await working.call(_status("Available"))
        await server.app.bus.drain()

        station = await app.post(_subscribe("CP-S1"))
        assert station.status_code == 201, station.text
        assert station.json()["status"] == "waiting" and station.json()["evse_id"] is None
        again = await app.post(_subscribe("CP-S1"), json={})
        assert again.status_code == 200 and again.json()["id"] == station.json()["id"]
        evse = await app.post(_subscribe("CP-S1"), json={"evse_id": 2})
        assert evse.status_code == 201, evse.text
        assert evse.json()["evse_id"] == 2

        # what cannot be waited for says why
        busy = await stranger.post(_subscribe("CP-S2"))
        assert busy.status_code == 409, busy.text
        assert "in service now (EVSE 1 is Available)" in busy.json()["detail"]
        assert (await app.post(_subscribe("CP-NONE"))).status_code == 404
        unknown = await app.post(_subscribe("CP-S1"), json={"evse_id": 9})
        assert unknown.status_code == 404 and "no EVSE 9" in unknown.json()["detail"]
        async with server.api() as nobody:  # a key of no user has nobody to tell
            assert (await nobody.post(_subscribe("CP-S1"))).status_code == 403

        # EVSE 1 recovers: the station subscription is fulfilled, the EVSE 2 one waits
        await cp.call(_status("Available"))
        await _until(lambda: _at_least(receiver.received, 1))
        mine = {s["id"]: s for s in (await app.get(MINE)).json()}
        assert mine[station.json()["id"]]["status"] == "fulfilled"
        assert mine[station.json()["id"]]["fulfilled_at"] is not None
        assert mine[evse.json()["id"]]["status"] == "waiting"
        await cp.call(_status("Available", connector=2))
        await _until(lambda: _at_least(receiver.received, 2))

        # told once: the next outage's end tells nobody who did not ask again
        await cp.call(_status("Faulted", "GroundFailure"))
        await cp.call(_status("Available"))
        assert len(await _told(server, driver)) == 2

        fulfilled = await app.get(MINE, params={"status": "fulfilled"})
        assert len(fulfilled.json()) == 2
        assert (await stranger.delete(f"{MINE}/{station.json()['id']}")).status_code == 404
        assert (await app.delete(f"{MINE}/{station.json()['id']}")).status_code == 204
        assert (await app.delete(f"{MINE}/{station.json()['id']}")).status_code == 404
        assert [s["id"] for s in (await app.get(MINE)).json()] == [evse.json()["id"]]

    bodies = [orjson.loads(r.body) for r in receiver.received]
    assert all(r.signature_ok for r in receiver.received)
    assert [b["event"] for b in bodies] == ["station.back_in_service"] * 2
    first, second = bodies
    assert first["subscription_id"] == station.json()["id"] and first["evse_id"] is None
    assert first["station_id"] == "CP-S1" and first["available_evse_ids"] == [1]
    assert first["subject"] == "CP-S1 is back in service"
    assert first["available_at"].endswith("Z")
    assert second["subject"] == "CP-S1 EVSE 2 is available again"
    assert second["available_evse_ids"] == [1, 2]


async def _at_least(items: list[Any], count: int) -> bool:
    return len(items) >= count


async def test_a_station_back_online_is_judged_once_it_has_settled(
    server: RunningServer,
) -> None:
    watcher = server.app.subscriptions
    assert watcher is not None
    driver, app = await _person(server, "outage@example.com")
    await _channel(server, driver, "console")
    await server.add_station("CP-S3")
    async with charge_point(server, "CP-S3") as cp:
        await cp.call(_status("Available"))
    await _until(lambda: _connected(server, "CP-S3", online=False))
    async with app:
        made = await app.post(_subscribe("CP-S3"))
        assert made.status_code == 201, made.text

    # it reconnects without saying anything of its connectors (no reboot)
    async with charge_point(server, "CP-S3"):
        since = await _until(lambda: _connected(server, "CP-S3", online=True))
        assert isinstance(since, datetime)
        assert await watcher.check(since + timedelta(seconds=30)) == 0  # not settled yet
        assert await watcher.check(since + timedelta(seconds=61)) == 1
        assert await watcher.check(since + timedelta(seconds=120)) == 0
    [told] = await _told(server, driver)
    assert told.channel == "console" and told.subject == "CP-S3 is back in service"
    assert "one-time notice" in told.body


async def _connected(server: RunningServer, station_id: str, *, online: bool) -> datetime | None:
    async with server.db() as db:
        state = await db.get(StationConnectivity, station_id)
        return state.since if state is not None and state.online is online else None
