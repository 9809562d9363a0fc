"""`chargeops user create | list | set`: people, from the command line."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.clock import utcnow
from chargeops.users import accounts
from chargeops.users.models import LoginSession, User
from tests.cli.test_cli import chargeops, env
from tests.cli.test_cli_apikeys import cli, in_db

__all__ = ["env"]  # the fixture


def test_the_first_admin_is_created_and_mistakes_are_explained(env: dict[str, str]) -> None:
    made = chargeops(
        env,
        "user",
        "create",
        "admin@example.com",
        "--role",
        "admin",
        "--password",
        "s3cret-enough!",
    )
    again = chargeops(
        env,
        "user",
        "create",
        "ADMIN@example.com",
        "--role",
        "admin",
        "--password",
        "s3cret-enough!",
    )
    bad_role = chargeops(
        env, "user", "create", "x@example.com", "--role", "wizard", "--password", "s3cret-enough!"
    )
    short = chargeops(
        env, "user", "create", "y@example.com", "--role", "driver", "--password", "short"
    )
    from_env = chargeops(
        {**env, "CHARGEOPS_NEW_USER_PASSWORD": "from-the-environment"},
        "user",
        "create",
        "fleet@example.com",
        "--role",
        "fleet_manager",
        "--organization",
        "Fleet A",
    )
    assert made.returncode == 0 and "roles admin" in made.stdout
    assert again.returncode == 1 and "already exists" in again.stderr
    assert bad_role.returncode == 1 and "wizard" in bad_role.stderr and "driver" in bad_role.stderr
    assert short.returncode == 1 and "at least 10" in short.stderr
    assert from_env.returncode == 0, from_env.stderr


def test_users_are_listed_and_changed_and_the_last_admin_kept(database_url: str) -> None:
    """`user list` and `user set` (in this process: see test_cli_apikeys.py)."""

    async def users(db: AsyncSession) -> int:
        await accounts.create_user(db, "admin@example.com", roles=["admin"])
        await accounts.create_user(db, "ops@example.com", roles=["operator"], organization="HQ")
        driver = await accounts.create_user(
            db, "driver@example.com", name="Dee Driver", roles=["driver"], organization="Fleet A"
        )
        now = utcnow()
        db.add(
            LoginSession(
                user_id=driver.id,
                refresh_hash="0" * 64,
                created_at=now,
                refreshed_at=now,
                expires_at=now + timedelta(days=1),
            )
        )
        return driver.id

    driver_id = in_db(database_url, users)
    listed = cli(database_url, "user", "list")
    drivers = cli(database_url, "user", "list", "--role", "driver")
    in_fleet = cli(database_url, "user", "list", "--organization", "fleet a")
    moved = cli(
        database_url,
        "user",
        "set",
        "DRIVER@example.com",
        "--role",
        "driver",
        "--role",
        "fleet_manager",
        "--organization",
        "Fleet B",
    )
    disabled = cli(database_url, "user", "set", "driver@example.com", "--status", "disabled")
    disabled_list = cli(database_url, "user", "list", "--status", "disabled")
    unaffiliated = cli(database_url, "user", "set", "driver@example.com", "--organization", "")
    mistakes = {
        "unknown user": (["nobody@example.com", "--status", "active"], "no user with email"),
        "bad status": (["driver@example.com", "--status", "gone"], "active, disabled"),
        "bad role": (["driver@example.com", "--role", "wizard"], "unknown role wizard"),
        "nothing": (["driver@example.com"], "nothing to change"),
        "last admin": (["admin@example.com", "--status", "disabled"], "last active admin"),
        "last admin's role": (["admin@example.com", "--role", "operator"], "last active admin"),
    }
    refused = {
        what: cli(database_url, "user", "set", *args) for what, (args, _) in mistakes.items()
    }
    no_org = cli(database_url, "user", "list", "--organization", "Nowhere")

    assert listed.exit_code == 0
    assert all(e in listed.stdout for e in ("admin@", "ops@", "driver@", "Fleet A", "HQ"))
    assert "driver@" in drivers.stdout and "ops@" not in drivers.stdout
    assert "driver@" in in_fleet.stdout and "ops@" not in in_fleet.stdout
    assert moved.exit_code == 0, moved.stderr
    assert "roles driver, fleet_manager; active; organization Fleet B" in moved.stdout
    assert disabled.exit_code == 0 and "1 login(s) ended" in disabled.stdout
    assert "driver@" in disabled_list.stdout and "admin@" not in disabled_list.stdout
    assert unaffiliated.exit_code == 0 and "no organization" in unaffiliated.stdout
    for what, (_, message) in mistakes.items():
        assert refused[what].exit_code == 1, what
        assert message in refused[what].stderr, (what, refused[what].stderr)
    assert no_org.exit_code == 1 and "no organization named 'Nowhere'" in no_org.stderr

    async def check(db: AsyncSession) -> tuple[User, list[LoginSession]]:
        user = await accounts.get_user(db, driver_id)
        logins = (await db.execute(select(LoginSession))).scalars().all()
        return user, list(logins)

    driver, logins = in_db(database_url, check)
    assert driver.roles == "driver,fleet_manager" and driver.status == "disabled"
    assert driver.organization_id is None
    assert [s.revoked_at is not None for s in logins] == [True]
