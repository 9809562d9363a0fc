"""The console's users pages over HTTP, on SQLite and PostgreSQL: who sees whom, and
creating and changing people within the accounts service's rules."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import func, select

from chargeops.users.models import User
from tests.harness import RunningServer
from tests.web.network import (
    ADMIN,
    ALICE,
    CARL,
    DORA,
    FLEET,
    OPERATOR,
    SUPPORT,
    TECHNICIAN,
    add_staff,
    csrf_token,
    logged_in,
    organization_id,
)


def user_ids(response: httpx.Response) -> set[int]:
    return {int(i) for i in re.findall(r'<tr data-user="(\d+)"', response.text)}


def nav(response: httpx.Response) -> list[tuple[str, str]]:
    return re.findall(r'<li><a href="(/[^"]*)"[^>]*>([^<]+)</a></li>', response.text)


async def user_count(server: RunningServer) -> int:
    async with server.db() as db:
        return int(await db.scalar(select(func.count(User.id))) or 0)


async def find(server: RunningServer, email: str) -> User | None:
    async with server.db() as db:
        stmt = select(User).where(func.lower(User.email) == email.lower())
        found: User | None = (await db.execute(stmt)).scalar_one_or_none()
        return found


async def test_each_role_sees_the_people_it_may(server: RunningServer) -> None:
    ids = await add_staff(server)
    fleet_b = await organization_id(server, "Fleet B")
    async with (
        logged_in(server, OPERATOR) as olivia,
        logged_in(server, SUPPORT) as sam,
        logged_in(server, FLEET) as fiona,
        logged_in(server, ALICE) as alice,
        logged_in(server, TECHNICIAN) as tom,
    ):
        lists = {who: await c.get("/users") for who, c in (("olivia", olivia), ("sam", sam))}
        fleet_list = await fiona.get("/users")
        fleet_pages = {
            email: (await fiona.get(f"/users/{ids[email]}")).status_code
            for email in (DORA, CARL, ALICE, FLEET)
        }
        refused = {
            "alice": (await alice.get("/users")).status_code,
            "tom": (await tom.get("/users")).status_code,
            "alice-user": (await alice.get(f"/users/{ids[ALICE]}")).status_code,
            "fiona-new": (await fiona.get("/users/new")).status_code,
            "sam-new": (await sam.get("/users/new")).status_code,
        }
        drivers = await olivia.get("/users", params={"role": "driver"})
        searched = await olivia.get("/users", params={"q": "FLEET-B"})
        in_fleet = await olivia.get("/users", params={"organization": str(fleet_b)})
        nothing = await olivia.get("/users", params={"q": "nobody at all"})
        bad_role = await olivia.get("/users", params={"role": "king"})
        new_form = await olivia.get("/users/new")
        dora_page = await olivia.get(f"/users/{ids[DORA]}")
        menus = {
            who: nav(await c.get("/"))
            for who, c in (("olivia", olivia), ("alice", alice), ("tom", tom), ("fiona", fiona))
        }

    everyone = set(ids.values())
    assert user_ids(lists["olivia"]) == user_ids(lists["sam"]) == everyone
    assert "New user" in lists["olivia"].text and "New user" not in lists["sam"].text
    # a fleet manager sees their organization's people, and nobody else exists for them
    assert user_ids(fleet_list) == {ids[FLEET], ids[DORA]}
    assert "Your organization&#39;s people" in fleet_list.text
    assert fleet_pages == {DORA: 200, CARL: 404, ALICE: 404, FLEET: 200}
    assert refused == {
        "alice": 403,
        "tom": 403,
        "alice-user": 403,
        "fiona-new": 403,
        "sam-new": 403,
    }
    assert user_ids(drivers) == {ids[e] for e in (ALICE, "bob@example.com", DORA, CARL)}
    assert user_ids(searched) == {ids[DORA]}  # fleet-b.com
    assert user_ids(in_fleet) == {ids[DORA], ids[FLEET]}
    assert "No users match this filter." in nothing.text
    assert bad_role.status_code == 422
    # an operator may give every role but admin
    offered = re.findall(r'name="roles" value="(\w+)"', new_form.text)
    assert offered == ["operator", "technician", "support", "fleet_manager", "driver"]
    assert "Fleet B" in dora_page.text and "never" in dora_page.text  # no login yet
    # the menu: what each role may open, and "My cards" for a driver's own tokens
    assert menus["olivia"] == [
        ("/", "Home"),
        ("/status", "Status"),
        ("/faults", "Faults"),
        ("/incidents", "Incidents"),
        ("/stations", "Stations"),
        ("/sessions", "Sessions"),
        ("/tokens", "Tokens"),
        ("/sites", "Sites"),
        ("/users", "Users"),
        ("/tariffs", "Tariffs"),
        ("/cdrs", "CDRs"),
        ("/invoices", "Invoices"),
        ("/revenue", "Revenue"),
        ("/alerts", "Alert rules"),
        ("/notifications", "Notifications"),
    ]
    assert menus["alice"] == [
        ("/", "Home"),
        ("/stations", "Stations"),
        ("/sessions", "Sessions"),
        ("/tokens", "My cards"),
        ("/sites", "Sites"),
        ("/tariffs", "Tariffs"),
        ("/cdrs", "My charges"),
        ("/invoices", "Receipts"),
        ("/notifications", "Notifications"),
    ]
    assert [p for p, _ in menus["tom"]] == [
        "/",
        "/status",
        "/faults",
        "/incidents",
        "/stations",
        "/sessions",
        "/sites",
        "/tariffs",
        "/cdrs",
        "/invoices",
        "/revenue",
        "/notifications",
    ]
    assert [p for p, _ in menus["fiona"]] == [
        "/",
        "/stations",
        "/sessions",
        "/tokens",
        "/sites",
        "/users",
        "/tariffs",
        "/cdrs",
        "/invoices",
        "/revenue",
        "/notifications",
    ]


async def test_people_are_created_and_changed_within_the_rules(server: RunningServer) -> None:
    ids = await add_staff(server)
    fleet_b = str(await organization_id(server, "Fleet B"))
    new = {
        "email": "nina@fleet-b.com",
        "name": "Nina New",
        "roles": ["driver"],
        "organization": fleet_b,
        "password": "a long enough password",
    }
    async with logged_in(server, OPERATOR) as olivia, logged_in(server, ADMIN) as ada:
        token = await csrf_token(olivia)
        before = await user_count(server)
        forged = await olivia.post("/users", data=new)  # no CSRF token: another site's form
        after_forged = await user_count(server)
        created = await olivia.post("/users", data={**new, "csrf": token})
        assert created.status_code == 303, created.text
        nina_page = await olivia.get(created.headers["location"])
        again = await olivia.post(
            "/users", data={**new, "email": "NINA@fleet-b.com", "csrf": token}
        )
        escalation = await olivia.post(
            "/users", data={**new, "email": "eve@example.com", "roles": ["admin"], "csrf": token}
        )
        short = await olivia.post(
            "/users", data={**new, "email": "pat@example.com", "password": "short", "csrf": token}
        )
        not_email = await olivia.post("/users", data={**new, "email": "nina", "csrf": token})
        count = await user_count(server)

        nina = await find(server, "nina@fleet-b.com")
        assert nina is not None
        async with logged_in(server, "nina@fleet-b.com", "a long enough password") as nina_client:
            changed = await olivia.post(
                f"/users/{nina.id}",
                data={
                    "name": "Nina Support",
                    "roles": ["support", "driver"],
                    "organization": "",
                    "csrf": token,
                },
            )
            disabled = await olivia.post(
                f"/users/{nina.id}/status", data={"status": "disabled", "csrf": token}
            )
            nina_after = await nina_client.get("/")  # her login ended with the change
        disabled_page = await olivia.get(disabled.headers["location"])
        enabled = await olivia.post(
            f"/users/{nina.id}/status", data={"status": "active", "csrf": token}
        )
        # an operator may not change an admin, nor give the role
        admin_page = await olivia.get(f"/users/{ids[ADMIN]}")
        demote = await olivia.post(
            f"/users/{ids[ADMIN]}",
            data={"name": "Ada", "roles": ["driver"], "organization": "", "csrf": token},
        )
        promote = await olivia.post(
            f"/users/{nina.id}",
            data={"name": "Nina", "roles": ["admin"], "organization": "", "csrf": token},
        )
        # the last active admin stays
        ada_token = await csrf_token(ada)
        last_admin = await ada.post(
            f"/users/{ids[ADMIN]}/status", data={"status": "disabled", "csrf": ada_token}
        )
        ada_still = await ada.get("/users")
        # organizations: admins add them, names are unique ignoring case
        org_added = await ada.post("/organizations", data={"name": "Fleet D", "csrf": ada_token})
        org_again = await ada.post("/organizations", data={"name": "fleet d", "csrf": ada_token})
        org_by_operator = await olivia.post("/organizations", data={"name": "X", "csrf": token})
        orgs_listed = await ada.get("/users")

    assert forged.status_code == 403 and "reload the page" in forged.text
    assert after_forged == before
    assert created.headers["location"] == f"/users/{nina.id}?done=created"
    assert "The user was created." in nina_page.text and "Fleet B" in nina_page.text
    assert again.status_code == 409
    assert "A user with email NINA@fleet-b.com already exists." in again.text
    assert 'value="NINA@fleet-b.com"' in again.text  # the form keeps what was typed
    assert escalation.status_code == 403
    assert "Only an admin may give the admin role." in escalation.text
    assert short.status_code == 422 and "at least 10 characters" in short.text
    assert not_email.status_code == 422 and "is not an email address" in not_email.text
    assert count == before + 1  # only Nina: every refused form changed nothing

    assert changed.status_code == 303
    assert disabled.headers["location"] == f"/users/{nina.id}?done=disabled"
    assert "The user was disabled" in disabled_page.text
    assert re.search(r'data-fact="roles">driver, support<', disabled_page.text)
    assert 'data-fact="organization">—<' in disabled_page.text
    assert nina_after.status_code == 303 and nina_after.headers["location"].startswith("/login")
    assert enabled.headers["location"] == f"/users/{nina.id}?done=enabled"
    assert "Only an admin may change an admin." in admin_page.text
    assert "Save changes" not in admin_page.text
    assert demote.status_code == 403 and "Only an admin may change an admin." in demote.text
    assert promote.status_code == 403 and "Only an admin may give the admin role." in promote.text
    assert last_admin.status_code == 409
    assert "is the last active admin" in last_admin.text
    assert ada_still.status_code == 200  # still an active admin, still logged in
    final = await find(server, "nina@fleet-b.com")
    assert final is not None and final.status == "active" and final.name == "Nina Support"
    assert final.roles == "driver,support" and final.organization_id is None
    admin = await find(server, ADMIN)
    assert admin is not None and admin.status == "active" and admin.roles == "admin"
    assert org_added.headers["location"] == "/users?done=organization"
    assert org_again.status_code == 409 and "already exists" in org_again.text
    assert org_by_operator.status_code == 403
    assert "Fleet D" in orgs_listed.text
