"""A running chargeops with a short call timeout: silent chargers cost little time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness import RunningServer

CALL_TIMEOUT = 1.5


@pytest.fixture
async def server(
    database_url: str, ports: tuple[int, int], tmp_path: Path
) -> AsyncIterator[RunningServer]:
    srv = RunningServer(
        database_url,
        *ports,
        call_timeout=CALL_TIMEOUT,
        data_dir=tmp_path,
        max_upload_mb=1,
        read_config_after_boot=False,  # tests that want it turn it on
    )
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()
