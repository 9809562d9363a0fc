"""The command line runs on SQLite only, except where a test asks for both databases
(``@BOTH_DATABASES``): a command is a thin layer over the services, whose behaviour on
each database the API and domain tests check, and every command here starts Python
processes that cost seconds each."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import database_for

BOTH_DATABASES = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(params=["sqlite"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    return await database_for(request.param, tmp_path, tmp_path_factory)
