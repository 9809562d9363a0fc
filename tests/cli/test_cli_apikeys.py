"""`chargeops apikey create | list | revoke`: keys owned by users and scoped to roles.

The commands run in this process (Typer's runner: the same command functions, exit codes
and messages as ``python -m chargeops.cli``, which tests/cli/test_cli.py starts for real),
against the test's own database, so that each costs milliseconds, not an interpreter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from click.testing import Result
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from chargeops.cli import app
from chargeops.database import open_database
from chargeops.users import accounts
from chargeops.users import service as keys
from chargeops.users.models import ApiKey

T = TypeVar("T")


def cli(database_url: str, *args: str) -> Result:
    result = CliRunner().invoke(
        app, list(args), env={"CHARGEOPS_DATABASE_URL": database_url}, catch_exceptions=False
    )
    assert "Traceback" not in result.output
    return result


def in_db(database_url: str, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def go() -> T:
        engine, sessions = await open_database(database_url)
        try:
            async with sessions() as session:
                result = await fn(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_keys_are_made_for_users_listed_and_revoked(database_url: str) -> None:
    async def users(db: AsyncSession) -> None:
        await accounts.create_user(db, "ops@example.com", roles=["operator", "support"])

    in_db(database_url, users)
    plain = cli(database_url, "apikey", "create", "--name", "deploy")
    owned = cli(database_url, "apikey", "create", "--name", "helpdesk", "--user", "OPS@example.com")
    narrow = cli(
        database_url,
        "apikey",
        "create",
        "--name",
        "reports",
        "--user",
        "ops@example.com",
        "--roles",
        "support",
    )
    mistakes = {
        "role not held": (
            ["--name", "x", "--user", "ops@example.com", "--roles", "support,admin"],
            "ops@example.com does not hold the role admin",
        ),
        "unknown user": (["--name", "x", "--user", "nobody@example.com"], "no user with email"),
        "unknown role": (["--name", "x", "--roles", "wizard"], "unknown role wizard"),
        "same name": (["--name", "helpdesk", "--user", "ops@example.com"], "already exists"),
    }
    refused = {
        what: cli(database_url, "apikey", "create", *args) for what, (args, _) in mistakes.items()
    }
    listed = cli(database_url, "apikey", "list")
    helpdesk_id = owned.stdout.split("(id ")[1].split(")")[0]
    revoked = cli(database_url, "apikey", "revoke", helpdesk_id)
    again = cli(database_url, "apikey", "revoke", helpdesk_id)
    unknown = cli(database_url, "apikey", "revoke", "999")
    live = cli(database_url, "apikey", "list")
    everything = cli(database_url, "apikey", "list", "--all", "--user", "ops@example.com")

    assert plain.exit_code == 0 and "of no user with roles admin" in plain.stdout
    assert owned.exit_code == 0
    assert "for ops@example.com with roles operator, support" in owned.stdout
    assert narrow.exit_code == 0 and "with roles support." in narrow.stdout
    for what, (_, message) in mistakes.items():
        assert refused[what].exit_code == 1, what
        assert message in refused[what].stderr, (what, refused[what].stderr)
    keys_made = {r.stdout.strip().splitlines()[-1] for r in (plain, owned, narrow)}
    assert all(k.startswith("co_") for k in keys_made)
    assert listed.exit_code == 0
    assert all(name in listed.stdout for name in ("deploy", "helpdesk", "reports"))
    assert "ops@example.com" in listed.stdout
    assert not any(k in listed.stdout for k in keys_made)  # shown once, at creation
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert again.exit_code == 0 and "already revoked" in again.stdout
    assert unknown.exit_code == 1 and "no API key with id 999" in unknown.stderr
    assert "helpdesk" not in live.stdout and "deploy" in live.stdout
    assert "REVOKED" in everything.stdout and "helpdesk" in everything.stdout
    assert "deploy" not in everything.stdout  # another owner's

    async def check(db: AsyncSession) -> tuple[ApiKey | None, ApiKey | None]:
        helpdesk = owned.stdout.strip().splitlines()[-1]
        reports = narrow.stdout.strip().splitlines()[-1]
        return await keys.verify_api_key(db, helpdesk), await keys.verify_api_key(db, reports)

    helpdesk_row, reports_row = in_db(database_url, check)
    assert helpdesk_row is None  # revoked: refused from now on
    assert reports_row is not None and reports_row.roles == "support"
    assert reports_row.user_id is not None
