"""The OCPP-J WebSocket server: ``ws://host:9000/ocpp/{station_id}`` (or ``/{station_id}``).

This module only moves bytes: it admits a connection, feeds received frames to the
station's sans-I/O :class:`ChargerSession`, hands requests to the handlers, and sends
what the session produces. Requests of one station are handled one after another, by a
task separate from the reading loop, so a slow database never stops us from reading
(and answering our own calls).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse
from websockets.typing import Subprotocol

from chargeops.core.charging import RegistrationStatus, StationContext
from chargeops.core.clock import utcnow
from chargeops.core.commands import CommandAnswer, CommandRequest, CommandStatus
from chargeops.core.errors import ChargeOpsError
from chargeops.core.logs import station_var
from chargeops.core.metrics import CONNECTED_STATIONS, OCPP_ANSWER_SECONDS, OCPP_MESSAGES
from chargeops.gateway.admission import Admission, Decision
from chargeops.gateway.handlers import ChargerHandlers
from chargeops.gateway.presence import Presence
from chargeops.monitoring.message_log import MessageLog
from chargeops.protocol import session as proto
from chargeops.protocol import v16, v201
from chargeops.protocol.errors import ErrorCode
from chargeops.stations import service as stations
from chargeops.storage.writer import GroupCommitWriter, Work, WriterClosed

log = logging.getLogger(__name__)

# What we speak, best first: a charger offering several versions gets the best of them.
SUPPORTED: dict[str, type[proto.Adapter]] = {
    adapter.subprotocol: adapter for adapter in (v201.V21Adapter, v201.V201Adapter, v16.V16Adapter)
}
_BY_VERSION = {adapter.version: adapter for adapter in SUPPORTED.values()}
CLOSE_REPLACED = 4000  # private-use close code: a newer connection took over
LAST_SEEN_SLICE = 500


def station_id_from_path(path: str) -> str | None:
    parts = [unquote(p) for p in urlsplit(path).path.split("/") if p]
    if len(parts) == 2 and parts[0] == "ocpp":
        return parts[1]
    if len(parts) == 1 and parts[0] != "ocpp":
        return parts[0]
    return None


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    host: str = "0.0.0.0"
    port: int = 9000
    ping_interval_s: float | None = 180.0
    ping_timeout_s: float | None = 60.0
    call_timeout_s: float = 30.0
    last_seen_flush_s: float = 30.0
    max_frame_bytes: int = 1 << 20
    open_timeout_s: float = 30.0


@dataclass(eq=False)
class StationConnection:
    station_id: str
    ws: ServerConnection
    session: proto.ChargerSession
    context: StationContext
    inbox: deque[proto.Request] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None
    received_at: dict[str, float] = field(default_factory=dict)
    # our CALLs awaiting the charger's answer: unique id -> what to resolve
    calls: dict[str, OutboundCall] = field(default_factory=dict)
    call_watch: asyncio.Task[None] | None = None


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        admission: Admission,
        handlers: ChargerHandlers,
        writer: GroupCommitWriter,
        message_log: MessageLog | None = None,
    ) -> None:
        self.config = config
        self._admission = admission
        self._handlers = handlers
        self._writer = writer
        self._message_log = message_log  # None: frames are not logged
        self.presence: Presence[StationConnection] = Presence()
        # set by the handshake, read by the connection handler; gone with the connection
        self._decisions: weakref.WeakKeyDictionary[ServerConnection, Decision] = (
            weakref.WeakKeyDictionary()
        )
        self._server: Server | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._server is not None

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await serve(
            self._serve_connection,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            compression=None,  # deflate costs ~100 KB a connection; OCPP frames are small
            ping_interval=self.config.ping_interval_s,
            ping_timeout=self.config.ping_timeout_s,
            max_size=self.config.max_frame_bytes,
            # during a reconnect storm a handshake may wait its turn; dropping it would
            # throw away the work already done and bring the charger back later
            open_timeout=self.config.open_timeout_s,
            server_header="chargeops",
        )
        self._flusher = asyncio.create_task(self._flush_last_seen_periodically())
        log.info(
            "OCPP gateway listening on ws://%s:%d/ocpp/{station_id}",
            self.config.host,
            self.config.port,
        )

    async def stop(self) -> None:
        """Close every socket (1001 going away), let handlers finish, write presence."""
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        if self._flusher is not None:
            self._flusher.cancel()
        await self._flush_last_seen()

    # --- handshake ------------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: HttpRequest
    ) -> HttpResponse | None:
        station_id = station_id_from_path(request.path)
        if station_id is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "connect to /ocpp/{station_id}\n")
        decision = await self._admission.admit(station_id, request.headers.get("Authorization"))
        if not decision.allowed:
            log.warning(
                "connection refused: %s",
                decision.reason,
                extra={"station_id": station_id, "remote": str(connection.remote_address)},
            )
            response = connection.respond(decision.status, decision.reason + "\n")
            if decision.status == HTTPStatus.UNAUTHORIZED:
                response.headers["WWW-Authenticate"] = 'Basic realm="chargeops", charset="UTF-8"'
            return response
        self._decisions[connection] = decision
        return None

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        for name in SUPPORTED:
            if name in offered:
                return Subprotocol(name)
        if not offered:
            # Some older 1.6 chargers offer nothing; OCPP-J 1.6 is what they speak.
            return None
        self._decisions.pop(connection, None)
        raise NegotiationError(
            f"none of the offered OCPP versions ({', '.join(offered)}) is supported; "
            f"chargeops speaks {', '.join(SUPPORTED)}"
        )

    # --- a connection ---------------------------------------------------------------

    async def _serve_connection(self, ws: ServerConnection) -> None:
        decision = self._decisions.pop(ws, Decision(True))
        station_id = station_id_from_path(ws.request.path if ws.request else "") or "?"
        station_var.set(station_id)
        adapter = SUPPORTED.get(ws.subprotocol or v16.SUBPROTOCOL, v16.V16Adapter)()
        now = utcnow()
        try:
            registration = await self._writer.submit(
                lambda w: stations.mark_connected(
                    w, station_id, adapter.version, auto_register=decision.auto_register, at=now
                )
            )
        except (ChargeOpsError, WriterClosed) as exc:
            log.warning("connection dropped: %s", exc)
            await ws.close(1011, "station could not be registered")
            return
        conn = StationConnection(
            station_id,
            ws,
            proto.ChargerSession(adapter, call_timeout=self.config.call_timeout_s),
            StationContext(
                station_id,
                adapter.version,
                RegistrationStatus("Accepted" if registration == "accepted" else "Pending"),
            ),
        )
        old = self.presence.attach(station_id, conn)
        if old is not None:
            log.info("station reconnected; closing its previous connection")
            closing = asyncio.create_task(
                old.ws.close(CLOSE_REPLACED, "replaced by a new connection")
            )
            self._background.add(closing)
            closing.add_done_callback(self._background.discard)
        CONNECTED_STATIONS.set(len(self.presence))
        log.info(
            "station connected (OCPP %s, %s)",
            adapter.version,
            registration,
            extra={"remote": str(ws.remote_address)},
        )
        try:
            await self._read_loop(conn)
        finally:
            self._fail_calls(conn)
            if conn.call_watch is not None:
                conn.call_watch.cancel()
            if conn.worker is not None:
                await asyncio.gather(conn.worker, return_exceptions=True)
            current = self.presence.detach(station_id, conn)
            CONNECTED_STATIONS.set(len(self.presence))
            log.info("station disconnected (code %s)", ws.close_code)
            if current:
                at = utcnow()
                try:
                    await self._writer.submit(
                        lambda w: stations.mark_disconnected(w, station_id, at=at)
                    )
                except Exception:
                    log.exception("could not record the disconnection")

    # --- our calls to chargers -------------------------------------------------------

    def prepare_call(
        self, station_id: str, request: CommandRequest, *, last_version: str | None = None
    ) -> PreparedCall | None:
        """The CALL for ``request`` on the station's connection; None if it is not
        connected. InvalidInput if the arguments do not make a valid CALL: for a station
        that is not connected, in the OCPP version it last spoke, so a mistake is
        reported now rather than at the next attempt."""
        conn = self.presence.get(station_id)
        if conn is None:
            adapter = _BY_VERSION.get(last_version or "")
            if adapter is not None:
                adapter().command(request)
            return None
        action, payload = conn.session.adapter.command(request)
        return PreparedCall(station_id, request, action, payload, conn)

    async def call(self, prepared: PreparedCall) -> CommandAnswer:
        """Send a prepared CALL (after any of ours still queued for that charger: one
        outstanding at a time) and wait for its outcome."""
        conn = prepared.connection
        if self.presence.get(prepared.station_id) is not conn:
            return CommandAnswer(
                CommandStatus.STATION_OFFLINE,
                detail=f"station {prepared.station_id} disconnected before the command went out",
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CommandAnswer] = loop.create_future()
        unique_id = conn.session.send_call(prepared.action, prepared.payload, loop.time())
        conn.calls[unique_id] = OutboundCall(prepared.request, prepared.action, future)
        await self._flush(conn)
        if conn.call_watch is None or conn.call_watch.done():
            conn.call_watch = asyncio.create_task(self._watch_calls(conn))
        return await future

    async def _watch_calls(self, conn: StationConnection) -> None:
        """Time out our CALLs the charger does not answer; the next queued one goes out."""
        loop = asyncio.get_running_loop()
        while conn.calls:
            deadline = conn.session.next_deadline
            if deadline is None:
                return
            await asyncio.sleep(max(0.0, deadline - loop.time()) + 0.01)
            for event in conn.session.expire(loop.time()):
                self._on_event(conn, event, loop.time())
            await self._flush(conn)

    def _resolve_call(self, conn: StationConnection, event: proto.SessionEvent) -> None:
        assert isinstance(event, proto.CallAnswered | proto.CallFailed)
        pending = conn.calls.pop(event.unique_id, None)
        if pending is None or pending.future.done():
            return
        if isinstance(event, proto.CallAnswered):
            answer = conn.session.adapter.command_answer(
                pending.request, pending.action, event.payload
            )
        elif event.code == proto.TIMEOUT:
            answer = CommandAnswer(CommandStatus.TIMEOUT, detail=event.description)
        else:
            answer = CommandAnswer(
                CommandStatus.FAILED,
                {"error_code": event.code, "description": event.description, **event.details},
                f"the station answered with a CALLERROR: {event.code} {event.description}",
            )
        pending.future.set_result(answer)

    def _fail_calls(self, conn: StationConnection) -> None:
        for pending in conn.calls.values():
            if not pending.future.done():
                pending.future.set_result(
                    CommandAnswer(
                        CommandStatus.FAILED,
                        detail="the connection closed before the station answered",
                    )
                )
        conn.calls.clear()

    async def _read_loop(self, conn: StationConnection) -> None:
        loop = asyncio.get_running_loop()
        message_log = self._message_log
        try:
            async for text in conn.ws:
                now = utcnow()
                self.presence.seen(conn.station_id, now)
                if isinstance(text, bytes):
                    log.warning("binary frame ignored: OCPP-J uses text frames")
                    continue
                if message_log is not None:
                    message_log.record(conn.station_id, "in", text, now)
                for event in conn.session.receive(text, loop.time()):
                    self._on_event(conn, event, loop.time())
                await self._flush(conn)
        except ConnectionClosed:
            pass

    def _on_event(self, conn: StationConnection, event: proto.SessionEvent, now: float) -> None:
        match event:
            case proto.Request():
                conn.received_at[event.unique_id] = now
                conn.inbox.append(event)
                if conn.worker is None or conn.worker.done():
                    conn.worker = asyncio.create_task(self._work(conn))
            case proto.Refused(unique_id, action, code, description):
                # label only actions we know: chargers must not grow our metrics at will
                known = action if action in conn.session.adapter.actions else "unknown"
                OCPP_MESSAGES.labels(known, "refused").inc()
                log.warning(
                    "refused %s frame %s: %s %s", action or "a", unique_id or "", code, description
                )
            case proto.StrayAnswer(unique_id):
                log.info("answer to no pending call ignored (%s)", unique_id)
            case proto.CallAnswered() | proto.CallFailed():
                log.debug("answer to our call %s", event.unique_id)
                self._resolve_call(conn, event)

    async def _work(self, conn: StationConnection) -> None:
        """Handle this station's requests in arrival order, answering each when committed."""
        loop = asyncio.get_running_loop()
        while conn.inbox:
            request = conn.inbox.popleft()
            result = "ok"
            try:
                answer = await self._handlers.handle(conn.context, request.message)
                conn.session.answer(request.unique_id, answer)
            except WriterClosed:
                return  # shutting down: no answer, the charger will resend after reconnect
            except ChargeOpsError as exc:
                result = "error"
                log.warning("%s failed: %s", request.action, exc.detail)
                conn.session.answer_error(request.unique_id, ErrorCode.GENERIC_ERROR, exc.detail)
            except Exception:
                result = "error"
                log.exception("%s failed", request.action)
                conn.session.answer_error(
                    request.unique_id,
                    ErrorCode.INTERNAL_ERROR,
                    "the central system could not process this message",
                )
            await self._flush(conn)
            started = conn.received_at.pop(request.unique_id, None)
            if started is not None:
                OCPP_ANSWER_SECONDS.labels(request.action).observe(loop.time() - started)
            OCPP_MESSAGES.labels(request.action, result).inc()

    async def _flush(self, conn: StationConnection) -> None:
        message_log = self._message_log
        for frame in conn.session.data_to_send():
            try:
                await conn.ws.send(frame)
            except ConnectionClosed:
                log.info("connection closed before the answer could be sent")
                return
            if message_log is not None:  # what went out, not what we meant to send
                message_log.record(conn.station_id, "out", frame, utcnow())

    # --- presence -------------------------------------------------------------------

    async def _flush_last_seen_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.config.last_seen_flush_s)
            try:
                await self._flush_last_seen()
            except Exception:
                log.exception("could not write last-seen times")

    async def _flush_last_seen(self) -> None:
        # In slices, one after another: one UPDATE of 10,000 rows, or twenty slices queued
        # at once, would hold the writer (and, on SQLite, the event loop) long enough for
        # every charger to notice; one at a time, chargers' messages pass in between.
        items = list(self.presence.take_seen().items())
        for i in range(0, len(items), LAST_SEEN_SLICE):
            await self._writer.submit(_last_seen_unit(dict(items[i : i + LAST_SEEN_SLICE])))


@dataclass(frozen=True, slots=True)
class OutboundCall:
    request: CommandRequest
    action: str
    future: asyncio.Future[CommandAnswer]


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """A command turned into the CALL of the connection it will go out on."""

    station_id: str
    request: CommandRequest
    action: str
    payload: dict[str, Any]
    connection: StationConnection


def _last_seen_unit(seen: dict[str, datetime]) -> Callable[[Work], Awaitable[None]]:
    async def unit(work: Work) -> None:
        await stations.record_last_seen(work.session, seen)

    return unit
