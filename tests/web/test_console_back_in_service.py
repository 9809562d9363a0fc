"""A driver finds a station out of service and asks, from its page, to be told when it is
back; the station recovers and they are told, once, in their console."""

from __future__ import annotations

import asyncio
import re

import httpx
from ocpp.v16 import call

from tests.harness import RunningServer, charge_point, now_iso
from tests.web.network import ALICE, add_people, csrf_token, logged_in

WAITING = "You will be told when this station is back in service."
OFFER = "Tell me when it is back"


def banner(page: httpx.Response) -> str:
    found = re.search(r'aria-label="Back in service">(.*?)</form>', page.text, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split()) if found else ""


async def test_a_driver_asks_to_hear_when_a_station_is_back_and_is_told_once(
    server: RunningServer,
) -> None:
    alice_id = (await add_people(server))[ALICE]
    await server.add_station("CP-9")
    async with logged_in(server, ALICE) as alice:
        token = await csrf_token(alice)
        offline = await alice.get("/stations/CP-9")
        asked = await alice.post("/stations/CP-9/subscription", data={"csrf": token})
        waiting = await alice.get(asked.headers["location"])
        again = await alice.post("/stations/CP-9/subscription", data={"csrf": token})
        cancelled = await alice.post("/stations/CP-9/subscription/cancel", data={"csrf": token})
        after_cancel = await alice.get(cancelled.headers["location"])
        forged = await alice.post("/stations/CP-9/subscription", data={})
        await alice.post("/stations/CP-9/subscription", data={"csrf": token})

        async with charge_point(server, "CP-9") as cp:
            await cp.call(
                call.StatusNotification(1, "GroundFailure", "Faulted", timestamp=now_iso())
            )
            faulted = await alice.get("/stations/CP-9")
            await cp.call(call.StatusNotification(1, "NoError", "Available", timestamp=now_iso()))
            for _ in range(200):
                inbox = await alice.get("/notifications")
                if "back in service" in inbox.text:
                    break
                await asyncio.sleep(0.05)
            in_service = await alice.get("/stations/CP-9")
            refused = await alice.post("/stations/CP-9/subscription", data={"csrf": token})

    assert banner(offline) == f"Out of service: CP-9 is offline. {OFFER}"
    assert asked.status_code == 303 and asked.headers["location"].endswith("?done=subscribed")
    assert "You will be told when the station is back in service" in waiting.text
    assert banner(waiting).startswith(WAITING)
    assert again.status_code == 303  # asking twice keeps the one subscription
    assert "You will not be told" in after_cancel.text and OFFER in banner(after_cancel)
    assert forged.status_code == 403
    # still out of service once connected, while its only connector is Faulted
    assert banner(faulted).startswith(WAITING)
    # told once, and the page no longer offers or promises anything
    assert inbox.text.count("back in service") >= 1
    assert banner(in_service) == ""
    assert refused.status_code == 409 and "is in service now" in refused.text
    async with httpx.AsyncClient(base_url=server.http_url) as api:
        listed = await api.get(
            "/api/v1/notifications",
            params={"user_id": alice_id},
            headers={"Authorization": f"Bearer {server.api_key}"},
        )
    assert listed.status_code == 200, listed.text
    told = [n["channel"] for n in listed.json()["items"] if n["event"] == "station.back_in_service"]
    assert sorted(told) == ["console", "email"]  # no channels chosen: console and account email
