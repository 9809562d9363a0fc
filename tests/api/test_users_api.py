"""Users, organizations and API keys through the API: who may see and change whom.

Callers are mostly users' own API keys (a key with all of its user's roles is that user
to every permission check), so that the tests do not spend their time in argon2; logins
are used where the behaviour is about logins. Test users share one password hash.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from chargeops.users import accounts
from chargeops.users import service as keys
from tests.harness import RunningServer

PASSWORD = "correct horse battery"
_PASSWORD_HASH = PasswordHasher().hash(PASSWORD)  # hashed once for every test user


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
        user = await accounts.create_user(db, email, roles=list(roles), organization=org)
        user.password_hash = _PASSWORD_HASH
        await db.commit()
        return user.id


async def add_key(server: RunningServer, user_id: int, name: str = "tests") -> str:
    async with server.db() as db:
        new = await keys.create_api_key(db, name, user_id=user_id)
        await db.commit()
        return new.key


def bearer(server: RunningServer, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http_url, headers={"Authorization": f"Bearer {token}"})


async def as_user(
    server: RunningServer, email: str, *roles: str, org: str | None = None
) -> tuple[httpx.AsyncClient, int]:
    """A new user with ``roles``, calling through a key of their own."""
    user_id = await add_user(server, email, *roles, org=org)
    return bearer(server, await add_key(server, user_id)), user_id


async def log_in(server: RunningServer, email: str, password: str = PASSWORD) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        return await client.post(
            "/api/v1/auth/login", data={"username": email, "password": password}
        )


async def logged_in(server: RunningServer, email: str) -> tuple[httpx.AsyncClient, str]:
    """A client with a fresh login's access token, and that login's refresh token."""
    response = await log_in(server, email)
    assert response.status_code == 200, response.text
    tokens = response.json()
    return bearer(server, tokens["access_token"]), tokens["refresh_token"]


def emails(page: Any) -> set[str]:
    return {u["email"] for u in page["items"]}


# --- each role against each area --------------------------------------------------------

ROLES = ("admin", "operator", "technician", "support", "fleet_manager", "driver")
ALLOWED = {
    "admin": {
        "list users",
        "get a user",
        "create a user",
        "change a user",
        "list organizations",
        "create an organization",
        "list own keys",
        "create own key",
        "list others' keys",
        "revoke others' keys",
    },
    "operator": {
        "list users",
        "get a user",
        "create a user",
        "change a user",
        "list organizations",
        "list own keys",
        "create own key",
    },
    "technician": {"list own keys", "create own key"},
    "support": {
        "list users",
        "get a user",
        "list organizations",
        "list own keys",
        "create own key",
    },
    "fleet_manager": {"list users", "list organizations", "list own keys", "create own key"},
    "driver": {"list own keys", "create own key"},
}


async def test_each_role_reaches_only_its_areas(server: RunningServer) -> None:
    """Refused is 403; a fleet manager asking for a user outside their fleet gets 404."""
    async with server.api() as admin:
        driver = (
            await admin.post(
                "/api/v1/users", json={"email": "plain-driver@example.com", "roles": ["driver"]}
            )
        ).json()
        other_key = (
            await admin.post(
                "/api/v1/api-keys",
                json={"name": "someone else's", "user_id": driver["id"]},
            )
        ).json()
    results: dict[str, set[str]] = {}
    for role in ROLES:
        client, _ = await as_user(server, f"{role}@example.com", role, org="Fleet")
        areas: dict[str, tuple[str, str, Any]] = {
            "list users": ("GET", "/api/v1/users", None),
            "get a user": ("GET", f"/api/v1/users/{driver['id']}", None),
            "create a user": (
                "POST",
                "/api/v1/users",
                {"email": f"made-by-{role}@example.com", "roles": ["driver"]},
            ),
            "change a user": ("PATCH", f"/api/v1/users/{driver['id']}", {"name": role}),
            "list organizations": ("GET", "/api/v1/organizations", None),
            "create an organization": ("POST", "/api/v1/organizations", {"name": f"Org {role}"}),
            "list own keys": ("GET", "/api/v1/api-keys", None),
            "create own key": ("POST", "/api/v1/api-keys", {"name": f"{role}'s script"}),
            "list others' keys": ("GET", f"/api/v1/api-keys?user_id={driver['id']}", None),
            "revoke others' keys": ("DELETE", f"/api/v1/api-keys/{other_key['id']}", None),
        }
        codes = {}
        async with client:
            for area, (method, path, body) in areas.items():
                codes[area] = (await client.request(method, path, json=body)).status_code
        assert all(c < 300 or c in (403, 404) for c in codes.values()), (role, codes)
        results[role] = {area for area, code in codes.items() if code < 300}
        if role == "fleet_manager":
            assert codes["get a user"] == 404  # the driver is in no fleet: not theirs
        if role in ("technician", "driver"):
            assert codes["revoke others' keys"] == 404  # not theirs to know of
    assert results == ALLOWED


# --- fleets -----------------------------------------------------------------------------


async def test_a_fleet_manager_sees_only_their_organization(server: RunningServer) -> None:
    manager_a, manager_a_id = await as_user(server, "fleet-a@example.com", "fleet_manager", org="A")
    driver_a = await add_user(server, "driver-a@example.com", "driver", org="A")
    await add_user(server, "fleet-b@example.com", "fleet_manager", org="B")
    driver_b = await add_user(server, "driver-b@example.com", "driver", org="B")
    await add_user(server, "loner@example.com", "driver")
    async with server.api() as admin:
        orgs = {
            o["name"]: o["id"] for o in (await admin.get("/api/v1/organizations")).json()["items"]
        }
        everyone = (await admin.get("/api/v1/users")).json()
    async with manager_a:
        listed = (await manager_a.get("/api/v1/users")).json()
        drivers = (await manager_a.get("/api/v1/users", params={"role": "driver"})).json()
        asked_for_b = (await manager_a.get(f"/api/v1/users?organization_id={orgs['B']}")).json()
        own = await manager_a.get(f"/api/v1/users/{driver_a}")
        other = await manager_a.get(f"/api/v1/users/{driver_b}")
        their_orgs = (await manager_a.get("/api/v1/organizations")).json()
        org_b = await manager_a.get(f"/api/v1/organizations/{orgs['B']}")
        org_a = await manager_a.get(f"/api/v1/organizations/{orgs['A']}")
        change = await manager_a.patch(f"/api/v1/users/{driver_a}", json={"status": "disabled"})
    assert len(everyone["items"]) == 5
    assert emails(listed) == {"fleet-a@example.com", "driver-a@example.com"}
    assert emails(drivers) == {"driver-a@example.com"}
    assert asked_for_b["items"] == []
    assert own.status_code == 200 and own.json()["organization_id"] == orgs["A"]
    assert other.status_code == 404
    assert [o["name"] for o in their_orgs["items"]] == ["A"]
    assert org_b.status_code == 404 and org_a.status_code == 200
    assert change.status_code == 403  # reading their drivers is not managing them
    assert manager_a_id > 0


# --- users ------------------------------------------------------------------------------


async def test_users_are_created_found_and_changed(server: RunningServer) -> None:
    async with server.api() as admin:
        fleet = (await admin.post("/api/v1/organizations", json={"name": "Fleet A"})).json()
        made = await admin.post(
            "/api/v1/users",
            json={
                "email": "Ada.Driver@Example.com",
                "name": "Ada Lovelace",
                "roles": ["driver"],
                "organization_id": fleet["id"],
                "password": "a long enough password",
            },
        )
        bad = {
            "taken (case ignored)": {"email": "ada.driver@example.COM", "roles": ["driver"]},
            "not an email": {"email": "ada", "roles": ["driver"]},
            "unknown role": {"email": "x@example.com", "roles": ["wizard"]},
            "no role": {"email": "x@example.com", "roles": []},
            "unknown organization": {
                "email": "x@example.com",
                "roles": ["driver"],
                "organization_id": 999,
            },
            "short password": {"email": "x@example.com", "roles": ["driver"], "password": "short"},
        }
        refused = {
            what: (await admin.post("/api/v1/users", json=body)) for what, body in bad.items()
        }
        techs = [
            (
                await admin.post(
                    "/api/v1/users", json={"email": f"tech{i}@example.com", "roles": ["technician"]}
                )
            ).json()["id"]
            for i in range(3)
        ]
        user_id = made.json()["id"]
        renamed = await admin.patch(
            f"/api/v1/users/{user_id}",
            json={"name": "Ada L.", "roles": ["driver", "fleet_manager"]},
        )
        out_of_fleet = await admin.patch(f"/api/v1/users/{user_id}", json={"organization_id": None})
        nothing = await admin.patch(f"/api/v1/users/{user_id}", json={})
        bad_status = await admin.patch(f"/api/v1/users/{user_id}", json={"status": "gone"})
        missing = await admin.patch("/api/v1/users/999", json={"name": "x"})
        await admin.patch(f"/api/v1/users/{techs[1]}", json={"status": "disabled"})
        by_role = (await admin.get("/api/v1/users", params={"role": "fleet_manager"})).json()
        by_status = (await admin.get("/api/v1/users", params={"status": "disabled"})).json()
        by_text = (await admin.get("/api/v1/users", params={"q": "ADA L"})).json()
        by_wildcard = (await admin.get("/api/v1/users", params={"q": "%_"})).json()
        by_email = (await admin.get("/api/v1/users", params={"q": "tech"})).json()
        first = (await admin.get("/api/v1/users", params={"limit": 2})).json()
        rest = (
            await admin.get("/api/v1/users", params={"limit": 2, "cursor": first["next_cursor"]})
        ).json()
        got = (await admin.get(f"/api/v1/users/{user_id}")).json()
    assert made.status_code == 201, made.text
    shown = made.json()
    assert shown["email"] == "Ada.Driver@Example.com" and shown["has_password"] is True
    assert shown["status"] == "active" and shown["organization_id"] == fleet["id"]
    assert "password" not in str(shown).replace("has_password", "")
    codes = {what: r.status_code for what, r in refused.items()}
    assert codes == {
        "taken (case ignored)": 409,
        "not an email": 422,
        "unknown role": 422,
        "no role": 422,
        "unknown organization": 422,
        "short password": 422,
    }
    assert all(r.headers["content-type"] == "application/problem+json" for r in refused.values())
    assert renamed.status_code == 200 and renamed.json()["roles"] == ["driver", "fleet_manager"]
    assert renamed.json()["name"] == "Ada L."
    assert out_of_fleet.json()["organization_id"] is None
    assert nothing.status_code == 422 and bad_status.status_code == 422
    assert missing.status_code == 404
    assert emails(by_role) == {"Ada.Driver@Example.com"}
    assert emails(by_status) == {"tech1@example.com"}
    assert emails(by_text) == {"Ada.Driver@Example.com"}
    assert by_wildcard["items"] == []  # text, not a pattern
    assert emails(by_email) == {"tech0@example.com", "tech1@example.com", "tech2@example.com"}
    assert len(first["items"]) == 2 and len(rest["items"]) == 2 and rest["next_cursor"] is None
    assert emails(first) | emails(rest) == {
        "Ada.Driver@Example.com",
        "tech0@example.com",
        "tech1@example.com",
        "tech2@example.com",
    }
    assert got["name"] == "Ada L." and got["roles"] == ["driver", "fleet_manager"]
    login = await log_in(server, "ada.driver@example.com", "a long enough password")
    assert login.status_code == 200  # the password given at creation is the one that works


async def test_nobody_gives_more_than_they_have(server: RunningServer) -> None:
    operator, operator_id = await as_user(server, "ops@example.com", "operator")
    admin_id = await add_user(server, "boss@example.com", "admin")
    driver_id = await add_user(server, "driver@example.com", "driver")
    async with operator:
        make_admin = await operator.post(
            "/api/v1/users", json={"email": "new@example.com", "roles": ["admin"]}
        )
        make_fleet = await operator.post(
            "/api/v1/users", json={"email": "fleet@example.com", "roles": ["fleet_manager"]}
        )
        promote = await operator.patch(f"/api/v1/users/{driver_id}", json={"roles": ["admin"]})
        self_promote = await operator.patch(
            f"/api/v1/users/{operator_id}", json={"roles": ["operator", "admin"]}
        )
        touch_admin = await operator.patch(f"/api/v1/users/{admin_id}", json={"name": "x"})
        disable_admin = await operator.patch(
            f"/api/v1/users/{admin_id}", json={"status": "disabled"}
        )
        key_as_admin = await operator.post(
            "/api/v1/api-keys", json={"name": "sneaky", "roles": ["admin"]}
        )
        to_support = await operator.patch(f"/api/v1/users/{driver_id}", json={"roles": ["support"]})
    assert make_admin.status_code == 403 and "admin" in make_admin.json()["detail"]
    assert make_fleet.status_code == 201  # an operator's roles reach further than a fleet's
    assert promote.status_code == 403 and self_promote.status_code == 403
    assert touch_admin.status_code == 403 and disable_admin.status_code == 403
    assert key_as_admin.status_code == 403
    assert to_support.status_code == 200
    async with server.db() as db:
        boss = await accounts.get_user(db, admin_id)
        assert boss.status == "active" and boss.name == "boss"


async def test_the_last_active_admin_cannot_be_disabled_or_demoted(server: RunningServer) -> None:
    admin, admin_id = await as_user(server, "only-admin@example.com", "admin")
    async with admin:
        disable = await admin.patch(f"/api/v1/users/{admin_id}", json={"status": "disabled"})
        demote = await admin.patch(f"/api/v1/users/{admin_id}", json={"roles": ["operator"]})
        second = await admin.post(
            "/api/v1/users", json={"email": "second@example.com", "roles": ["admin"]}
        )
        demote_now = await admin.patch(
            f"/api/v1/users/{second.json()['id']}", json={"roles": ["operator"]}
        )
    assert disable.status_code == 409 and "last active admin" in disable.json()["detail"]
    assert demote.status_code == 409
    assert second.status_code == 201 and demote_now.status_code == 200


async def test_disabling_a_user_ends_their_logins_and_stops_their_keys(
    server: RunningServer,
) -> None:
    user_id = await add_user(server, "leaver@example.com", "operator")
    key = bearer(server, await add_key(server, user_id))
    login, refresh_token = await logged_in(server, "leaver@example.com")
    async with key, login, server.api() as admin:
        before = [(await c.get("/api/v1/auth/me")).status_code for c in (key, login)]
        disabled = await admin.patch(f"/api/v1/users/{user_id}", json={"status": "disabled"})
        # at once: this process forgot what it had verified
        after = [(await c.get("/api/v1/auth/me")).status_code for c in (key, login)]
        refreshed = await admin.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
        again = await log_in(server, "leaver@example.com")
        enabled = await admin.patch(f"/api/v1/users/{user_id}", json={"status": "active"})
        key_back = await key.get("/api/v1/users")
        login_back = await login.get("/api/v1/users")
    assert before == [200, 200]
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    assert after == [401, 401]
    assert refreshed.status_code == 401 and again.status_code == 401
    assert enabled.status_code == 200
    assert key_back.status_code == 200  # keys were refused, not revoked
    assert login_back.status_code == 401  # ended logins stay ended
    assert (await log_in(server, "leaver@example.com")).status_code == 200


async def test_changing_your_own_password(server: RunningServer) -> None:
    await add_user(server, "me@example.com", "driver")
    this, _ = await logged_in(server, "me@example.com")
    other, _ = await logged_in(server, "me@example.com")
    async with this, other, server.api() as keyless:
        other_before = await other.get("/api/v1/auth/me")  # now in the server's cache
        wrong = await this.post(
            "/api/v1/users/me/password",
            json={"current_password": "not it at all", "new_password": "a brand new secret"},
        )
        short = await this.post(
            "/api/v1/users/me/password",
            json={"current_password": PASSWORD, "new_password": "short"},
        )
        changed = await this.post(
            "/api/v1/users/me/password",
            json={"current_password": PASSWORD, "new_password": "a brand new secret"},
        )
        this_after = await this.get("/api/v1/auth/me")
        other_after = await other.get("/api/v1/auth/me")
        no_user = await keyless.post(
            "/api/v1/users/me/password",
            json={"current_password": PASSWORD, "new_password": "a brand new secret"},
        )
    assert wrong.status_code == 401 and "current password" in wrong.json()["detail"]
    assert short.status_code == 422 and "at least 10" in short.json()["detail"]
    assert changed.status_code == 204
    assert other_before.status_code == 200
    assert this_after.status_code == 200 and other_after.status_code == 401
    assert no_user.status_code == 403
    assert (await log_in(server, "me@example.com")).status_code == 401
    assert (await log_in(server, "me@example.com", "a brand new secret")).status_code == 200


# --- organizations ----------------------------------------------------------------------


async def test_organization_names_are_unique_ignoring_case(server: RunningServer) -> None:
    async with server.api() as admin:
        a = await admin.post("/api/v1/organizations", json={"name": "Fleet A"})
        same = await admin.post("/api/v1/organizations", json={"name": " fleet a "})
        blank = await admin.post("/api/v1/organizations", json={"name": "   "})
        b = await admin.post("/api/v1/organizations", json={"name": "Fleet B"})
        clash = await admin.patch(
            f"/api/v1/organizations/{b.json()['id']}", json={"name": "FLEET A"}
        )
        renamed = await admin.patch(
            f"/api/v1/organizations/{b.json()['id']}", json={"name": "Fleet Bee"}
        )
        recased = await admin.patch(
            f"/api/v1/organizations/{a.json()['id']}", json={"name": "FLEET A"}
        )
        missing = await admin.patch("/api/v1/organizations/999", json={"name": "x"})
        listed = (await admin.get("/api/v1/organizations")).json()
    assert a.status_code == 201 and b.status_code == 201
    assert same.status_code == 409 and blank.status_code == 422 and clash.status_code == 409
    assert renamed.status_code == 200 and renamed.json()["name"] == "Fleet Bee"
    assert recased.status_code == 200  # its own name in other letters is still its own
    assert missing.status_code == 404
    assert [o["name"] for o in listed["items"]] == ["Fleet Bee", "FLEET A"]


# --- API keys ---------------------------------------------------------------------------


async def test_a_key_acts_with_its_roles_that_its_owner_holds(server: RunningServer) -> None:
    owner_id = await add_user(server, "two-hats@example.com", "operator", "support")
    someone = await add_user(server, "someone@example.com", "support")
    async with server.api() as admin:
        narrow = await admin.post(
            "/api/v1/api-keys",
            json={"name": "helpdesk", "user_id": owner_id, "roles": ["support"]},
        )
        beyond = await admin.post(
            "/api/v1/api-keys", json={"name": "x", "user_id": owner_id, "roles": ["admin"]}
        )
        full = await admin.post("/api/v1/api-keys", json={"name": "all", "user_id": owner_id})
        assert narrow.status_code == 201 and full.status_code == 201
        async with bearer(server, narrow.json()["key"]) as helpdesk:
            me = (await helpdesk.get("/api/v1/auth/me")).json()
            read = await helpdesk.get("/api/v1/users")
            write = await helpdesk.post(
                "/api/v1/users", json={"email": "n@example.com", "roles": ["driver"]}
            )
            own_default = await helpdesk.post("/api/v1/api-keys", json={"name": "from helpdesk"})
            widen = await helpdesk.post(
                "/api/v1/api-keys", json={"name": "wider", "roles": ["operator"]}
            )
            for_other = await helpdesk.post(
                "/api/v1/api-keys", json={"name": "theirs", "user_id": someone}
            )
            await admin.patch(f"/api/v1/users/{owner_id}", json={"roles": ["operator"]})
            me_after = (await helpdesk.get("/api/v1/auth/me")).json()
            read_after = await helpdesk.get("/api/v1/users")
    assert full.json()["roles"] == ["operator", "support"]  # default: all of the owner's
    assert narrow.json()["roles"] == ["support"] and narrow.json()["user_id"] == owner_id
    assert beyond.status_code == 422 and "does not hold" in beyond.json()["detail"]
    assert me["roles"] == ["support"] and me["user_id"] == owner_id
    assert read.status_code == 200 and write.status_code == 403  # the owner could; the key not
    assert own_default.status_code == 201 and own_default.json()["roles"] == ["support"]
    assert widen.status_code == 403 and for_other.status_code == 403
    assert me_after["roles"] == []  # the owner no longer holds support: at once, here
    assert read_after.status_code == 403


async def test_a_key_is_shown_once_and_revoking_it_stops_it(server: RunningServer) -> None:
    mine, me = await as_user(server, "owner@example.com", "driver")
    theirs, _ = await as_user(server, "neighbour@example.com", "driver")
    async with mine, theirs, server.api() as admin:
        made = await mine.post("/api/v1/api-keys", json={"name": "home charger app"})
        twin = await mine.post("/api/v1/api-keys", json={"name": "home charger app"})
        new = made.json()
        listed = (await mine.get("/api/v1/api-keys")).json()
        async with bearer(server, new["key"]) as app:
            works = await app.get("/api/v1/auth/me")
            not_yours = await theirs.delete(f"/api/v1/api-keys/{new['id']}")
            their_list = (await theirs.get("/api/v1/api-keys")).json()
            revoked = await mine.delete(f"/api/v1/api-keys/{new['id']}")
            stopped = await app.get("/api/v1/auth/me")  # at once: the cache forgot it
        again = await mine.delete(f"/api/v1/api-keys/{new['id']}")
        live = (await mine.get("/api/v1/api-keys")).json()
        kept = (await mine.get("/api/v1/api-keys", params={"include_revoked": True})).json()
        everyone = (await admin.get("/api/v1/api-keys", params={"user_id": me})).json()
        unknown = await admin.delete("/api/v1/api-keys/999")
    assert made.status_code == 201 and new["key"].startswith("co_")
    assert new["key"].startswith(new["prefix"]) and new["roles"] == ["driver"]
    assert twin.status_code == 409
    assert all("key" not in k for k in listed["items"])
    assert new["id"] in {k["id"] for k in listed["items"]}
    assert works.status_code == 200 and works.json()["user_id"] == me
    assert not_yours.status_code == 404
    assert new["id"] not in {k["id"] for k in their_list["items"]}
    assert revoked.status_code == 204 and again.status_code == 204
    assert stopped.status_code == 401
    assert new["id"] not in {k["id"] for k in live["items"]}
    shown = {k["id"]: k for k in kept["items"]}
    assert shown[new["id"]]["revoked_at"] is not None
    assert {k["user_email"] for k in everyone["items"]} == {"owner@example.com"}
    assert unknown.status_code == 404
