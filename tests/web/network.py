"""A small network for the console's tests: staff, two drivers with their cards, three
stations (one connected for real, with one connector faulted), and sessions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from ocpp.v16 import call
from sqlalchemy import func, select

from chargeops.users import accounts, tokens
from chargeops.users.models import IdToken, StationLocalList
from tests.harness import RunningServer, charge_point, now_iso

PASSWORD = "correct horse battery"
OPERATOR = "olivia@example.com"
ALICE = "alice@example.com"
BOB = "bob@example.com"
FLEET = "fleet@example.com"
ALICE_STOPS_AFTER = timedelta(minutes=21)


async def add_user(
    server: RunningServer, email: str, name: str, *roles: str, org: str | None = None
) -> int:
    async with server.db() as db:
        user = await accounts.create_user(
            db, email, name=name, roles=list(roles), password=PASSWORD, organization=org
        )
        await db.commit()
        return user.id


async def own_token(server: RunningServer, id_tag: str, user_id: int) -> None:
    """Register a card as the user's (a driver sees the sessions of their own cards)."""
    await server.add_token(id_tag)
    async with server.db() as db:
        token = (
            await db.execute(select(IdToken).where(func.lower(IdToken.id_tag) == id_tag.lower()))
        ).scalar_one()
        token.user_id = user_id
        await db.commit()


@dataclass
class Network:
    server: RunningServer
    charger: Any  # CP-1, connected (an `ocpp` 1.6 charge point)
    alice_session: int  # completed at CP-1, with meter values: 8.25 kWh
    alice_stopped_at: datetime
    bob_session: int  # still charging at CP-1: 8.00 kWh so far

    async def status(self, connector_id: int, status: str, error_code: str = "NoError") -> None:
        await self.charger.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=error_code,
                status=status,
                timestamp=now_iso(),
            )
        )


async def add_people(server: RunningServer) -> dict[str, int]:
    ids = {
        OPERATOR: await add_user(server, OPERATOR, "Olivia Operator", "operator"),
        ALICE: await add_user(server, ALICE, "Alice Driver", "driver"),
        BOB: await add_user(server, BOB, "Bob Driver", "driver"),
        FLEET: await add_user(server, FLEET, "Fiona Fleet", "fleet_manager", org="Fleet B"),
    }
    await own_token(server, "CARD-ALICE", ids[ALICE])
    await own_token(server, "CARD-BOB", ids[BOB])
    return ids


@contextlib.asynccontextmanager
async def network(server: RunningServer) -> AsyncIterator[Network]:
    """Everything is registered before the charger connects: one writer at a time on
    SQLite."""
    await add_people(server)
    for station_id in ("CP-1", "CP-2", "CP-3"):
        await server.add_station(station_id)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=50)
    async with charge_point(server, "CP-1") as cp:
        await cp.call(
            call.BootNotification(
                charge_point_vendor="Alfen",
                charge_point_model="Eve Double",
                firmware_version="6.1.0",
            )
        )
        for connector_id, status, error in (
            (1, "Available", "NoError"),
            (2, "Faulted", "GroundFailure"),
            (3, "Available", "NoError"),
        ):
            await cp.call(
                call.StatusNotification(
                    connector_id=connector_id, error_code=error, status=status, timestamp=now_iso()
                )
            )
        alice = await _charge(cp, 3, "CARD-ALICE", t0, stop=True)
        bob = await _charge(cp, 1, "CARD-BOB", t0 + timedelta(minutes=30), stop=False)
        yield Network(server, cp, alice, t0 + ALICE_STOPS_AFTER, bob)


async def _charge(cp: Any, connector_id: int, tag: str, t0: datetime, *, stop: bool) -> int:
    """A session with a meter sample every 5 minutes: 2 kWh and 24 kW each time."""
    started = await cp.call(
        call.StartTransaction(
            connector_id=connector_id, id_tag=tag, meter_start=1000, timestamp=now_iso(t0)
        )
    )
    tx = started.transaction_id
    for i in range(1, 5):
        at = t0 + timedelta(minutes=5 * i)
        await cp.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": now_iso(at),
                        "sampledValue": [
                            {
                                "value": str(1000 + 2000 * i),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            },
                            {"value": "24", "measurand": "Power.Active.Import", "unit": "kW"},
                        ],
                    }
                ],
            )
        )
    if stop:
        await cp.call(
            call.StopTransaction(
                meter_stop=9250,
                timestamp=now_iso(t0 + ALICE_STOPS_AFTER),
                transaction_id=tx,
                reason="EVDisconnected",
            )
        )
    return int(tx)


@contextlib.asynccontextmanager
async def logged_in(
    server: RunningServer, email: str, password: str = PASSWORD
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client logged in to the console the way a browser is: by the login form."""
    async with httpx.AsyncClient(
        base_url=server.http_url, headers={"Accept": "text/html"}
    ) as client:
        form = await client.get("/login")
        response = await client.post(
            "/login",
            data={"email": email, "password": password, "csrf": csrf_of(form.text), "next": "/"},
        )
        assert response.status_code == 303, response.text
        yield client


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


# --- people, tokens and sites: the pages that change things ------------------------------

ADMIN = "ada@example.com"
SUPPORT = "sam@example.com"
TECHNICIAN = "tom@example.com"
DORA = "dora@fleet-b.com"  # a driver of Fleet B, the fleet manager's organization
CARL = "carl@fleet-c.com"  # a driver of another fleet


async def add_staff(server: RunningServer) -> dict[str, int]:
    """Everyone of add_people, an admin, support, a technician, and two fleets' drivers."""
    ids = await add_people(server)
    ids[ADMIN] = await add_user(server, ADMIN, "Ada Admin", "admin")
    ids[SUPPORT] = await add_user(server, SUPPORT, "Sam Support", "support")
    ids[TECHNICIAN] = await add_user(server, TECHNICIAN, "Tom Technician", "technician")
    ids[DORA] = await add_user(server, DORA, "Dora Driver", "driver", org="Fleet B")
    ids[CARL] = await add_user(server, CARL, "Carl Driver", "driver", org="Fleet C")
    return ids


async def organization_id(server: RunningServer, name: str) -> int:
    async with server.db() as db:
        org = await accounts.find_organization(db, name)
        assert org is not None
        return org.id


async def token_id(server: RunningServer, id_tag: str) -> int | None:
    async with server.db() as db:
        token = await tokens.find_token(db, id_tag)
        return token.id if token is not None else None


async def holds_local_list(server: RunningServer, station_id: str) -> None:
    """Say the station holds our local list (version 1): token changes are sent to it."""
    async with server.db() as db:
        db.add(StationLocalList(station_id=station_id, version=1, entries=0, updated_at=now()))
        await db.commit()


async def csrf_token(client: httpx.AsyncClient) -> str:
    """The CSRF token of a logged-in client's forms (every page carries it: logout)."""
    return csrf_of((await client.get("/")).text)


def now() -> datetime:
    return datetime.now(UTC)
