"""`chargeops user create`: the first admin, from the command line."""

from __future__ import annotations

from tests.cli.test_cli import chargeops, env

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
