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
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.commands.models import Command, CommandProgress
from chargeops.core.clock import utcnow
from chargeops.core.commands import CommandAnswer, CommandName, CommandRequest, CommandStatus
from chargeops.core.errors import InvalidInput, NotFound
from chargeops.core.events import (
    DomainEvent,
    FileReceived,
    StationBooted,
    StationConnected,
    StationMoved,
    TransferStatusChanged,
)
from chargeops.files import service as files
from chargeops.files.models import UploadSlot
from chargeops.sessions.models import ChargingSession
from chargeops.stations import service as stations
from chargeops.storage.writer import GroupCommitWriter, Work, WriterClosed
from chargeops.users import local_lists, tokens

log = logging.getLogger(__name__)

# After a boot, the configuration is read this much later: the station has its
# BootNotification answer by then, and its first status reports are in.
BOOT_READ_DELAY_S = 2.0
AFTER_BOOT = "chargeops (after boot)"
LIST_MISMATCH = "chargeops (local list version mismatch)"
LIST_STALE = "chargeops (local list missed changes)"
LIST_MOVED = "chargeops (station moved to another site)"
# which command a station's transfer reports are progress of
_TRANSFERS = {
    "firmware": CommandName.UPDATE_FIRMWARE.value,
    "diagnostics": CommandName.GET_DIAGNOSTICS.value,
}


class CommandSender(Protocol):
    """The gateway, as the commands domain sees it."""

    def prepare_call(
        self, station_id: str, request: CommandRequest, *, last_version: str | None = None
    ) -> Any:
        """The CALL for ``request`` (with an ``action``), None if the station is not
        connected; InvalidInput if the arguments do not make a valid CALL (in the version
        it last spoke, when it is not connected)."""
        ...

    async def call(self, prepared: Any) -> CommandAnswer: ...


def parse_request(name: str, arguments: dict[str, Any]) -> CommandRequest:
    try:
        command = CommandName(name)
    except ValueError:
        names = ", ".join(n.value for n in CommandName)
        raise InvalidInput(f"unknown command {name!r}; commands: {names}") from None
    return CommandRequest(command, dict(arguments))


async def _transaction_of(db: AsyncSession, station_id: str, name: str, session_id: Any) -> str:
    """Operators name our session id; the charger knows its own transaction id."""
    try:
        row = await db.get(ChargingSession, int(session_id))
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: session_id must be a session's id") from None
    if row is None or row.station_id != station_id:
        raise NotFound(f"no session {session_id} on station {station_id}")
    if row.status != "active" or row.transaction_id is None:
        raise InvalidInput(f"{name}: session {session_id} is not active")
    return row.transaction_id


