"""Opening the database: connect and migrate, the one way the server and every command
reach it. Apart from app.py so that a command that does not serve imports neither the
web console nor the API (seconds of start-up for every ``chargeops`` invocation)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chargeops import migrations
from chargeops.core.errors import ChargeOpsError
from chargeops.storage.engine import create_engine, session_factory


class StartupError(ChargeOpsError):
    """chargeops could not start (a port in use, a database out of reach...)."""


async def open_database(url: str) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """Connect and migrate."""
    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
    except (OSError, ConnectionError) as exc:
        await engine.dispose()
        raise StartupError(f"cannot reach the database ({exc})") from exc
    except Exception as exc:
        await engine.dispose()
        if "connect" in str(exc).lower() or "does not exist" in str(exc).lower():
            raise StartupError(f"cannot open the database: {exc}") from exc
        raise
    return engine, session_factory(engine)
