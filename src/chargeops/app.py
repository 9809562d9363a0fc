"""The composition root: builds every part from the settings and runs them in one process.

Start order: logging, database (migrations), writer, message log, gateway, HTTP. Stop
order is the reverse of what depends on what: stop taking connections and close the
sockets, let the handlers finish writing, write what the message log buffered, stop the
HTTP server, drain the writer, close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chargeops import web
from chargeops.alerts.delivery import DeliveryConfig, Dispatcher
from chargeops.alerts.drivers import DriverNotifier
from chargeops.alerts.engine import AlertEngine
from chargeops.alerts.incidents import Links
from chargeops.alerts.subscriptions import BackInService
from chargeops.api.app import GatewayStatus, create_app
from chargeops.billing.cdrs import CdrRecorder
from chargeops.bus import MemoryBus
from chargeops.commands.service import Commands
from chargeops.config import Settings
from chargeops.core.events import (
    FileReceived,
    StationBooted,
    StationConnected,
    StationMoved,
    TransactionEnded,
    TransferStatusChanged,
)
from chargeops.core.metrics import DB_WRITER_BACKLOG, observe_commit
from chargeops.database import StartupError, open_database
from chargeops.files.store import FileStore
from chargeops.gateway.admission import Admission
from chargeops.gateway.handlers import ChargerHandlers
from chargeops.gateway.server import Gateway, GatewayConfig
from chargeops.integrations.sms import SmsGatewayConfig
from chargeops.integrations.smtp import SmtpConfig
from chargeops.monitoring import message_log
from chargeops.monitoring.detectors import Thresholds
from chargeops.monitoring.service import Monitor, MonitoringConfig
from chargeops.stations import service as stations
from chargeops.storage.engine import (
    WriterConnection,
    hot_path_sessions,
)
from chargeops.storage.jobs import Scheduler
from chargeops.storage.writer import GroupCommitWriter

log = logging.getLogger(__name__)


class _EmbeddedHttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: the application owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int, what: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen for {what} on {host}:{port}: {exc.strerror}") from exc
    return sock


def _stored_secret(data_dir: Path) -> str:
    """The key that signs login tokens, made once and kept beside the data (readable by
    the owner only), so logins survive a restart."""
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _delivery_config(s: Settings) -> DeliveryConfig:
    """How notifications leave: the SMTP server and SMS gateway, when configured."""
    smtp = None
    if s.smtp_host and s.smtp_sender:
        smtp = SmtpConfig(
            host=s.smtp_host,
            port=s.smtp_port,
            security=s.smtp_security,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            sender=s.smtp_sender,
            verify_certificates=s.smtp_verify,
        )
    sms = None
    if s.sms_url:
        sms = SmsGatewayConfig(
            url=s.sms_url,
            format=s.sms_format,
            to_field=s.sms_to_field,
            text_field=s.sms_text_field,
            sender_field=s.sms_sender_field,
            sender=s.sms_sender,
            extra=s.sms_extra,
            authorization=(s.sms_authorization.get_secret_value() if s.sms_authorization else None),
        )
    return DeliveryConfig(smtp=smtp, sms=sms)


class Application:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bus = MemoryBus()
        self.engine: AsyncEngine | None = None
        self.sessions: async_sessionmaker[AsyncSession] | None = None
        self.writer: GroupCommitWriter | None = None
        self.gateway: Gateway | None = None
        self._http: _EmbeddedHttpServer | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._hot_connection: WriterConnection | None = None
        self.commands: Commands | None = None
        self._web_app: Any = None  # the HTTP app, whose console streams end at stop
        self.cdrs: CdrRecorder | None = None
        self._cdr_catch_up: asyncio.Task[int] | None = None
        self.message_log: message_log.MessageLog | None = None
        self.scheduler: Scheduler | None = None
        self.monitor: Monitor | None = None
        self.alerts: AlertEngine | None = None
        self.drivers: DriverNotifier | None = None
        self.subscriptions: BackInService | None = None
        self.dispatcher: Dispatcher | None = None

    @property
    def console_url(self) -> str:
        """Where people reach the console: links in alerts point there."""
        s = self.settings
        if s.public_url:
            return s.public_url.rstrip("/")
        host = "localhost" if s.host in ("0.0.0.0", "::", "") else s.host
        return f"http://{host}:{s.http_port}"

    async def start(self) -> None:
        s = self.settings
        http_socket = _bind(s.host, s.http_port, "HTTP")
        try:
            self.engine, self.sessions = await open_database(s.database_url)
            async with self.sessions() as session:
                await stations.reset_presence(session)
                await session.commit()
            self.writer = GroupCommitWriter(
                self.engine,
                writers=s.writers,
                max_batch=s.db_batch_max,
                on_commit=self.bus.publish,
                observe_commit=observe_commit,
            )
            self.writer.start()
            writer = self.writer
            DB_WRITER_BACKLOG.set_function(lambda: writer.backlog)
            hot_reads, self._hot_connection = await hot_path_sessions(self.engine, self.sessions)
            # periodic jobs, each run by one process of a cluster
            self.scheduler = Scheduler(self.writer)
            self.monitor = Monitor(
                self.writer,
                self.sessions,
                MonitoringConfig(
                    heartbeat_interval_s=s.heartbeat_interval,
                    offline_grace_s=s.offline_grace,
                    thresholds=Thresholds.from_mapping(s.anomaly_thresholds),
                ),
            )
            await self.monitor.recover()  # before any station connects
            self.monitor.install(self.bus, self.scheduler)
            self.alerts = AlertEngine(self.writer, self.sessions, Links(self.console_url))
            await self.alerts.start()  # the default rules, on a new installation
            self.alerts.install(self.bus, self.scheduler)
            # drivers hear of their sessions, and subscribers of stations back in service
            self.drivers = DriverNotifier(self.writer, self.sessions, self.alerts.links)
            self.drivers.install(self.bus, self.scheduler)
            self.subscriptions = BackInService(self.writer, self.sessions, self.alerts.links)
            self.subscriptions.install(self.bus, self.scheduler)
            self.dispatcher = Dispatcher(self.writer, self.sessions, _delivery_config(s))
            self.dispatcher.install(
                self.bus, self.scheduler, every=timedelta(seconds=s.notify_every)
            )
            self.dispatcher.start()
            handlers = ChargerHandlers(self.writer, heartbeat_interval_s=s.heartbeat_interval)
            if s.message_log_days > 0:
                self.message_log = message_log.MessageLog(
                    self.writer, flush_interval_s=s.message_log_flush_s
                )
                self.message_log.start()
                writer, days = self.writer, s.message_log_days
                self.scheduler.add(  # retention, hourly
                    "monitoring.message_log_retention",
                    timedelta(hours=1),
                    lambda now: message_log.purge_expired(writer, days),
                )
            self.gateway = Gateway(
                GatewayConfig(
                    host=s.host,
                    port=s.ocpp_port,
                    ping_interval_s=s.ws_ping_interval or None,
                    call_timeout_s=s.call_timeout,
                ),
                Admission(hot_reads, s.unknown_stations),
                handlers,
                self.writer,
                self.message_log,
            )
            try:
                await self.gateway.start()
            except OSError as exc:
                raise StartupError(
                    f"cannot listen for OCPP on {s.host}:{s.ocpp_port}: {exc.strerror}"
                ) from exc
            gateway = self.gateway
            self.commands = Commands(
                self.writer,
                gateway,
                self.sessions,
                public_url=s.public_url,
                read_config_after_boot=s.read_config_after_boot,
            )
            self.bus.subscribe(TransferStatusChanged, self.commands.on_transfer_status)
            self.bus.subscribe(FileReceived, self.commands.on_file_received)
            self.bus.subscribe(StationBooted, self.commands.on_station_booted)
            self.bus.subscribe(StationConnected, self.commands.on_station_connected)
            self.bus.subscribe(StationMoved, self.commands.on_station_moved)
            # every ended session gets its CDR; those that ended while we were down, now
            self.cdrs = CdrRecorder(self.writer, self.sessions)
            self.bus.subscribe(TransactionEnded, self.cdrs.on_transaction_ended)
            self._cdr_catch_up = asyncio.create_task(self.cdrs.catch_up(), name="cdr-catch-up")
            app = create_app(
                self.sessions,
                GatewayStatus(
                    running=lambda: gateway.running, connected=lambda: len(gateway.presence)
                ),
                self.commands,
                self.writer,
                FileStore(s.data_dir / "files", max_bytes=s.max_upload_mb * 2**20),
                s.secret_key or _stored_secret(s.data_dir),
                self.bus,
            )
            app.state.message_log_days = s.message_log_days  # the console says how long
            app.state.alert_links = self.alerts.links
            web.install(app)  # the console, beside the API it builds on
            self.scheduler.start()
            self._web_app = app
            config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
            self._http = _EmbeddedHttpServer(config)
            self._http_task = asyncio.create_task(self._http.serve(sockets=[http_socket]))
            while not self._http.started:
                if self._http_task.done():
                    raise StartupError("the HTTP server did not start")
                await asyncio.sleep(0.01)
        except BaseException:
            http_socket.close()
            await self.stop()
            raise
        log.info(
            "chargeops is running: API http://%s:%d/api/v1 (docs /docs), "
            "OCPP ws://%s:%d/ocpp/{station_id}",
            s.host,
            s.http_port,
            s.host,
            s.ocpp_port,
        )

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()  # a job cut short runs again at its next turn
            self.scheduler = None
        if self.dispatcher is not None:
            await self.dispatcher.stop()  # what it did not send waits in the outbox
            self.dispatcher = None
        if self.gateway is not None:
            await self.gateway.stop()  # fails the calls still awaiting an answer
        if self.commands is not None:
            await self.commands.drain()  # ...and their records say so
        if self.message_log is not None:
            await self.message_log.stop()  # the last frames, while the writer still runs
            self.message_log = None
        if self._web_app is not None:
            web.shutdown(self._web_app)  # open live pages would hold the HTTP server up
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await asyncio.gather(self._http_task, return_exceptions=True)
        if self._cdr_catch_up is not None:
            self._cdr_catch_up.cancel()  # what it did not reach, the next start does
            await asyncio.gather(self._cdr_catch_up, return_exceptions=True)
            self._cdr_catch_up = None
        if self.writer is not None:
            await self.writer.stop()
        await self.bus.drain()
        if self._hot_connection is not None:
            await self._hot_connection.close()
            self._hot_connection = None
        if self.engine is not None:
            await self.engine.dispose()
        self.gateway = self.writer = self._http = self._http_task = None
        self.engine = None
