"""People choose how they are told (channels, quiet hours), read their console inbox,
and staff read the delivery log: over HTTP against the running server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from chargeops.alerts import outbox
from chargeops.alerts.delivery import DeliveryConfig, Dispatcher
from chargeops.alerts.outbox import Message
from chargeops.storage.writer import Work
from chargeops.users import accounts
from chargeops.users import service as users
from tests.harness import RunningServer
from tests.integrations.http_receiver import Receiver, serving

CHANNELS = "/api/v1/me/notification-channels"
SETTINGS = "/api/v1/me/notification-settings"


async def _user(server: RunningServer, email: str, roles: str) -> tuple[int, httpx.AsyncClient]:
    """A user, and a client that acts as them (through one of their API keys)."""
    async with server.db() as db:
        user = await accounts.create_user(db, email, roles=roles)
        await db.flush()
        key = (await users.create_api_key(db, "k", user_id=user.id)).key
        await db.commit()
    client = httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    return user.id, client


async def _notify(server: RunningServer, user_id: int, subject: str) -> list[int]:
    async def unit(w: Work) -> list[int]:
        message = Message("incident.opened", subject, "text", severity="minor", station_id="CP-1")
        return [n.id for n in await outbox.notify_user(w, user_id, message, now=datetime.now(UTC))]

    assert server.app.writer is not None
    return await server.app.writer.submit(unit)


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    return detail


async def test_a_driver_manages_their_own_channels_and_quiet_hours(server: RunningServer) -> None:
    _, driver = await _user(server, "driver@example.com", "driver")
    async with driver:
        made = await driver.post(CHANNELS, json={"kind": "email", "address": "me@example.com"})
        assert made.status_code == 201, made.text
        assert made.json()["secret"] is None
        hook = await driver.post(
            CHANNELS, json={"kind": "webhook", "address": "https://app.example.com/hook"}
        )
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]
        assert secret.startswith("whsec_") and len(secret) > 40  # shown once...
        listed = (await driver.get(CHANNELS)).json()
        assert [(c["kind"], c["address"], c["secret"]) for c in listed] == [
            ("email", "me@example.com", None),
            ("webhook", "https://app.example.com/hook", None),  # ...and never again
        ]
        sms = await driver.post(CHANNELS, json={"kind": "sms", "address": "+49 170 1234567"})
        assert sms.json()["address"] == "+491701234567"

        refusals: list[tuple[dict[str, Any], str]] = [
            ({"kind": "email", "address": "me@"}, "not an email address"),
            ({"kind": "sms", "address": "0170 1234567"}, "E.164"),
            ({"kind": "webhook", "address": "ftp://x.example.com"}, "http:// or https://"),
            ({"kind": "webhook", "address": "http://127.0.0.1:5432/"}, "not allowed"),
            ({"kind": "webhook", "address": "http://169.254.169.254/x"}, "not allowed"),
            ({"kind": "console", "address": "x"}, "no address"),
            ({"kind": "email", "address": "me@example.com"}, "already"),
            ({"kind": "pager", "address": "1"}, "kind"),
            ({"kind": "email", "address": "x@example.com", "secret": "s" * 20}, "only a webhook"),
        ]
        for body, words in refusals:
            response = await driver.post(CHANNELS, json=body)
            status = 409 if words == "already" else 422
            assert words in _problem(response, status), body

        channel_id = made.json()["id"]
        off = await driver.patch(f"{CHANNELS}/{channel_id}", json={"enabled": False})
        assert off.status_code == 200 and off.json()["enabled"] is False
        rotated = await driver.patch(
            f"{CHANNELS}/{hook.json()['id']}", json={"rotate_secret": True}
        )
        assert rotated.json()["secret"] not in (None, secret)
        assert (await driver.delete(f"{CHANNELS}/{channel_id}")).status_code == 204
        assert "does not exist" in _problem(await driver.delete(f"{CHANNELS}/{channel_id}"), 404)

        default = (await driver.get(SETTINGS)).json()
        assert default == {
            "quiet_from": None,
            "quiet_until": None,
            "time_zone": "UTC",
            "session_notifications": True,
            "updated_at": None,
        }
        quiet = {"quiet_from": "22:00", "quiet_until": "06:30", "time_zone": "Europe/Berlin"}
        put = await driver.put(SETTINGS, json=quiet)
        assert put.status_code == 200, put.text
        assert (await driver.get(SETTINGS)).json() | {"updated_at": None} == quiet | {
            "updated_at": None,
            "session_notifications": True,
        }
        for body, words in [
            ({"quiet_from": "25:00", "quiet_until": "06:00"}, "HH:MM"),
            ({"quiet_from": "22:00"}, "both"),
            (quiet | {"time_zone": "Europe/Atlantis"}, "IANA time zone"),
            (quiet | {"volume": 3}, "volume"),
        ]:
            assert words in _problem(await driver.put(SETTINGS, json=body), 422)
        assert (await driver.get(SETTINGS)).json()["quiet_from"] == "22:00"  # unchanged
        cleared = await driver.put(SETTINGS, json={"time_zone": "UTC"})
        assert cleared.json()["quiet_from"] is None


async def test_the_console_inbox_pages_and_marks_read(server: RunningServer) -> None:
    driver_id, driver = await _user(server, "driver@example.com", "driver")
    async with driver:
        await driver.post(CHANNELS, json={"kind": "console"})
        for n in range(3):
            await _notify(server, driver_id, f"station CP-1 is back ({n})")
        first = (await driver.get("/api/v1/me/notifications", params={"limit": 2})).json()
        assert [i["subject"] for i in first["items"]] == [
            "station CP-1 is back (2)",
            "station CP-1 is back (1)",
        ]
        assert all(i["status"] == "sent" and i["read_at"] is None for i in first["items"])
        rest = await driver.get(
            "/api/v1/me/notifications", params={"limit": 2, "cursor": first["next_cursor"]}
        )
        [oldest] = rest.json()["items"]
        assert oldest["subject"] == "station CP-1 is back (0)"
        assert rest.json()["next_cursor"] is None

        read = await driver.post(f"/api/v1/me/notifications/{oldest['id']}/read")
        assert read.status_code == 200 and read.json()["read_at"] is not None
        unread = (await driver.get("/api/v1/me/notifications", params={"unread": True})).json()
        assert len(unread["items"]) == 2
        marked = await driver.post("/api/v1/me/notifications/read-all")
        assert marked.json() == {"marked": 2}
        unread = (await driver.get("/api/v1/me/notifications", params={"unread": True})).json()
        assert unread["items"] == []
        every = await driver.get("/api/v1/me/notifications", params={"channel": "all"})
        assert len(every.json()["items"]) == 3  # only the console was chosen
        by_sms = await driver.get("/api/v1/me/notifications", params={"channel": "sms"})
        assert by_sms.json()["items"] == []
        bogus = await driver.get("/api/v1/me/notifications", params={"channel": "pigeon"})
        assert "channel" in _problem(bogus, 422)


async def test_a_driver_sees_only_their_own_notifications(server: RunningServer) -> None:
    operator_id, operator = await _user(server, "ops@example.com", "operator")
    _, driver = await _user(server, "driver@example.com", "driver")
    [console, _] = await _notify(server, operator_id, "CP-1 faulted")
    async with operator, driver:
        mine = await operator.get(f"/api/v1/notifications/{console}")
        assert mine.status_code == 200 and mine.json()["delivery_log"] == []
        assert "does not exist" in _problem(
            await driver.get(f"/api/v1/notifications/{console}"), 404
        )
        assert (await driver.post(f"/api/v1/me/notifications/{console}/read")).status_code == 404
        assert "alerts:manage" in _problem(await driver.get("/api/v1/notifications"), 403)
        others = f"/api/v1/users/{operator_id}/notification-channels"
        assert (await driver.get(others)).status_code == 403
        assert (await driver.get("/api/v1/me/notifications")).json()["items"] == []


async def test_staff_set_up_someones_webhook_test_it_and_read_the_delivery_log(
    server: RunningServer,
) -> None:
    _, operator = await _user(server, "ops@example.com", "operator")
    driver_id, driver = await _user(server, "driver@example.com", "driver")
    receiver = Receiver()
    assert server.app.writer is not None and server.app.sessions is not None
    dispatcher = Dispatcher(server.app.writer, server.app.sessions, DeliveryConfig())
    theirs = f"/api/v1/users/{driver_id}/notification-channels"
    async with serving(receiver), operator, driver:
        # staff may point a webhook at the operator's own network
        made = await operator.post(theirs, json={"kind": "webhook", "address": receiver.url})
        assert made.status_code == 201, made.text
        receiver.secret = made.json()["secret"]
        assert [c["id"] for c in (await driver.get(CHANNELS)).json()] == [made.json()["id"]]
        assert (await operator.get("/api/v1/users/999999/notification-channels")).status_code == (
            404
        )

        tested = await operator.post(f"{theirs}/{made.json()['id']}/test")
        assert tested.status_code == 202, tested.text
        notification = tested.json()
        assert notification["event"] == "channel.test" and notification["user_id"] == driver_id
        assert notification["status"] in ("pending", "sending", "sent")
        await dispatcher.send_due(datetime.now(UTC))  # the server may have sent it already
        await dispatcher.stop()
        for _ in range(200):  # ...or may have claimed it and still be sending it
            detail = (await operator.get(f"/api/v1/notifications/{notification['id']}")).json()
            if detail["status"] not in ("pending", "sending"):
                break
            await asyncio.sleep(0.05)
        assert detail["status"] == "sent" and detail["attempts"] == 1

        [request] = receiver.received
        assert request.signature_ok
        assert request.headers["x-chargeops-delivery"] == notification["delivery_id"]
        [attempt] = detail["delivery_log"]
        assert attempt["ok"] and attempt["status_code"] == 200
        own = await driver.get(f"/api/v1/notifications/{notification['id']}")
        assert own.status_code == 200 and own.json()["delivery_log"] == detail["delivery_log"]
        listed = await operator.get(
            "/api/v1/notifications", params={"user_id": driver_id, "channel": "webhook"}
        )
        assert [n["id"] for n in listed.json()["items"]] == [notification["id"]]
        assert (await operator.get("/api/v1/notifications", params={"status": "failed"})).json()[
            "items"
        ] == []


async def test_test_messages_are_limited(server: RunningServer) -> None:
    _, driver = await _user(server, "driver@example.com", "driver")
    async with driver:
        console = (await driver.post(CHANNELS, json={"kind": "console"})).json()["id"]
        codes = [(await driver.post(f"{CHANNELS}/{console}/test")).status_code for _ in range(6)]
        assert codes == [202] * 5 + [429]
        [latest, *_] = (await driver.get("/api/v1/me/notifications")).json()["items"]
        assert latest["subject"] == "chargeops test notification"
        assert latest["status"] == "sent"  # the console shows it at once


async def test_an_api_key_of_nobody_has_no_channels(server: RunningServer) -> None:
    async with server.api() as admin:
        assert "belongs to no user" in _problem(await admin.get(CHANNELS), 403)
