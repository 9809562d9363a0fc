"""The FastAPI application: routers mounted under ``/api/v1``, health and metrics."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops import __version__
from chargeops.alerts.api import router as alerts_router
from chargeops.alerts.channels_api import router as channels_router
from chargeops.alerts.subscriptions_api import router as subscriptions_router
from chargeops.api import problems
from chargeops.api.auth import PrincipalCache, authenticate
from chargeops.api.login import router as login_router
from chargeops.api.tokens import router as tokens_router
from chargeops.billing.api import router as billing_router
from chargeops.billing.invoices_api import router as invoices_router
from chargeops.bus.memory import Bus
from chargeops.commands.api import router as commands_router
from chargeops.commands.service import Commands
from chargeops.core.metrics import REGISTRY
from chargeops.files.api import router as files_router
from chargeops.files.api import uploads as uploads_router
from chargeops.files.store import FileStore
from chargeops.monitoring.api import router as monitoring_router
from chargeops.monitoring.messages_api import router as messages_router
from chargeops.sessions.api import router as sessions_router
from chargeops.stations.api import router as stations_router
from chargeops.stations.sites_api import router as sites_router
from chargeops.storage.writer import GroupCommitWriter
from chargeops.users import service as users
from chargeops.users.api import router as users_router


@dataclass
class GatewayStatus:
    """What /health reports about the gateway, without the API depending on its insides."""

    running: Callable[[], bool]
    connected: Callable[[], int]


def create_app(
    sessions: async_sessionmaker[AsyncSession],
    gateway: GatewayStatus | None = None,
    commands: Commands | None = None,
    writer: GroupCommitWriter | None = None,
    files: FileStore | None = None,
    secret_key: str = "",
    bus: Bus | None = None,
) -> FastAPI:
    app = FastAPI(
        title="chargeops",
        version=__version__,
        description="EV charging network management: stations, sessions and more. "
        "Every /api/v1 route needs `Authorization: Bearer KEY` "
        "(create a key with `chargeops apikey create --name NAME`).",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.sessions = sessions
    app.state.commands = commands
    app.state.writer = writer  # the one way the server writes, when it has one
    app.state.files = files  # where station uploads are kept
    app.state.principal_cache = PrincipalCache()
    app.state.secret_key = secret_key or secrets.token_urlsafe(32)  # signs access tokens
    app.state.visible_id_tags = users.visible_id_tags  # how sessions are scoped to callers
    app.state.bus = bus  # facts as they happen, for the console's live pages
    problems.install(app)

    app.include_router(login_router)
    v1 = APIRouter(prefix="/api/v1", dependencies=[Depends(authenticate)])
    v1.include_router(stations_router)
    v1.include_router(sessions_router)
    v1.include_router(commands_router)
    v1.include_router(files_router)
    v1.include_router(users_router)
    v1.include_router(tokens_router)
    v1.include_router(sites_router)
    v1.include_router(billing_router)
    v1.include_router(invoices_router)
    v1.include_router(messages_router)
    v1.include_router(monitoring_router)
    v1.include_router(channels_router)
    v1.include_router(subscriptions_router)
    v1.include_router(alerts_router)
    app.include_router(v1)
    if files is not None and writer is not None:
        app.include_router(uploads_router)  # stations authenticate by the URL's token

    @app.get("/health", tags=["operations"], summary="Database and gateway state (no key)")
    async def health() -> JSONResponse:
        body: dict[str, Any] = {"status": "ok", "version": __version__}
        started = time.perf_counter()
        try:
            async with sessions() as session:
                await session.execute(text("SELECT 1"))
            body["database"] = {
                "status": "ok",
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            }
        except Exception as exc:
            body["status"] = "unavailable"
            body["database"] = {"status": "error", "error": type(exc).__name__}
        if gateway is not None:
            running = gateway.running()
            body["gateway"] = {
                "status": "running" if running else "stopped",
                "connected_stations": gateway.connected(),
            }
            if not running:
                body["status"] = "unavailable"
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (no key)")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return app