class Commands:
    """Issues commands and keeps their records; one instance per process."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        sender: CommandSender,
        sessions: async_sessionmaker[AsyncSession],
        *,
        public_url: str | None = None,
        read_config_after_boot: bool = True,
    ) -> None:
        self._writer = writer
        self._sender = sender
        self._sessions = sessions
        self._public_url = public_url.rstrip("/") if public_url else None
        self._read_config_after_boot = read_config_after_boot
        self._running: set[asyncio.Task[None]] = set()
        self._closing = False
        self._list_versions: dict[str, int] = {}  # the last local list version sent
        self._list_updates: set[int] = set()  # commands carrying a token change

    async def issue(
        self,
        db: AsyncSession,
        station_id: str,
        request: CommandRequest,
        *,
        requested_by: str,
        base_url: str | None = None,
        list_update: bool = False,
    ) -> tuple[Command, asyncio.Task[None] | None]:
        """Record the command and start it; the task ends when its outcome is recorded.

        Bad arguments raise InvalidInput and record nothing. A station that is not
        connected gets a record with ``station_offline`` at once. ``base_url`` is where
        the caller reached our HTTP API: where stations upload, unless the settings
        name a public URL. ``list_update``: a local list update chargeops made for a
        token change, repaired with a whole list if the station's version differs.
        """
        station = await stations.require_station(db, station_id)
        sent, slot = await self._in_station_terms(db, station_id, request, base_url)
        prepared = self._sender.prepare_call(station_id, sent, last_version=station.ocpp_version)
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
            if slot is not None and prepared is not None:
                slot.command_id = record.id
                w.session.add(slot)
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
        if list_update:
            self._list_updates.add(record.id)
        task = asyncio.create_task(self._complete(record.id, station_id, prepared, sent))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return record, task

    async def _in_station_terms(
        self, db: AsyncSession, station_id: str, request: CommandRequest, base_url: str | None
    ) -> tuple[CommandRequest, UploadSlot | None]:
        """The request with what operators say in our words put in the station's: our
        session ids become its transaction ids, a missing upload location becomes ours,
        a local list without tokens becomes every registered token."""
        args = dict(request.arguments)
        name = request.name
        slot = None
        if name is CommandName.STOP_SESSION and "session_id" not in args:
            raise InvalidInput("stop_session: session_id is required")
        if name is CommandName.SET_CHARGING_PROFILE and {"session_id", "charging_profile"} <= set(
            args
        ):
            raise InvalidInput(
                "set_charging_profile: session_id goes with the short form (limit, unit); "
                "a whole charging_profile names its transactionId itself"
            )
        sessions = (CommandName.STOP_SESSION, CommandName.SET_CHARGING_PROFILE)
        if name in sessions and "session_id" in args:
            session_id = args.pop("session_id")
            args["transaction_id"] = await _transaction_of(db, station_id, name.value, session_id)
            if name is CommandName.SET_CHARGING_PROFILE:
                args.setdefault("purpose", "tx")
        if name is CommandName.GET_DIAGNOSTICS and "location" not in args:
            base = self._public_url or (base_url.rstrip("/") if base_url else None)
            if base is None:
                raise InvalidInput(
                    "get_diagnostics: give a location, or set CHARGEOPS_PUBLIC_URL so "
                    "stations can upload to chargeops"
                )
            slot = files.new_slot(station_id, "diagnostics")
            args["location"] = f"{base}/uploads/{slot.token}"
        if name is CommandName.SEND_LOCAL_LIST:
            if "tokens" not in args:
                if args.get("update", "full") != "full":
                    raise InvalidInput("send_local_list: a differential update needs tokens")
                args["tokens"] = await local_lists.entries_for(db, station_id)
            if "version" not in args:
                # calls to a station go out in the order issued: a version above any
                # already on its way is accepted after them
                stored = await local_lists.version_of(db, station_id)
                args["version"] = max(stored, self._list_versions.get(station_id, 0)) + 1
            if isinstance(args["version"], int):
                self._list_versions[station_id] = max(
                    args["version"], self._list_versions.get(station_id, 0)
                )
        return CommandRequest(name, args), slot

    async def _complete(
        self, command_id: int, station_id: str, prepared: Any, sent: CommandRequest
    ) -> None:
        try:
            answer = await self._sender.call(prepared)
        except Exception as exc:  # the command must still end with a status
            log.exception("command %s failed", command_id)
            answer = CommandAnswer(CommandStatus.FAILED, detail=f"internal error: {exc}")

        async def store(w: Work) -> None:
            now = utcnow()
            record = await w.session.get(Command, command_id)
            if record is not None:
                record.status = answer.status.value
                record.response = answer.response
                record.detail = answer.detail
                record.answered_at = now
            if answer.variables:
                await stations.record_variables(w, station_id, answer.variables, at=now)
            await _record_local_list(w, station_id, sent, answer, at=now)

        await self._writer.submit(store)
        log.info("command %s: %s", command_id, answer.status.value)
        ours = command_id in self._list_updates
        self._list_updates.discard(command_id)
        if (
            ours
            and (answer.response or {}).get("status") == "VersionMismatch"
            and not self._closing
        ):
            # the station's list is not the one we think: give it the whole list (only
            # for updates chargeops made; an operator's own differential is theirs)
            async with self._sessions() as db:
                await self.push_local_lists(db, [station_id], requested_by=LIST_MISMATCH)

    async def push_local_lists(
        self, db: AsyncSession, station_ids: Sequence[str] | None, *, requested_by: str
    ) -> list[Command]:
        """Send each station its whole local list (every token that may charge there);
        None: every station that uses a local list. Offline ones get a station_offline
        record, and a whole list when they next connect."""
        targets = (
            list(station_ids)
            if station_ids is not None
            else await local_lists.users_of_local_lists(db)
        )
        request = CommandRequest(CommandName.SEND_LOCAL_LIST, {"update": "full"})
        records = []
        for station_id in targets:
            record, _ = await self.issue(db, station_id, request, requested_by=requested_by)
            records.append(record)
            if record.status == CommandStatus.STATION_OFFLINE.value:
                await self._mark_stale(station_id)
        return records

    async def token_changed(
        self, db: AsyncSession, id_tag: str, *, requested_by: str
    ) -> list[Command]:
        """Tell every station holding our local list what became of a token (blocked,
        restricted, removed...), so it does not go on accepting it while offline."""
        records = []
        token = await tokens.find_token(db, id_tag)
        for station_id in await local_lists.holders(db):
            entry = await local_lists.entry_for(db, station_id, id_tag, token)
            request = CommandRequest(
                CommandName.SEND_LOCAL_LIST, {"update": "differential", "tokens": [entry]}
            )
            try:
                record, _ = await self.issue(
                    db, station_id, request, requested_by=requested_by, list_update=True
                )
            except InvalidInput as exc:  # e.g. a 2.0.1-only token type on a 1.6 station
                log.warning("local list of %s not updated for %s: %s", station_id, id_tag, exc)
                await self._mark_stale(station_id)
                continue
            records.append(record)
            if record.status == CommandStatus.STATION_OFFLINE.value:
                await self._mark_stale(station_id)
        return records

    async def on_station_moved(self, event: DomainEvent) -> None:
        """A station holding our local list, moved to another site, gets the list for its
        new site: tokens kept to the old one must not charge there offline."""
        assert isinstance(event, StationMoved)
        if self._closing:
            return
        try:
            async with self._sessions() as db:
                if await local_lists.version_of(db, event.station_id) > 0:
                    await self.push_local_lists(db, [event.station_id], requested_by=LIST_MOVED)
        except WriterClosed:
            log.info("local list not sent after a move: shutting down")

    async def _mark_stale(self, station_id: str) -> None:
        async def unit(w: Work) -> None:
            await local_lists.mark_stale(w, station_id)

        await self._writer.submit(unit)

    async def on_station_connected(self, event: DomainEvent) -> None:
        """A station that missed a token change while away gets its whole list back."""
        assert isinstance(event, StationConnected)
        async with self._sessions() as db:
            if not await local_lists.is_stale(db, event.station_id):
                return  # most connections: nothing to wait for
        await asyncio.sleep(BOOT_READ_DELAY_S)  # its BootNotification, if any, first
        if self._closing:
            return
        try:
            async with self._sessions() as db:
                if await local_lists.is_stale(db, event.station_id):
                    await self.push_local_lists(db, [event.station_id], requested_by=LIST_STALE)
        except WriterClosed:
            log.info("local list not sent after reconnect: shutting down")

    async def on_transfer_status(self, event: DomainEvent) -> None:
        """Follow update_firmware and get_diagnostics through what the station reports."""
        assert isinstance(event, TransferStatusChanged)
        await self._writer.submit(lambda w: _record_transfer(w, event))

    async def on_file_received(self, event: DomainEvent) -> None:
        assert isinstance(event, FileReceived)
        if event.command_id is None:
            return
        detail = {"file_id": event.file_id, "filename": event.filename, "size": event.size_bytes}
        progress = CommandProgress(
            command_id=event.command_id, status="FileReceived", at=event.occurred_at, detail=detail
        )

        async def store(w: Work) -> None:
            w.session.add(progress)

        await self._writer.submit(store)

    async def on_station_booted(self, event: DomainEvent) -> None:
        """Read a station's configuration after it booted, the way an operator would: a
        command like any other, so its record shows when and what came back."""
        assert isinstance(event, StationBooted)
        if not self._read_config_after_boot or event.registration != "Accepted":
            return
        await asyncio.sleep(BOOT_READ_DELAY_S)
        if self._closing:
            return
        request = CommandRequest(CommandName.GET_CONFIGURATION)
        try:
            async with self._sessions() as db:
                await self.issue(db, event.station_id, request, requested_by=AFTER_BOOT)
        except WriterClosed:
            log.info("configuration not read after boot: shutting down")

    async def drain(self) -> None:
        """Let running commands record their outcome (at shutdown), and start no more."""
        self._closing = True
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)


async def _record_local_list(
    work: Work, station_id: str, sent: CommandRequest, answer: CommandAnswer, *, at: datetime
) -> None:
    """Keep the local list version a station confirmed; a station that missed an update
    is marked stale, so it gets a whole list when it next connects."""
    args = sent.arguments
    if sent.name is CommandName.GET_LOCAL_LIST_VERSION and answer.status is CommandStatus.ACCEPTED:
        reported = (answer.response or {}).get(
            "listVersion", (answer.response or {}).get("versionNumber")
        )
        if isinstance(reported, int):
            await local_lists.record_version(
                work, station_id, reported, entries=None, at=at, stale=None
            )
    elif sent.name is CommandName.SEND_LOCAL_LIST:
        full = args.get("update", "full") == "full"
        if answer.status is CommandStatus.ACCEPTED:
            await local_lists.record_version(
                work,
                station_id,
                int(args["version"]),
                entries=len(args["tokens"]) if full else None,
                at=at,
                stale=False if full else None,
            )
        else:
            await local_lists.mark_stale(work, station_id)


async def _record_transfer(work: Work, event: TransferStatusChanged) -> None:
    """A progress row for the newest transfer command the report can belong to: 2.0.1
    names its request; 1.6 does not, and has one transfer of a kind at a time."""
    candidates = (
        await work.session.execute(
            select(Command)
            .where(
                Command.station_id == event.station_id,
                Command.name == _TRANSFERS[event.transfer],
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
        work.session.add(
            CommandProgress(command_id=record.id, status=event.status, at=event.occurred_at)
        )


async def progress_of(db: AsyncSession, command_ids: Sequence[int]) -> dict[int, list[Any]]:
    """Each command's progress reports, in the order the station sent them: they are
    recorded from the bus, where two reports in quick succession may be stored in either
    order, so the time of receipt decides and the row id only breaks ties."""
    if not command_ids:
        return {}
    rows = (
        await db.execute(
            select(CommandProgress)
            .where(CommandProgress.command_id.in_(command_ids))
            .order_by(CommandProgress.command_id, CommandProgress.at, CommandProgress.id)
        )
    ).scalars()
    out: dict[int, list[Any]] = {}
    for row in rows:
        out.setdefault(row.command_id, []).append(row)
    return out


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
    await stations.require_station(db, station_id)
    stmt = (
        select(Command)
        .where(Command.station_id == station_id)
        .order_by(Command.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(Command.id < before_id)
    return (await db.execute(stmt)).scalars().all()
