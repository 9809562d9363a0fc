"""Logins and roles: who may see and do what, and over whose records."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ocpp.v16 import call as call16

from chargeops.users import accounts
from chargeops.users.models import IdToken
from tests.harness import RunningServer, charge_point, now_iso

PASSWORD = "correct horse battery"


@pytest.fixture
async def server(
    database_url: str, ports: tuple[int, int], tmp_path: Path
) -> AsyncIterator[RunningServer]:
    srv = RunningServer(database_url, *ports, data_dir=tmp_path, read_config_after_boot=False)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def add_user(server: RunningServer, email: str, *roles: str, org: str | None = None) -> int:
    async with server.db() as db:
        user = await accounts.create_user(
            db, email, roles=list(roles), password=PASSWORD, organization=org
        )
        await db.commit()
        return user.id


async def log_in(server: RunningServer, email: str, password: str = PASSWORD) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        return await client.post(
            "/api/v1/auth/login", data={"username": email, "password": password}
        )


async def as_user(server: RunningServer, email: str) -> httpx.AsyncClient:
    response = await log_in(server, email)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    return httpx.AsyncClient(base_url=server.http_url, headers={"Authorization": f"Bearer {token}"})


async def test_log_in_refresh_and_log_out(server: RunningServer) -> None:
    await add_user(server, "ops@example.com", "operator")
    login = await log_in(server, "OPS@example.com")  # emails ignore case
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        me = (await client.get("/api/v1/auth/me", headers=bearer)).json()
        assert me["roles"] == ["operator"] and "stations:control" in me["permissions"]
        assert (await client.get("/api/v1/stations", headers=bearer)).status_code == 200
        renewed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert renewed.status_code == 200
        replayed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert replayed.status_code == 401  # a refresh token is used up
        fresh = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
        assert (await client.post("/api/v1/auth/logout", headers=fresh)).status_code == 204
        after = await client.get("/api/v1/stations", headers=fresh)
        refresh_after = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": renewed.json()["refresh_token"]}
        )
        forged = await client.get(
            "/api/v1/stations", headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}
        )
    assert after.status_code == 401 and "log in again" in after.json()["detail"]
    assert refresh_after.status_code == 401
    assert forged.status_code == 401


async def test_failed_logins_are_slowed_down_then_locked(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts, "DELAY_UNIT_S", 0.2)
    monkeypatch.setattr(accounts, "MAX_DELAY_S", 0.5)
    await add_user(server, "driver@example.com", "driver")
    unknown = await log_in(server, "nobody@example.com", "whatever")
    durations, codes = [], []
    for _ in range(accounts.LOCK_AFTER):
        started = time.monotonic()
        codes.append((await log_in(server, "driver@example.com", "wrong password")).status_code)
        durations.append(time.monotonic() - started)
    locked = await log_in(server, "driver@example.com")  # even the right password now
    assert unknown.status_code == 401
    assert codes[:-1] == [401] * (accounts.LOCK_AFTER - 1) and codes[-1] == 429
    # the 4th answer waits 0.4 s on top of the hash (how long a hash takes varies a lot
    # on a busy machine, so only the wait is asserted, never a comparison of durations)
    assert durations[accounts.SLOW_DOWN_AFTER] >= 0.4
    assert locked.status_code == 429 and "locked" in locked.json()["detail"]


# what each role gets from each area: 200 allowed, 403 refused
AREAS = {
    "stations": ("GET", "/api/v1/stations"),
    "station events": ("GET", "/api/v1/stations/CP-A/events"),
    "commands": ("GET", "/api/v1/stations/CP-A/commands"),
    "files": ("GET", "/api/v1/stations/CP-A/files"),
    "sessions": ("GET", "/api/v1/sessions"),
    "tokens": ("GET", "/api/v1/tokens"),
    "sites": ("GET", "/api/v1/sites"),
    "local lists": ("GET", "/api/v1/stations/CP-A/local-list"),
    "tariffs": ("GET", "/api/v1/tariffs"),
    "cdrs": ("GET", "/api/v1/cdrs"),
}
ALLOWED = {
    "admin": set(AREAS),
    "operator": set(AREAS),
    "technician": set(AREAS) - {"tokens"},
    "support": {"stations", "station events", "commands", "sessions", "tokens", "sites"}
    | {"local lists", "tariffs", "cdrs"},
    # prices are for everyone; CDRs are narrowed to the fleet's or the driver's own
    "fleet_manager": {"stations", "sessions", "tokens", "sites", "tariffs", "cdrs"},
    "driver": {"stations", "sessions", "tokens", "sites", "tariffs", "cdrs"},
}


async def test_each_role_reaches_only_its_areas(server: RunningServer) -> None:
    await server.add_station("CP-A")
    results: dict[str, dict[str, int]] = {}
    for role in ALLOWED:
        await add_user(server, f"{role}@example.com", role)
        async with await as_user(server, f"{role}@example.com") as client:
            results[role] = {
                area: (await client.request(method, path)).status_code
                for area, (method, path) in AREAS.items()
            }
    expected = {
        role: {area: 200 if area in allowed else 403 for area in AREAS}
        for role, allowed in ALLOWED.items()
    }
    assert results == expected


async def _charge(server: RunningServer, station_id: str, *tags: str) -> None:
    async with charge_point(server, station_id) as cp:
        for i, tag in enumerate(tags, start=1):
            await cp.call(
                call16.StartTransaction(
                    connector_id=i, id_tag=tag, meter_start=0, timestamp=now_iso()
                )
            )


async def _own(server: RunningServer, tag: str, user_id: int | None, org: str | None) -> None:
    async with server.db() as db:
        org_id = (await accounts.ensure_organization(db, org)).id if org else None
        await db.commit()
    await server.add_token(tag)
    async with server.db() as db:
        token = (await db.execute(IdToken.__table__.select().where(IdToken.id_tag == tag))).one()
        row = await db.get(IdToken, token.id)
        assert row is not None
        row.user_id, row.organization_id = user_id, org_id
        await db.commit()


async def test_fleets_and_drivers_see_only_their_own_sessions(server: RunningServer) -> None:
    await server.add_station("CP-S")
    manager_a = await add_user(server, "fleet-a@example.com", "fleet_manager", org="Fleet A")
    driver_a = await add_user(server, "driver-a@example.com", "driver", org="Fleet A")
    await add_user(server, "fleet-b@example.com", "fleet_manager", org="Fleet B")
    await _own(server, "CARD-A1", driver_a, None)  # a fleet driver's own card
    await _own(server, "CARD-A2", None, "Fleet A")  # a card of the fleet
    await _own(server, "CARD-B1", None, "Fleet B")
    await _charge(server, "CP-S", "CARD-A1", "CARD-A2", "CARD-B1")
    everyone = (await server.get("/api/v1/sessions"))["items"]
    by_tag = {s["id_tag"]: s["id"] for s in everyone}
    seen: dict[str, set[str]] = {}
    for email in ("fleet-a@example.com", "driver-a@example.com", "fleet-b@example.com"):
        async with await as_user(server, email) as client:
            seen[email] = {
                s["id_tag"] for s in (await client.get("/api/v1/sessions")).json()["items"]
            }
            if email == "fleet-a@example.com":
                other = await client.get(f"/api/v1/sessions/{by_tag['CARD-B1']}")
                mine = await client.get(f"/api/v1/sessions/{by_tag['CARD-A2']}")
    assert manager_a > 0
    assert seen == {
        "fleet-a@example.com": {"CARD-A1", "CARD-A2"},
        "driver-a@example.com": {"CARD-A1"},
        "fleet-b@example.com": {"CARD-B1"},
    }
    assert other.status_code == 404 and mine.status_code == 200


async def test_api_keys_made_before_users_keep_working_as_admin(server: RunningServer) -> None:
    me: Any = await server.get("/api/v1/auth/me")
    assert me["roles"] == ["admin"] and me["user_id"] is None
    assert me["name"].startswith("tests (api key ")
    async with server.api() as client:
        logout = await client.post("/api/v1/auth/logout")
    assert logout.status_code == 422 and "revoke" in logout.json()["detail"]
