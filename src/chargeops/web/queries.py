"""Reads the console needs that the domain services do not offer yet: network counts,
filtered station lists, the latest meter reading of sessions in progress, the names of
the records a page refers to.

They only read. Each belongs in its domain's service (stations: counts and search;
sessions: readings and energy) and moves there when the API wants the same figures.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.billing.invoices import BILL_MONTHLY, INVOICE
from chargeops.billing.models import Cdr, Invoice
from chargeops.commands.models import Command
from chargeops.core.commands import CommandName
from chargeops.sessions.models import ChargingSession, MeterValue
from chargeops.stations.models import Connector, Site, Station
from chargeops.storage import search
from chargeops.users.models import Organization, User

FAULTED = "Faulted"
ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
_TOTAL_LOCATIONS = ("", "Outlet")  # the meter at the outlet: what the car received
STATION_STATES = ("online", "offline", "faulted")


@dataclass(frozen=True, slots=True)
class NetworkCounts:
    total: int
    online: int
    faulted: int  # stations with any connector Faulted

    @property
    def offline(self) -> int:
        return self.total - self.online


async def network_counts(db: AsyncSession) -> NetworkCounts:
    online = func.coalesce(func.sum(case((Station.online.is_(True), 1), else_=0)), 0)
    total, on = (await db.execute(select(func.count(Station.id), online))).one()
    faulted = await db.scalar(
        select(func.count(distinct(Connector.station_id))).where(Connector.status == FAULTED)
    )
    return NetworkCounts(int(total), int(on), int(faulted or 0))


async def faulted_connectors(db: AsyncSession, *, limit: int = 10) -> Sequence[Connector]:
    stmt = (
        select(Connector)
        .where(Connector.status == FAULTED)
        .order_by(Connector.updated_at.desc())
        .limit(limit)
    )
    return (await db.execute(stmt)).scalars().all()


async def find_stations(
    db: AsyncSession, *, text: str = "", state: str = "", after: str | None = None, limit: int
) -> Sequence[Station]:
    """Stations by id; ``text`` matches id, vendor or model; ``state`` is one of
    :data:`STATION_STATES` or empty for all."""
    stmt = select(Station).order_by(Station.id).limit(limit)
    if text:
        pattern = search.contains(text)
        stmt = stmt.where(
            or_(
                Station.id.ilike(pattern, escape=search.ESCAPE),
                Station.vendor.ilike(pattern, escape=search.ESCAPE),
                Station.model.ilike(pattern, escape=search.ESCAPE),
            )
        )
    if state == "online":
        stmt = stmt.where(Station.online.is_(True))
    elif state == "offline":
        stmt = stmt.where(Station.online.is_(False))
    elif state == "faulted":
        stmt = stmt.where(
            Station.id.in_(select(Connector.station_id).where(Connector.status == FAULTED))
        )
    if after is not None:
        stmt = stmt.where(Station.id > after)
    return (await db.execute(stmt)).scalars().all()


async def connectors_of(
    db: AsyncSession, station_ids: Collection[str]
) -> dict[str, list[Connector]]:
    if not station_ids:
        return {}
    stmt = (
        select(Connector)
        .where(Connector.station_id.in_(list(station_ids)))
        .order_by(Connector.station_id, Connector.evse_id, Connector.connector_id)
    )
    found: dict[str, list[Connector]] = {}
    for connector in (await db.execute(stmt)).scalars():
        found.setdefault(connector.station_id, []).append(connector)
    return found


# --- sessions ---------------------------------------------------------------------------


def _visible(stmt: Select[Any], id_tags: Collection[str] | None) -> Select[Any]:
    """Only the sessions of these tokens (lower case); None: all of them. The same rule
    as sessions.service.list_sessions."""
    if id_tags is None:
        return stmt
    return stmt.where(func.lower(ChargingSession.id_tag).in_(list(id_tags)))


def midnight_utc(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)


async def active_session_count(db: AsyncSession, id_tags: Collection[str] | None) -> int:
    stmt = select(func.count(ChargingSession.id)).where(ChargingSession.status == "active")
    return int(await db.scalar(_visible(stmt, id_tags)) or 0)


@dataclass(frozen=True, slots=True)
class Reading:
    """The latest sample of a session: its energy register (Wh) and power (W)."""

    register_wh: Decimal | None
    power_w: Decimal | None
    at: datetime | None


async def latest_readings(
    db: AsyncSession, session_ids: Collection[int] | Select[Any]
) -> dict[int, Reading]:
    """For each session, the newest total energy register and power sample."""
    ids = list(session_ids) if not isinstance(session_ids, Select) else session_ids
    if isinstance(ids, list) and not ids:
        return {}
    energy = await _newest(db, ids, ENERGY_REGISTER)
    power = await _newest(db, ids, POWER)
    readings: dict[int, Reading] = {}
    for session_id in energy.keys() | power.keys():
        e, p = energy.get(session_id), power.get(session_id)
        ats = [r[1] for r in (e, p) if r is not None]
        readings[session_id] = Reading(
            e[0] if e else None, p[0] if p else None, max(ats) if ats else None
        )
    return readings


async def _newest(
    db: AsyncSession, ids: list[int] | Select[Any], measurand: str
) -> dict[int, tuple[Decimal, datetime]]:
    total = and_(
        MeterValue.measurand == measurand,
        MeterValue.phase == "",
        MeterValue.location.in_(_TOTAL_LOCATIONS),
    )
    newest = (
        select(MeterValue.session_id, func.max(MeterValue.timestamp).label("at"))
        .where(MeterValue.session_id.in_(ids), total)
        .group_by(MeterValue.session_id)
        .subquery()
    )
    stmt = (
        select(MeterValue.session_id, MeterValue.value, MeterValue.timestamp)
        .join(
            newest,
            and_(
                MeterValue.session_id == newest.c.session_id,
                MeterValue.timestamp == newest.c.at,
            ),
        )
        .where(total)
    )
    found: dict[int, tuple[Decimal, datetime]] = {}
    for session_id, value, at in (await db.execute(stmt)).all():
        if value is None or session_id is None:
            continue
        kept = found.get(session_id)
        if kept is None or value > kept[0]:
            found[session_id] = (value, at)
    return found


def energy_so_far(row: ChargingSession, reading: Reading | None) -> int | None:
    """Energy of a session in Wh: its final figure once completed, else what the meter
    has counted since the start."""
    if row.energy_wh is not None or row.status != "active":
        return row.energy_wh
    if reading is None or reading.register_wh is None or row.meter_start_wh is None:
        return None
    return max(0, int(reading.register_wh) - row.meter_start_wh)


async def energy_today(db: AsyncSession, id_tags: Collection[str] | None, now: datetime) -> int:
    """Wh of the sessions that ended since midnight UTC, plus what sessions in progress
    have delivered so far."""
    ended = select(func.coalesce(func.sum(ChargingSession.energy_wh), 0)).where(
        ChargingSession.status == "completed",
        ChargingSession.stopped_at >= midnight_utc(now),
        ChargingSession.energy_wh > 0,
    )
    total = int(await db.scalar(_visible(ended, id_tags)) or 0)
    running = ChargingSession.status == "active"
    rows = (
        (await db.execute(_visible(select(ChargingSession).where(running), id_tags)))
        .scalars()
        .all()
    )
    ids = _visible(select(ChargingSession.id).where(running), id_tags)
    readings = await latest_readings(db, ids)
    for row in rows:
        total += energy_so_far(row, readings.get(row.id)) or 0
    return total


async def sessions_stamp(db: AsyncSession, station_id: str, id_tags: Collection[str] | None) -> str:
    """Changes when a session of the station starts or ends: a live page that reconnects
    compares it to know whether its list of sessions is stale."""
    active = func.coalesce(func.sum(case((ChargingSession.status == "active", 1), else_=0)), 0)
    stmt = select(func.max(ChargingSession.id), active).where(
        ChargingSession.station_id == station_id
    )
    newest, running = (await db.execute(_visible(stmt, id_tags))).one()
    return f"{newest or 0}:{running or 0}"


# --- names for the pages of people, tokens and sites ------------------------------------


async def organization_names(db: AsyncSession, ids: Collection[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    stmt = select(Organization.id, Organization.name).where(Organization.id.in_(wanted))
    return {org_id: name for org_id, name in (await db.execute(stmt)).all()}


async def users_by_id(db: AsyncSession, ids: Collection[int | None]) -> dict[int, User]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    stmt = select(User).where(User.id.in_(wanted))
    return {user.id: user for user in (await db.execute(stmt)).scalars()}


async def site_names(db: AsyncSession, ids: Collection[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    stmt = select(Site.id, Site.name).where(Site.id.in_(wanted))
    return {site_id: name for site_id, name in (await db.execute(stmt)).all()}


async def stations_by_id(db: AsyncSession, ids: Collection[str]) -> list[Station]:
    if not ids:
        return []
    stmt = select(Station).where(Station.id.in_(list(ids))).order_by(Station.id)
    return list((await db.execute(stmt)).scalars())


async def list_updates_of(
    db: AsyncSession, command_ids: Collection[int], id_tag: str
) -> list[Command]:
    """Of these commands, the local list updates that carried ``id_tag``: what a page
    names after a token change (ids from its address are shown only if they are that)."""
    if not command_ids:
        return []
    stmt = (
        select(Command)
        .where(Command.id.in_(list(command_ids)), Command.name == CommandName.SEND_LOCAL_LIST.value)
        .order_by(Command.station_id)
    )
    found = []
    for command in (await db.execute(stmt)).scalars():
        entries = (command.arguments or {}).get("tokens") or []
        if any(
            isinstance(e, dict) and str(e.get("id_tag", "")).lower() == id_tag.lower()
            for e in entries
        ):
            found.append(command)
    return found


async def station_ids(db: AsyncSession, *, limit: int = 1000) -> list[str]:
    """Station ids, for a form that suggests them."""
    stmt = select(Station.id).order_by(Station.id).limit(limit)
    return list((await db.execute(stmt)).scalars())


async def site_time_zone(db: AsyncSession, site_id: int) -> str | None:
    return await db.scalar(select(Site.time_zone).where(Site.id == site_id))


async def credit_of(db: AsyncSession, cdr_id: int) -> Cdr | None:
    """The credit CDR that cancels ``cdr_id``, if one was issued."""
    stmt = select(Cdr).where(Cdr.credits_cdr_id == cdr_id)
    return (await db.execute(stmt)).scalar_one_or_none()


async def invoice_numbers(db: AsyncSession, ids: Collection[int | None]) -> dict[int, str]:
    """The numbers of the invoices a page refers to (those credit notes correct)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await db.execute(select(Invoice.id, Invoice.number).where(Invoice.id.in_(wanted)))
    return {invoice_id: number for invoice_id, number in rows.all()}


