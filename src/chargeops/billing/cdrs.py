"""Charge detail records: every completed session rated once, never edited.

**When.** :class:`CdrRecorder` rates a session when the bus delivers its
``TransactionEnded`` (after the end is committed), and once after start rates any
completed session left without a CDR (it ended while the server was down, or rating it
failed), a bounded batch at a time. Both paths may meet on one session, and an event may
come twice: :func:`build_cdr` does nothing for a session that has its CDR, and the
unique index on ``(session_id, kind)`` backs that even when two writers race.

**What.** The session's meter readings (the energy register, with power and current
where sent; 1.6 meterStart/meterStop as readings at the start and the stop), its
charging state over time (OCPP 1.6: the connector's StatusNotifications; 2.0.1: the
chargingState of its TransactionEvents) and the site's time zone (UTC for a station at no
site) make a :class:`~chargeops.billing.rating.SessionUsage`, priced by the tariff
version in force when the session started (:func:`~chargeops.billing.service.tariff_for`,
for the organization of the token that started it).

**Unpriced.** A session no tariff applies to still gets a CDR: ``unpriced``, amounts 0,
no currency and no tariff, with its energy and times, so nothing is silently lost and an
operator can find and bill such sessions (or assign a default tariff). The same holds
for a session whose data cannot be rated (the reason is in ``summary.error``).

**Corrections.** A CDR is never edited: :func:`credit_cdr` issues a credit CDR that
cancels it (every amount negated; energy and times stay as measured, as in OCPI's credit
CDRs), once, and a credit note when the CDR was invoiced; :func:`credit_invoice` does
that for every session of an invoice, on one credit note.

**Receipts.** A CDR billed per session (see :mod:`.invoices`) gets its receipt in a
transaction of its own right after it is made, so an invoicing problem never holds a CDR
back; receipts still owed are issued at the next start.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.billing import accounts, invoices
from chargeops.billing.models import Cdr, Invoice
from chargeops.billing.rating import RatedSession, SessionUsage, rate_session
from chargeops.billing.service import Resolved, tariff_for
from chargeops.billing.tariffs import DimensionType, PriceComponent, TariffElement
from chargeops.billing.tariffs import Tariff as TariffValue
from chargeops.billing.timeline import MeterReading, StatusChange, build_timeline
from chargeops.core.access import Permission, Principal, Scope
from chargeops.core.clock import format_timestamp, utcnow
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.core.events import DomainEvent, TransactionEnded
from chargeops.sessions.models import ChargingSession, MeterValue, TransactionEvent
from chargeops.stations.models import ConnectorStatusChange, Site, Station
from chargeops.storage.writer import GroupCommitWriter, Work, WriterClosed
from chargeops.users.models import IdToken, User

log = logging.getLogger(__name__)

ORIGINAL = "original"
CREDIT = "credit"
KINDS = (ORIGINAL, CREDIT)

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
# 1.6 states that belong to a transaction: one reported just before the start tells the
# state at the start (Preparing and Available do not)
_TRANSACTION_STATES = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE"})
_MONEY_KEYS = frozenset({"cost_excl_vat", "cost_incl_vat", "excl_vat", "incl_vat"})

# prices nothing: how an unpriced session is still measured into periods
_UNPRICED = TariffValue(
    # ISO 4217's own code for "no currency is involved": this tariff only measures
    # (everything costs 0); the unpriced CDR itself records no currency
    currency="XXX",
    elements=(TariffElement((PriceComponent(DimensionType.ENERGY, Decimal(0)),)),),
)


# --------------------------------------------------------------------------- inputs


async def _readings(db: AsyncSession, row: ChargingSession) -> list[MeterReading]:
    """The session's meter readings: one per instant that has an energy register, with
    the power and current (summed over phases) sampled at that instant."""
    stmt = (
        select(MeterValue.timestamp, MeterValue.measurand, MeterValue.phase, MeterValue.value)
        .where(
            MeterValue.session_id == row.id,
            MeterValue.measurand.in_((ENERGY, POWER, CURRENT)),
            MeterValue.unit.in_(("Wh", "W", "A")),
            MeterValue.location.in_(("", "Outlet")),
            MeterValue.value.is_not(None),
        )
        .order_by(MeterValue.timestamp, MeterValue.id)
    )
    energy: dict[datetime, Decimal] = {}
    power: dict[datetime, Decimal] = {}
    total_current: dict[datetime, Decimal] = {}
    phase_current: dict[datetime, Decimal] = {}
    for at, measurand, phase, value in (await db.execute(stmt)).all():
        if value is None:
            continue
        if measurand == ENERGY:
            if not phase:
                energy[at] = value
        elif measurand == POWER:
            if not phase:
                power[at] = value
        elif phase:
            if phase in ("L1", "L2", "L3"):
                phase_current[at] = phase_current.get(at, Decimal(0)) + value
        else:
            total_current[at] = value
    readings = [
        MeterReading(
            at,
            int(wh.to_integral_value()),
            power.get(at),
            total_current.get(at, phase_current.get(at)),
        )
        for at, wh in energy.items()
    ]
    if row.ocpp_version == "1.6":
        # the registers StartTransaction and StopTransaction carry are readings too
        if row.meter_start_wh is not None:
            readings.append(MeterReading(row.started_at, row.meter_start_wh))
        if row.meter_stop_wh is not None and row.stopped_at is not None:
            readings.append(MeterReading(row.stopped_at, row.meter_stop_wh))
    return readings


async def _status_changes(
    db: AsyncSession, row: ChargingSession, end: datetime
) -> list[StatusChange]:
    """When the session was charging and when not, as the charger reported it."""
    if row.ocpp_version != "1.6":
        events = await db.execute(
            select(TransactionEvent.timestamp, TransactionEvent.charging_state)
            .where(
                TransactionEvent.session_id == row.id,
                TransactionEvent.charging_state.is_not(None),
            )
            .order_by(TransactionEvent.seq_no)
        )
        return [StatusChange(at, state) for at, state in events.all() if state]
    connector = (
        ConnectorStatusChange.station_id == row.station_id,
        ConnectorStatusChange.evse_id == row.evse_id,
        ConnectorStatusChange.connector_id == row.connector_id,
    )
    during = await db.execute(
        select(ConnectorStatusChange.timestamp, ConnectorStatusChange.status)
        .where(
            *connector,
            ConnectorStatusChange.timestamp >= row.started_at,
            ConnectorStatusChange.timestamp < end,
        )
        .order_by(ConnectorStatusChange.timestamp, ConnectorStatusChange.id)
    )
    changes = [StatusChange(at, status) for at, status in during.all()]
    if not changes or changes[0].at > row.started_at:
        before = (
            await db.execute(
                select(ConnectorStatusChange.timestamp, ConnectorStatusChange.status)
                .where(*connector, ConnectorStatusChange.timestamp < row.started_at)
                .order_by(ConnectorStatusChange.timestamp.desc(), ConnectorStatusChange.id.desc())
                .limit(1)
            )
        ).one_or_none()
        if before is not None and before.status in _TRANSACTION_STATES:
            changes.insert(0, StatusChange(row.started_at, before.status))
    return changes


async def _signed_meter_data(db: AsyncSession, session_id: int) -> list[dict[str, Any]] | None:
    """Signed meter values (OCMF and the like) as the charger sent them, in order."""
    stmt = (
        select(MeterValue)
        .where(MeterValue.session_id == session_id, MeterValue.format != "Raw")
        .order_by(MeterValue.timestamp, MeterValue.id)
    )
    rows = (await db.execute(stmt)).scalars().all()
    if not rows:
        return None
    return [
        {
            "timestamp": format_timestamp(r.timestamp),
            "measurand": r.measurand,
            "context": r.context or None,
            "phase": r.phase or None,
            "location": r.location or None,
            "format": r.format,
            "unit": r.raw_unit,
            "signed_data": r.raw_value,
            **(r.signature or {}),
        }
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class Payer:
    """Whose token started the session: its organization (the token's own, else its
    owner's) chooses the customer-group price."""

    organization_id: int | None
    user_id: int | None


async def payer_of(db: AsyncSession, id_tag: str | None) -> Payer:
    if id_tag is None:
        return Payer(None, None)
    token = (
        await db.execute(select(IdToken).where(func.lower(IdToken.id_tag) == id_tag.lower()))
    ).scalar_one_or_none()
    if token is None:
        return Payer(None, None)
    organization_id = token.organization_id
    if organization_id is None and token.user_id is not None:
        organization_id = await db.scalar(
            select(User.organization_id).where(User.id == token.user_id)
        )
    return Payer(organization_id, token.user_id)


async def time_zone_of(db: AsyncSession, station_id: str) -> str:
    """The zone local-time restrictions are read in: the site's, UTC at no site."""
    zone = await db.scalar(
        select(Site.time_zone)
        .join(Station, Station.site_id == Site.id)
        .where(Station.id == station_id)
    )
    return zone or "UTC"


# --------------------------------------------------------------------------- JSON shapes


def _money(value: Decimal) -> str:
    return str(value)


def periods_json(rated: RatedSession, *, priced: bool) -> list[dict[str, Any]]:
    return [
        {
            "start": format_timestamp(p.start),
            "end": format_timestamp(p.end),
            "kind": p.kind.value,
            "energy_wh": p.energy_wh,
            "duration_s": str(p.duration_s),
            "energy_element": p.energy_element if priced else None,
            "time_element": p.time_element if priced else None,
            "flat_element": p.flat_element if priced else None,
            "cost_excl_vat": _money(p.cost_excl),
        }
        for p in rated.periods
    ]


def lines_json(rated: RatedSession) -> list[dict[str, Any]]:
    return [
        {
            "dimension": line.dimension.value,
            "element": line.element,
            "type": line.component.type.value,
            "price": str(line.component.price),
            "vat": None if line.component.vat is None else str(line.component.vat),
            "step_size": line.component.step_size,
            "quantity": str(line.quantity),
            "billed": str(line.billed),
            "cost_excl_vat": _money(line.cost.excl_vat),
            "cost_incl_vat": _money(line.cost.incl_vat or line.cost.excl_vat),
        }
        for line in rated.lines
    ]


def summary_json(rated: RatedSession, *, priced: bool) -> dict[str, Any]:
    before = rated.total_before_limits
    return {
        "dimensions": [
            {
                "dimension": d.dimension.value,
                "quantity": str(d.quantity),
                "billed": str(d.billed) if priced else "0",
                "cost_excl_vat": _money(d.cost.excl_vat),
                "cost_incl_vat": _money(d.cost.incl_vat or d.cost.excl_vat),
            }
            for d in rated.dimensions
        ],
        "total_before_limits": {
            "excl_vat": _money(before.excl_vat),
            "incl_vat": _money(before.incl_vat or before.excl_vat),
        },
        "min_price_applied": rated.min_price_applied,
        "max_price_applied": rated.max_price_applied,
        "rounding": rated.rounding,
    }


def _negated(value: Any) -> Any:
    """A rating's JSON with every amount negated (0 stays 0, not -0)."""
    if isinstance(value, dict):
        return {
            k: (str(Decimal(0) - Decimal(v)) if k in _MONEY_KEYS and v is not None else _negated(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_negated(v) for v in value]
    return value


# --------------------------------------------------------------------------- writing


async def _insert(work: Work, values: dict[str, Any]) -> int | None:
    """Insert a CDR unless its (session, kind) exists: the id, or None."""
    table: Any = Cdr.__table__
    dialect = work.session.sync_session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(**values).on_conflict_do_nothing().returning(table.c.id)
    result = await work.scalar(stmt)
    return None if result is None else int(result)


async def _find(db: AsyncSession, session_id: int, kind: str) -> Cdr | None:
    stmt = select(Cdr).where(Cdr.session_id == session_id, Cdr.kind == kind)
    return (await db.execute(stmt)).scalar_one_or_none()


async def build_cdr(work: Work, session_id: int) -> Cdr | None:
    """The CDR of a completed session, made now if it has none (idempotent: the second
    call returns the first CDR). None for a session that does not exist or has not
    ended."""
    db = work.session
    existing = await _find(db, session_id, ORIGINAL)
    if existing is not None:
        return existing
    row = await db.get(ChargingSession, session_id)
    if row is None or row.stopped_at is None or row.status != "completed":
        return None
    start = row.started_at
    end = row.stopped_at
    if end < start:
        log.warning(
            "session stopped before it started (a charger clock?): rated as lasting 0 s",
            extra={"station_id": row.station_id, "session_id": row.id},
        )
        end = start
    payer = await payer_of(db, row.id_tag)
    zone = await time_zone_of(db, row.station_id)
    resolved: Resolved | None = await tariff_for(
        db, row.station_id, row.evse_id, payer.organization_id, start
    )
    error: str | None = None
    try:
        readings = await _readings(db, row)
        intervals = build_timeline(
            start,
            end,
            status_changes=await _status_changes(db, row, end),
            readings=readings,
        )
        usage = SessionUsage(start, end, zone, readings, intervals)
        rated = rate_session(usage, resolved.value if resolved else _UNPRICED)
    except InvalidInput as exc:
        # data that cannot be rated must not hold the CDR back forever
        log.warning(
            "session could not be rated: recorded unpriced (%s)",
            exc.detail,
            extra={"station_id": row.station_id, "session_id": row.id},
        )
        error, resolved = exc.detail, None
        rated = rate_session(SessionUsage(start, end, zone), _UNPRICED)
    priced = resolved is not None
    billing = invoices.BILL_NONE
    if priced:
        customer = accounts.customer_of(payer.organization_id, payer.user_id, row.id_tag)
        billing = await accounts.cycle_of(db, customer)
        if billing == accounts.PER_SESSION and not rated.total.excl_vat:
            billing = invoices.BILL_NONE  # a free session needs no receipt
    summary = summary_json(rated, priced=priced)
    if error is not None:
        summary["error"] = error
    values: dict[str, Any] = {
        "session_id": row.id,
        "kind": ORIGINAL,
        "station_id": row.station_id,
        "evse_id": row.evse_id,
        "connector_id": row.connector_id,
        "transaction_id": row.transaction_id,
        "ocpp_version": row.ocpp_version,
        "id_tag": row.id_tag,
        "organization_id": payer.organization_id,
        "user_id": payer.user_id,
        "tariff_id": resolved.tariff.id if resolved else None,
        "tariff_version_id": resolved.version.id if resolved else None,
        "tariff_version": resolved.version.version if resolved else None,
        "tariff_name": resolved.tariff.name if resolved else None,
        "unpriced": not priced,
        "currency": resolved.tariff.currency if resolved else None,
        "time_zone": zone,
        "started_at": start,
        "ended_at": end,
        "energy_wh": rated.energy_wh,
        "charging_s": rated.charging_s,
        "parking_s": rated.parking_s,
        "total_excl_vat": rated.total.excl_vat if priced else Decimal(0),
        "total_incl_vat": (rated.total.incl_vat or Decimal(0)) if priced else Decimal(0),
        "periods": periods_json(rated, priced=priced),
        "lines": lines_json(rated) if priced else [],
        "summary": summary,
        "signed_meter_data": await _signed_meter_data(db, row.id),
        "billing": billing,
        "created_at": utcnow(),
    }
    if await _insert(work, values) is None:
        log.info("CDR already made by another writer", extra={"session_id": row.id})
    return await _find(db, session_id, ORIGINAL)


def _reason(reason: object, what: str = "the CDR") -> str:
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise InvalidInput(f"reason: say why {what} is credited")
    if len(reason) > 2000:
        raise InvalidInput("reason: at most 2000 characters")
    return reason


async def _credit(work: Work, original: Cdr, reason: str) -> Cdr:
    """The credit CDR of ``original`` (which has none yet)."""
    db = work.session
    values = {
        column.name: getattr(original, column.key)
        for column in Cdr.__table__.columns
        if column.name != "id"
    }
    values.update(
        kind=CREDIT,
        credits_cdr_id=original.id,
        reason=reason,
        total_excl_vat=Decimal(0) - original.total_excl_vat,
        total_incl_vat=Decimal(0) - original.total_incl_vat,
        periods=_negated(original.periods),
        lines=_negated(original.lines),
        summary=_negated(original.summary),
        created_at=utcnow(),
    )
    if await _insert(work, values) is None:
        raise Conflict(f"CDR {original.id} was credited already")
    credit = await _find(db, original.session_id, CREDIT)
    assert credit is not None
    return credit


async def credit_cdr(work: Work, cdr_id: int, reason: str) -> Cdr:
    """A credit CDR cancelling ``cdr_id``: the original stays as it was; every amount
    is negated. When the original was invoiced, a credit note for it is issued in the
    same transaction. Conflict if it was credited already."""
    db = work.session
    reason = _reason(reason)
    original = await db.get(Cdr, cdr_id)
    if original is None:
        raise NotFound(f"no CDR {cdr_id}")
    if original.kind != ORIGINAL:
        raise Conflict(f"CDR {cdr_id} is a credit itself; it cannot be credited")
    done = await _find(db, original.session_id, CREDIT)
    if done is not None:
        raise Conflict(f"CDR {cdr_id} was credited already, by CDR {done.id}")
    credit = await _credit(work, original, reason)
    invoice = await invoices.invoice_of_cdr(db, original.id)
    if invoice is not None:
        await invoices.credit_note(db, invoice, [credit], reason)
    return credit


async def credit_invoice(work: Work, invoice_id: int, reason: str) -> Invoice:
    """A credit note cancelling every session of an invoice not credited yet (with a
    credit CDR each). Conflict if nothing on it is left to credit."""
    db = work.session
    reason = _reason(reason, "the invoice")
    invoice = await db.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id}")
    if invoice.kind != invoices.INVOICE:
        raise Conflict(f"{invoice.number} is a credit note itself; it cannot be credited")
    credits = []
    for line in await invoices.lines_of(db, invoice.id):
        original = await db.get(Cdr, line.cdr_id)
        assert original is not None
        if await _find(db, original.session_id, CREDIT) is None:
            credits.append(await _credit(work, original, reason))
    if not credits:
        raise Conflict(f"every session on {invoice.number} was credited already")
    return await invoices.credit_note(db, invoice, credits, reason)


# --------------------------------------------------------------------------- reading


def visible(principal: Principal, permission: Permission = Permission.CDRS_READ) -> Any:
    """Which CDRs the caller sees: all for staff, a fleet's (its organization's, and its
    members') for its manager, a driver's own."""
    scope = principal.scope(permission)
    clause: ColumnElement[bool]
    if scope is Scope.ALL:
        clause = true()
    elif scope is Scope.OWN and principal.user_id:
        clause = Cdr.user_id == principal.user_id
    elif scope is Scope.ORGANIZATION and principal.organization_id is not None:
        members = select(User.id).where(User.organization_id == principal.organization_id)
        clause = (Cdr.organization_id == principal.organization_id) | Cdr.user_id.in_(members)
    else:
        clause = false()
    return clause


def _filtered(
    stmt: Any,
    principal: Principal,
    *,
    station_id: str | None,
    since: datetime | None,
    until: datetime | None,
    kind: str | None,
) -> Any:
    stmt = stmt.where(visible(principal))
    if station_id is not None:
        stmt = stmt.where(Cdr.station_id == station_id)
    if since is not None:
        stmt = stmt.where(Cdr.ended_at >= since)
    if until is not None:
        stmt = stmt.where(Cdr.ended_at < until)
    if kind is not None:
        if kind not in KINDS:
            raise InvalidInput(f"kind: one of {', '.join(KINDS)}")
        stmt = stmt.where(Cdr.kind == kind)
    return stmt


async def list_cdrs(
    db: AsyncSession,
    principal: Principal,
    *,
    station_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[Cdr]:
    """Newest first; ``since``/``until`` bound the session's end (until exclusive)."""
    stmt = select(Cdr).order_by(Cdr.id.desc()).limit(limit)
    stmt = _filtered(stmt, principal, station_id=station_id, since=since, until=until, kind=kind)
    if before_id is not None:
        stmt = stmt.where(Cdr.id < before_id)
    return (await db.execute(stmt)).scalars().all()


async def get_cdr(db: AsyncSession, principal: Principal, cdr_id: int) -> Cdr:
    """One CDR; NotFound also for one the caller may not see."""
    cdr = (
        await db.execute(select(Cdr).where(Cdr.id == cdr_id, visible(principal)))
    ).scalar_one_or_none()
    if cdr is None:
        raise NotFound(f"no CDR {cdr_id}")
    return cdr


CSV_HEADER = (
    "id",
    "kind",
    "session_id",
    "station_id",
    "evse_id",
    "start",
    "end",
    "kwh",
    "charging_minutes",
    "parking_minutes",
    "currency",
    "excl_vat",
    "vat",
    "incl_vat",
    "tariff",
    "tariff_version",
    "credits_cdr_id",
)


def csv_row(cdr: Cdr) -> list[Any]:
    minute = Decimal("0.01")
    return [
        cdr.id,
        cdr.kind,
        cdr.session_id,
        cdr.station_id,
        cdr.evse_id,
        format_timestamp(cdr.started_at),
        format_timestamp(cdr.ended_at),
        str(Decimal(cdr.energy_wh) / 1000),
        str((cdr.charging_s / 60).quantize(minute)),
        str((cdr.parking_s / 60).quantize(minute)),
        cdr.currency or "",
        str(cdr.total_excl_vat),
        str(cdr.total_incl_vat - cdr.total_excl_vat),
        str(cdr.total_incl_vat),
        cdr.tariff_name or "",
        "" if cdr.tariff_version is None else cdr.tariff_version,
        "" if cdr.credits_cdr_id is None else cdr.credits_cdr_id,
    ]


async def csv_export(
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    station_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
    batch: int = 500,
) -> AsyncIterator[str]:
    """The CDRs a list would show, newest first, as CSV text in chunks: a page of rows
    is read at a time, so an export of years holds one page in memory."""
    # check the filters before the first byte goes out: an error then is still a 422
    _filtered(select(Cdr.id), principal, station_id=station_id, since=since, until=until, kind=kind)

    async def chunks() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        before: int | None = None
        while True:
            async with sessions() as db:
                rows = await list_cdrs(
                    db,
                    principal,
                    station_id=station_id,
                    since=since,
                    until=until,
                    kind=kind,
                    before_id=before,
                    limit=batch,
                )
            for cdr in rows:
                writer.writerow(csv_row(cdr))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(rows) < batch:
                return
            before = rows[-1].id

    return chunks()


# --------------------------------------------------------------------------- recorder


async def sessions_without_cdr(db: AsyncSession, *, after: int = 0, limit: int = 200) -> list[int]:
    """Completed sessions that have no CDR, by id, from ``after`` on."""
    has_cdr = select(Cdr.id).where(Cdr.session_id == ChargingSession.id, Cdr.kind == ORIGINAL)
    stmt = (
        select(ChargingSession.id)
        .where(
            ChargingSession.status == "completed",
            ChargingSession.id > after,
            ~has_cdr.exists(),
        )
        .order_by(ChargingSession.id)
        .limit(limit)
    )
    return list((await db.execute(stmt)).scalars())


class CdrRecorder:
    """Makes CDRs in the server: on each ``TransactionEnded``, and once after start for
    sessions that ended without one. Writes go through the group-commit writer."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        sessions: async_sessionmaker[AsyncSession],
        *,
        batch_size: int = 200,
    ) -> None:
        self._writer = writer
        self._sessions = sessions
        self._batch_size = batch_size

    async def on_transaction_ended(self, event: DomainEvent) -> None:
        assert isinstance(event, TransactionEnded)
        session_id = event.session_id
        try:
            cdr = await self._writer.submit(lambda w: build_cdr(w, session_id))
            if cdr is not None and cdr.billing == invoices.BILL_PER_SESSION:
                # its own transaction: a receipt that cannot be issued keeps no CDR back
                await self._writer.submit(_receipt(cdr.id))
        except WriterClosed:
            # stopping: the catch-up after the next start rates it
            log.info(
                "stopping: the CDR is left to the next start", extra={"session_id": session_id}
            )

    async def catch_up(self) -> int:
        """Rate every completed session that has no CDR, a batch at a time; the number
        of sessions tried. A session that fails is logged and left for the next start."""
        tried, after = 0, 0
        while True:
            async with self._sessions() as db:
                batch = await sessions_without_cdr(db, after=after, limit=self._batch_size)
            if not batch:
                break
            results = await asyncio.gather(
                *(self._writer.submit(_builder(i)) for i in batch), return_exceptions=True
            )
            for session_id, result in zip(batch, results, strict=True):
                if isinstance(result, WriterClosed):
                    return tried
                if isinstance(result, BaseException):
                    log.error(
                        "rating a session failed: %s",
                        result,
                        extra={"session_id": session_id},
                    )
            tried += len(batch)
            after = batch[-1]
        if tried:
            log.info("rated %d session(s) that had ended without a CDR", tried)
        await self._owed_receipts()
        return tried

    async def _owed_receipts(self) -> None:
        """Issue the receipts owed for CDRs billed per session (the issuer's details
        were set after they were made, or issuing failed)."""
        after, issued = 0, 0
        while True:
            async with self._sessions() as db:
                if await accounts.get_issuer(db) is None:
                    return
                batch = await invoices.pending_receipts(db, after=after, limit=self._batch_size)
            if not batch:
                break
            for cdr_id in batch:
                try:
                    if await self._writer.submit(_receipt(cdr_id)) is not None:
                        issued += 1
                except WriterClosed:
                    return
                except Exception:
                    log.exception("issuing a receipt failed", extra={"cdr_id": cdr_id})
            after = batch[-1]
        if issued:
            log.info("issued %d receipt(s) owed for sessions billed one by one", issued)


def _builder(session_id: int) -> Any:
    async def unit(work: Work) -> Cdr | None:
        return await build_cdr(work, session_id)

    return unit


_warned_no_issuer = False


def _receipt(cdr_id: int) -> Any:
    async def unit(work: Work) -> Invoice | None:
        global _warned_no_issuer
        if await accounts.get_issuer(work.session) is None:
            # said once per process: a network that does not invoice is not an error
            (log.debug if _warned_no_issuer else log.warning)(
                "no receipt issued: the operator's legal details are not set "
                "(PUT /api/v1/billing/issuer); receipts owed are issued at the first "
                "start or billing run after they are",
                extra={"cdr_id": cdr_id},
            )
            _warned_no_issuer = True
            return None
        return await invoices.issue_receipt(work.session, cdr_id)

    return unit
