"""What the central system does for each request a charger sends.

Each request becomes one unit of work for the group-commit writer, so its answer is
returned only after what it acknowledges is committed. Services do the work; this module
only decides which services a request needs and in what order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson

from chargeops.core import charging as c
from chargeops.core import events
from chargeops.core.clock import utcnow
from chargeops.monitoring import faults
from chargeops.sessions import service as sessions
from chargeops.sessions import transaction_events
from chargeops.stations import service as stations
from chargeops.storage.writer import GroupCommitWriter, Work
from chargeops.users import tokens

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, default=str))


class ChargerHandlers:
    def __init__(
        self,
        writer: GroupCommitWriter,
        *,
        heartbeat_interval_s: int = 300,
        pending_retry_s: int = 60,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._writer = writer
        self._heartbeat_interval = heartbeat_interval_s
        self._pending_retry = pending_retry_s
        self._clock = clock

    async def handle(self, ctx: c.StationContext, request: c.ChargerRequest) -> c.ChargerAnswer:
        now = self._clock()
        sid = ctx.station_id
        match request:
            case c.StationIdentity():
                return await self._boot(ctx, request, now)
            case c.Heartbeat():
                await self._writer.submit(lambda w: stations.record_heartbeat(w, sid, at=now))
                return c.HeartbeatAnswer(self._clock())
            case c.ConnectorStatusReport():
                await self._status(sid, request, now)
                return c.Acknowledged()
            case c.MeterReport():
                await self._meter_values(ctx, request)
                return c.Acknowledged()
            case c.AuthorizeRequest():
                return await self._authorize(ctx, request, now)
            case c.TransactionStart():
                return await self._start(ctx, request, now)
            case c.TransactionStop():
                return await self._stop(ctx, request, now)
            case c.DataTransferRequest():
                return await self._data_transfer(ctx, request, now)
            case c.TransactionEventReport():
                return await self._transaction_event(ctx, request, now)
            case c.StationNotices():
                await self._notices(sid, request, now)
                return c.Acknowledged()
            case c.DeviceModelReport():
                device_model = request
                await self._writer.submit(
                    lambda w: stations.record_device_model(w, sid, device_model, at=now)
                )
                return c.Acknowledged()
            case c.DiagnosticsStatusReport():
                upload = request
                # the 2.0.1 name of the same thing: log upload
                kind = "DiagnosticsStatusNotification" if ctx.ocpp_version == "1.6" else None
                await self._writer.submit(
                    lambda w: stations.set_diagnostics_status(
                        w,
                        sid,
                        upload.status,
                        at=now,
                        kind=kind or "LogStatusNotification",
                        request_id=upload.request_id,
                    )
                )
                return c.Acknowledged()
            case c.FirmwareStatusReport():
                fw = request
                await self._writer.submit(
                    lambda w: stations.set_firmware_status(
                        w, sid, fw.status, at=now, request_id=fw.request_id
                    )
                )
                return c.Acknowledged()
        raise TypeError(f"no handler for {type(request).__name__}")

    async def _status(
        self, station_id: str, report: c.ConnectorStatusReport, now: datetime
    ) -> None:
        async def unit(w: Work) -> None:
            # faults first: they compare the report with the connector's state before it
            await faults.on_status(w, station_id, report, received_at=now)
            await stations.record_status(w, station_id, report, received_at=now)

        await self._writer.submit(unit)

    async def _notices(self, station_id: str, notices: c.StationNotices, now: datetime) -> None:
        async def unit(w: Work) -> None:
            stations.record_notices(w, station_id, notices, at=now)
            for notice in notices.notices:
                at = notice.occurred_at or now
                if notice.event is not None:
                    await faults.on_device_event(w, station_id, notice.event, at=at)
                if notices.kind == "SecurityEvent":
                    w.emit(
                        events.SecurityEventReported(
                            station_id,
                            at,
                            str(notice.payload.get("type", notice.summary)),
                            notice.payload.get("techInfo"),
                        )
                    )

        await self._writer.submit(unit)

    async def _meter_values(self, ctx: c.StationContext, meter: c.MeterReport) -> None:
        # The session a transaction id belongs to is remembered per connection: the
        # commonest message then costs no query before its samples are written.
        ref = meter.transaction_ref
        known = ctx.sessions.get(ref) if ref is not None else None

        async def unit(w: Work) -> int | None:
            session_id = known
            if session_id is None and ref is not None:
                session_id = await sessions.resolve_session(w.session, ctx.station_id, ref)
            sessions.record_meter_report(
                w, ctx.station_id, meter.evse_id, session_id, meter.samples
            )
            return session_id

        session_id = await self._writer.submit(unit)
        if ref is not None and session_id is not None:
            ctx.sessions[ref] = session_id

    async def _boot(
        self, ctx: c.StationContext, identity: c.StationIdentity, now: datetime
    ) -> c.BootAnswer:
        status = await self._writer.submit(
            lambda w: stations.record_boot(w, ctx.station_id, identity, at=now)
        )
        ctx.registration = status
        interval = (
            self._heartbeat_interval
            if status is c.RegistrationStatus.ACCEPTED
            else self._pending_retry
        )
        log.info(
            "boot: %s %s, firmware %s -> %s",
            identity.vendor,
            identity.model,
            identity.firmware_version,
            status.value,
        )
        return c.BootAnswer(status, self._clock(), interval)

    def _check(self, ctx: c.StationContext, auth: c.Authorization) -> c.Authorization:
        # A station awaiting approval may not hand out charging.
        if ctx.registration is not c.RegistrationStatus.ACCEPTED:
            return c.Authorization(c.AuthorizationStatus.INVALID)
        return auth

    async def _authorize(
        self, ctx: c.StationContext, request: c.AuthorizeRequest, now: datetime
    ) -> c.Authorization:
        id_tag = request.id_tag

        async def unit(w: Work) -> c.Authorization:
            auth = self._check(
                ctx,
                await tokens.authorize(
                    w.session,
                    id_tag,
                    token_type=request.token_type,
                    at=now,
                    station_id=ctx.station_id,
                ),
            )
            payload = {"id_tag": id_tag, "status": auth.status.value}
            if request.token_type is not None:
                payload["type"] = request.token_type
            stations.record_event(
                w,
                ctx.station_id,
                "Authorize",
                payload,
                at=now,
                summary=f"authorize {id_tag}: {auth.status.value}",
            )
            w.emit(
                events.AuthorizationChecked(ctx.station_id, now, id_tag, auth.status.value, None)
            )
            return auth

        return await self._writer.submit(unit)

    async def _start(
        self, ctx: c.StationContext, start: c.TransactionStart, now: datetime
    ) -> c.TransactionStarted:
        async def unit(w: Work) -> tuple[int, c.TransactionStarted]:
            # A transaction started offline is judged by the token's state at its start.
            auth = self._check(
                ctx,
                await tokens.authorize(
                    w.session, start.id_tag, at=start.timestamp, station_id=ctx.station_id
                ),
            )
            row = await sessions.start_transaction(
                w, ctx.station_id, ctx.ocpp_version, start, auth, at=now
            )
            assert row.transaction_id is not None
            return row.id, c.TransactionStarted(row.transaction_id, auth)

        session_id, answer = await self._writer.submit(unit)
        if len(ctx.sessions) > 64:  # stops that never came; forget rather than grow
            ctx.sessions.clear()
        ctx.sessions[answer.transaction_ref] = session_id
        log.info(
            "transaction %s started on connector %d for %s: %s",
            answer.transaction_ref,
            start.evse_id,
            start.id_tag,
            answer.authorization.status.value,
        )
        return answer

    async def _transaction_event(
        self, ctx: c.StationContext, event: c.TransactionEventReport, now: datetime
    ) -> c.TransactionEventAnswer:
        known = ctx.transactions.get(event.transaction_ref)

        async def unit(w: Work) -> tuple[transaction_events.EventOutcome, c.Authorization | None]:
            auth = None
            if event.id_tag is not None:
                # judged as of the event: an offline start is judged by the token then
                auth = self._check(
                    ctx,
                    await tokens.authorize(
                        w.session,
                        event.id_tag,
                        token_type=event.token_type,
                        at=event.timestamp,
                        station_id=ctx.station_id,
                    ),
                )
            outcome = await transaction_events.apply_transaction_event(
                w, ctx.station_id, ctx.ocpp_version, event, auth, at=now, known=known
            )
            return outcome, auth

        outcome, auth = await self._writer.submit(unit)
        # remembered only now that it is committed
        if outcome.state is not None:
            if len(ctx.transactions) > 64:  # ends that never came; forget rather than grow
                ctx.transactions.clear()
            ctx.transactions[event.transaction_ref] = outcome.state
        else:
            ctx.transactions.pop(event.transaction_ref, None)
        if outcome.duplicate:
            log.info("repeated TransactionEvent %s #%d", event.transaction_ref, event.seq_no)
        elif event.event_type is not c.TransactionEventType.UPDATED:
            log.info(
                "transaction %s %s (#%d, %s)%s",
                event.transaction_ref,
                event.event_type.value.lower(),
                event.seq_no,
                event.trigger_reason,
                " offline" if event.offline else "",
            )
        return c.TransactionEventAnswer(auth)

    async def _stop(
        self, ctx: c.StationContext, stop: c.TransactionStop, now: datetime
    ) -> c.TransactionStopped:
        async def unit(w: Work) -> c.TransactionStopped:
            outcome = await sessions.stop_transaction(w, ctx.station_id, stop, at=now)
            if outcome.session is None:
                # Never lose what a charger reports: keep it where an operator can find it.
                stations.record_event(
                    w,
                    ctx.station_id,
                    "UnknownTransactionStop",
                    _jsonable(asdict(stop)),
                    at=now,
                    summary=f"stop for unknown transaction {stop.transaction_ref}",
                )
                log.warning("StopTransaction for unknown transaction %s", stop.transaction_ref)
            elif not outcome.duplicate:
                log.info(
                    "transaction %s stopped (%s): %s Wh",
                    stop.transaction_ref,
                    outcome.session.stop_reason,
                    outcome.session.energy_wh,
                )
            if stop.id_tag is None:
                return c.TransactionStopped()
            return c.TransactionStopped(
                await tokens.authorize(w.session, stop.id_tag, at=now, station_id=ctx.station_id)
            )

        answer = await self._writer.submit(unit)
        ctx.sessions.pop(stop.transaction_ref, None)
        return answer

    async def _data_transfer(
        self, ctx: c.StationContext, request: c.DataTransferRequest, now: datetime
    ) -> c.DataTransferAnswer:
        payload = {
            "vendor_id": request.vendor_id,
            "message_id": request.message_id,
            "data": request.data,
        }

        async def unit(w: Work) -> None:
            stations.record_event(
                w,
                ctx.station_id,
                "DataTransfer",
                _jsonable(payload),
                at=now,
                summary=f"data transfer from {request.vendor_id}",
            )

        await self._writer.submit(unit)
        # Stored for operators; no vendor extension is installed to act on it.
        return c.DataTransferAnswer(c.DataTransferStatus.UNKNOWN_VENDOR_ID)