async def invoices_of_run(
    db: AsyncSession, visible: ColumnElement[bool], period: str, first: int, last: int
) -> list[Invoice]:
    """The monthly invoices of ``period`` with ids from ``first`` to ``last``: what one
    run issued, as its outcome page names them (only those the viewer sees)."""
    stmt = (
        select(Invoice)
        .where(
            visible,
            Invoice.id.between(first, last),
            Invoice.period == period,
            Invoice.kind == INVOICE,
            Invoice.cycle == BILL_MONTHLY,
        )
        .order_by(Invoice.id)
    )
    return list((await db.execute(stmt)).scalars())


async def invoice_customers(
    db: AsyncSession, visible: ColumnElement[bool], *, limit: int = 1000
) -> list[tuple[str, str]]:
    """The customers of the invoices the viewer sees, as (key, name as last invoiced),
    by name: the choices of the list's customer filter (the ``limit`` invoiced most
    recently, when there are more)."""
    newest = func.max(Invoice.id)
    latest = (
        select(newest)
        .where(visible)
        .group_by(Invoice.customer_key)
        .order_by(newest.desc())
        .limit(limit)
    )
    rows = await db.execute(
        select(Invoice.customer_key, Invoice.customer).where(Invoice.id.in_(latest))
    )
    named = [(key, str((customer or {}).get("name") or key)) for key, customer in rows.all()]
    return sorted(named, key=lambda pair: (pair[1].lower(), pair[0]))
