"""The whole path on a running server: a charger reports a fault over its WebSocket, the
default rule opens an incident, and the operator on call gets an email (a real SMTP
server) and a signed webhook (a real HTTP server that checks the signature); when the
connector recovers, the incident resolves itself and both channels say so."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from ocpp.v16 import call as call16

from chargeops.users import accounts
from tests.alerts.test_delivery import Inbox
from tests.conftest import free_port
from tests.harness import RunningServer, charge_point
from tests.integrations.http_receiver import Receiver, serving

SECRET = "a-webhook-secret-of-the-operators-choice"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def mailing_server(
    database_url: str, ports: tuple[int, int], smtp: tuple[Inbox, int]
) -> AsyncIterator[RunningServer]:
    server = RunningServer(
        database_url,
        *ports,
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        smtp_security="none",
        smtp_sender="chargeops <alerts@example.com>",
        public_url="https://ops.example.com",
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _until(ready: Callable[[], bool], what: str) -> None:
    for _ in range(300):
        if ready():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def _add_channel(server: RunningServer, user_id: int, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        answer = await client.post(
            f"/api/v1/users/{user_id}/notification-channels",
            json=body,
            headers={"Authorization": f"Bearer {server.api_key}"},
        )
    assert answer.status_code == 201, answer.text


async def test_a_fault_reaches_the_operator_by_email_and_signed_webhook_and_its_end_too(
    mailing_server: RunningServer, smtp: tuple[Inbox, int]
) -> None:
    server, (inbox, _) = mailing_server, smtp
    await server.add_station("CP-E2E")
    async with server.db() as db:
        olivia = await accounts.create_user(db, "olivia@example.com", roles="operator")
        await db.commit()
    async with serving(Receiver(secret=SECRET)) as hook:
        await _add_channel(server, olivia.id, {"kind": "email", "address": "oncall@example.com"})
        await _add_channel(
            server, olivia.id, {"kind": "webhook", "address": hook.url, "secret": SECRET}
        )

        async with charge_point(server, "CP-E2E") as cp:
            await cp.call(call16.StatusNotification(1, "NoError", "Available"))
            await cp.call(
                call16.StatusNotification(
                    1, "GroundFailure", "Faulted", info="RCD tripped", vendor_error_code="E-117"
                )
            )
            await _until(lambda: bool(inbox.messages) and bool(hook.received), "the alert")

            [(recipients, mail)] = inbox.messages
            assert recipients == ["oncall@example.com"]
            assert "CP-E2E" in mail["Subject"] and "GroundFailure" in mail["Subject"]
            text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            assert "Where: CP-E2E, EVSE 1" in text
            assert "https://ops.example.com/stations/CP-E2E" in text
            [request] = hook.received
            assert request.signature_ok is True
            alert = json.loads(request.body)
            assert alert["event"] == "incident.opened" and alert["station_id"] == "CP-E2E"
            assert alert["incident"]["kind"] == "connector_faulted"
            assert alert["link"] == f"https://ops.example.com/incidents/{alert['incident_id']}"

            await cp.call(call16.StatusNotification(1, "NoError", "Available"))
            await _until(lambda: len(inbox.messages) == 2 and len(hook.received) == 2, "the end")
            assert inbox.messages[1][1]["Subject"].startswith("[RESOLVED]")
            resolved = json.loads(hook.received[1].body)
            assert resolved["event"] == "incident.resolved" and hook.received[1].signature_ok
            assert resolved["incident_id"] == alert["incident_id"]
