"""Commands: record the request, hand it to the station's connection, record the outcome.

The gateway is reached through :class:`CommandSender` (the composition root wires the
gateway in), so this domain knows no transport. The outcome is recorded by a task of its
own, so a command ends in a final status even when the caller stopped waiting. Every
write goes through the process's group-commit writer: on SQLite a second writer in the
same process would wait on a lock held by the first, on the event loop both need.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.commands.models import Command
from chargeops.core.clock import format_timestamp, utcnow
from chargeops.core.commands import CommandAnswer, CommandName, CommandRequest, CommandStatus
from chargeops.core.errors import InvalidInput, NotFound
from chargeops.core.events import DomainEvent, FirmwareStatusChanged
from chargeops.sessions.models import ChargingSession
from chargeops.stations.models import Station
from chargeops.storage.writer import GroupCommitWriter, Work

log = logging.getLogger(__name__)


class CommandSender(Protocol):
    """The gateway, as the commands domain sees it."""

    def prepare_call(self, station_id: str, request: CommandRequest) -> Any:
        """The CALL for ``request`` (with an ``action``), None if the station is not
        connected; InvalidInput if the arguments do not make a valid CALL."""
        ...

    async def call(self, prepared: Any) -> CommandAnswer: ...


def parse_request(name: str, arguments: dict[str, Any]) -> CommandRequest:
    try:
        command = CommandName(name)
    except ValueError:
        names = ", ".join(n.value for n in CommandName)
        raise InvalidInput(f"unknown command {name!r}; commands: {names}") from None
    return CommandRequest(command, dict(arguments))


async def _resolve_session(
    db: AsyncSession, station_id: str, request: CommandRequest
) -> CommandRequest:
    """stop_session names our session id; the charger knows its own transaction id."""
    if request.name is not CommandName.STOP_SESSION:
        return request
    args = dict(request.arguments)
    session_id = args.pop("session_id", None)
    if session_id is None:
        raise InvalidInput("stop_session: session_id is required")
    try:
        row = await db.get(ChargingSession, int(session_id))
    except (TypeError, ValueError):
        raise InvalidInput("stop_session: session_id must be a session's id") from None
    if row is None or row.station_id != station_id:
        raise NotFound(f"no session {session_id} on station {station_id}")
    if row.status != "active" or row.transaction_id is None:
        raise InvalidInput(f"stop_session: session {session_id} is not active")
    return CommandRequest(request.name, {**args, "transaction_id": row.transaction_id})


class Commands:
    """Issues commands and keeps their records; one instance per process."""

    def __init__(self, writer: GroupCommitWriter, sender: CommandSender) -> None:
        self._writer = writer
        self._sender = sender
        self._running: set[asyncio.Task[None]] = set()

    async def issue(
        self,
        db: AsyncSession,
        station_id: str,
        request: CommandRequest,
        *,
        requested_by: str,
    ) -> tuple[Command, asyncio.Task[None] | None]:
        """Record the command and start it; the task ends when its outcome is recorded.

        Bad arguments raise InvalidInput and record nothing. A station that is not
        connected gets a record with ``station_offline`` at once.
        """
        if await db.get(Station, station_id) is None:
            raise NotFound(f"no station {station_id!r}")
        sent = await _resolve_session(db, station_id, request)
        prepared = self._sender.prepare_call(station_id, sent)
        now = utcnow()
        record = Command(
            station_id=station_id,
            name=request.name.value,
            arguments=request.arguments,
            requested_by=requested_by,
            requested_at=now,
            status=CommandStatus.PENDING.value,
        )
        if prepared is None:
            record.status = CommandStatus.STATION_OFFLINE.value
            record.detail = f"station {station_id} is not connected; try again when it is"
            record.answered_at = now
        else:
            record.action = prepared.action
            record.payload = prepared.payload
            record.status = CommandStatus.SENT.value
            record.sent_at = now

        async def store(w: Work) -> Command:
            w.session.add(record)
            await w.session.flush()
            return record

        await self._writer.submit(store)
        log.info(
            "command %s %s to %s by %s: %s",
            record.id,
            record.name,
            station_id,
            requested_by,
            record.status,
            extra={"station_id": station_id},
        )
        if prepared is None:
            return record, None
        task = asyncio.create_task(self._complete(record.id, prepared))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return record, task

    async def _complete(self, command_id: int, prepared: Any) -> None:
        try:
            answer = await self._sender.call(prepared)
        except Exception as exc:  # the command must still end with a status
            log.exception("command %s failed", command_id)
            answer = CommandAnswer(CommandStatus.FAILED, detail=f"internal error: {exc}")

        async def store(w: Work) -> None:
            record = await w.session.get(Command, command_id)
            if record is not None:
                record.status = answer.status.value
                record.response = answer.response or None
                record.detail = answer.detail
                record.answered_at = utcnow()

        await self._writer.submit(store)
        log.info("command %s: %s", command_id, answer.status.value)

    async def on_firmware_status(self, event: DomainEvent) -> None:
        """Follow an update_firmware command through the statuses the station reports."""
        assert isinstance(event, FirmwareStatusChanged)
        # handlers start in the order events were published, and the writer keeps the
        # order units were submitted in: each step lands after the one before
        await self._writer.submit(lambda w: _record_progress(w, event))

    async def drain(self) -> None:
        """Let running commands record their outcome (at shutdown)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)


async def _record_progress(work: Work, event: FirmwareStatusChanged) -> None:
    candidates = (
        await work.session.execute(
            select(Command)
            .where(
                Command.station_id == event.station_id,
                Command.name == CommandName.UPDATE_FIRMWARE.value,
                Command.status.in_([CommandStatus.SENT.value, CommandStatus.ACCEPTED.value]),
            )
            .order_by(Command.id.desc())
            .limit(5)
        )
    ).scalars()
    record = next(
        (
            c
            for c in candidates
            if event.request_id is None or (c.payload or {}).get("requestId") == event.request_id
        ),
        None,
    )
    if record is not None:
        step = {"status": event.status, "at": format_timestamp(event.occurred_at)}
        record.progress = [*(record.progress or []), step]


async def get_command(db: AsyncSession, command_id: int) -> Command:
    row = await db.get(Command, command_id)
    if row is None:
        raise NotFound(f"no command {command_id}")
    return row


async def list_commands(
    db: AsyncSession,
    station_id: str,
    *,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[Command]:
    if await db.get(Station, station_id) is None:
        raise NotFound(f"no station {station_id!r}")
    stmt = (
        select(Command)
        .where(Command.station_id == station_id)
        .order_by(Command.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(Command.id < before_id)
    return (await db.execute(stmt)).scalars().all()
