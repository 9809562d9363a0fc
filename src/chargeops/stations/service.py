"""Registration, identity, presence and status of stations.

Writes happen inside the gateway's group-commit units (the caller commits); reads serve
the API. Nothing here knows which OCPP version a station speaks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core import events
from chargeops.core.charging import (
    ConnectorStatusReport,
    DeviceModelReport,
    RegistrationStatus,
    ReportedVariable,
    StationIdentity,
    StationNotices,
)
from chargeops.core.clock import utcnow
from chargeops.core.errors import InvalidInput, NotFound
from chargeops.stations.models import (
    Connector,
    ConnectorStatusChange,
    Station,
    StationEvent,
    StationVariable,
)
from chargeops.stations.passwords import hash_password
from chargeops.storage.upsert import upsert_newer
from chargeops.storage.writer import Work

# Core table, not the ORM entity: the ORM would look for loaded objects to update after
# every UPDATE, which costs more than the statement on the hot path.
_STATIONS: Any = Station.__table__

# OCPP identities go in a URL path; keep them to what survives everywhere unescaped.
_STATION_ID = re.compile(r"^[A-Za-z0-9._:*+@\-]{1,48}$")


def validate_station_id(station_id: str) -> str:
    if not _STATION_ID.fullmatch(station_id):
        raise InvalidInput("a station id is 1 to 48 characters: letters, digits and . _ - : * + @")
    return station_id


@dataclass(frozen=True, slots=True)
class ConnectCheck:
    """What the gateway needs to let a station in: does it exist, and its password hash."""

    exists: bool
    registration: str | None
    password_hash: str | None


# --- administration ---------------------------------------------------------------------


async def register_station(
    session: AsyncSession, station_id: str, *, password: str | None = None
) -> tuple[Station, bool]:
    """Register a station (or approve a pending one). Returns (station, created)."""
    validate_station_id(station_id)
    station = await session.get(Station, station_id)
    created = station is None
    if station is None:
        station = Station(id=station_id, created_at=utcnow(), online=False)
        session.add(station)
    station.registration = "accepted"
    if password is not None:
        if not password:
            raise InvalidInput("a station password cannot be empty")
        station.password_hash = hash_password(password)
    await session.flush()
    return station, created


async def connect_check(session: AsyncSession, station_id: str) -> ConnectCheck:
    row = (
        await session.execute(
            select(Station.registration, Station.password_hash).where(Station.id == station_id)
        )
    ).one_or_none()
    if row is None:
        return ConnectCheck(False, None, None)
    return ConnectCheck(True, row.registration, row.password_hash)


# --- presence ---------------------------------------------------------------------------


async def mark_connected(
    work: Work, station_id: str, ocpp_version: str, *, auto_register: str | None, at: datetime
) -> str:
    """Record a new connection; creates the station if the gateway admits unknown ones.
    Returns the station's registration (accepted or pending)."""
    stmt = (
        update(_STATIONS)
        .where(Station.id == station_id)
        .values(online=True, ocpp_version=ocpp_version, connected_at=at, last_seen_at=at)
        .returning(_STATIONS.c.registration)
    )
    registration: str | None = await work.scalar(stmt)
    if registration is None:
        if auto_register is None:
            raise NotFound(f"station {station_id} is not registered")
        work.session.add(
            Station(
                id=station_id,
                registration=auto_register,
                online=True,
                ocpp_version=ocpp_version,
                connected_at=at,
                last_seen_at=at,
                created_at=at,
            )
        )
        registration = auto_register
    work.emit(events.StationConnected(station_id, at, ocpp_version))
    return registration


async def mark_disconnected(work: Work, station_id: str, *, at: datetime) -> None:
    await work.session.execute(
        update(_STATIONS).where(Station.id == station_id).values(online=False, last_seen_at=at)
    )
    work.emit(events.StationDisconnected(station_id, at))


async def reset_presence(session: AsyncSession) -> None:
    """At start no socket is open, whatever the last process left in the table."""
    await session.execute(update(_STATIONS).where(Station.online.is_(True)).values(online=False))


async def record_last_seen(session: AsyncSession, seen: Mapping[str, datetime]) -> None:
    """Flush last-seen times kept in memory (one statement, many rows)."""
    if not seen:
        return
    stmt = (
        update(_STATIONS)
        .where(_STATIONS.c.id == bindparam("station"))
        .values(last_seen_at=bindparam("seen"))
    )
    rows = [{"station": station_id, "seen": at} for station_id, at in sorted(seen.items())]
    await session.execute(stmt, rows)


# --- what stations report ---------------------------------------------------------------


async def record_boot(
    work: Work, station_id: str, identity: StationIdentity, *, at: datetime
) -> RegistrationStatus:
    fields = {name: getattr(identity, name) for name in _IDENTITY_COLUMNS}
    stmt = (
        update(_STATIONS)
        .where(Station.id == station_id)
        .values(**fields, last_boot_at=at, last_seen_at=at)
        .returning(_STATIONS.c.registration)
    )
    stored: str | None = await work.scalar(stmt)
    if stored is None:
        raise NotFound(f"station {station_id} is not registered")
    registration = (
        RegistrationStatus.ACCEPTED if stored == "accepted" else RegistrationStatus.PENDING
    )
    record_event(
        work,
        station_id,
        "BootNotification",
        {k: v for k, v in _identity_dict(identity).items() if v is not None},
        at=at,
        summary=f"booted: {identity.vendor} {identity.model}, answered {registration}",
    )
    work.emit(
        events.StationBooted(
            station_id,
            at,
            identity.vendor,
            identity.model,
            identity.firmware_version,
            registration.value,
        )
    )
    return registration


_IDENTITY_COLUMNS = (
    "vendor",
    "model",
    "serial_number",
    "charge_box_serial_number",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial_number",
)


def _identity_dict(identity: StationIdentity) -> dict[str, Any]:
    return {name: getattr(identity, name) for name in identity.__slots__}


async def record_heartbeat(work: Work, station_id: str, *, at: datetime) -> None:
    await work.session.execute(
        update(_STATIONS).where(Station.id == station_id).values(last_seen_at=at)
    )


async def record_status(
    work: Work, station_id: str, report: ConnectorStatusReport, *, received_at: datetime
) -> None:
    """Keep every report in the timeline; move the connector's current state only forward,
    so a report replayed from a charger's offline queue does not overwrite a newer one."""
    at = report.timestamp or received_at
    error_code = report.error_code or "NoError"
    state = {
        "status": report.status,
        "error_code": error_code,
        "info": report.info,
        "vendor_id": report.vendor_id,
        "vendor_error_code": report.vendor_error_code,
    }
    work.append(
        ConnectorStatusChange,
        [
            {
                "station_id": station_id,
                "evse_id": report.evse_id,
                "connector_id": report.connector_id,
                **state,
                "timestamp": at,
                "received_at": received_at,
            }
        ],
    )
    await upsert_newer(
        work.session,
        Connector,
        {
            "station_id": station_id,
            "evse_id": report.evse_id,
            "connector_id": report.connector_id,
            **state,
            "updated_at": at,
        },
        key=("station_id", "evse_id", "connector_id"),
        newer="updated_at",
    )
    work.emit(
        events.ConnectorStatusChanged(
            station_id,
            at,
            report.evse_id,
            report.connector_id,
            report.status,
            error_code,
            report.info,
            report.vendor_error_code,
        )
    )


def record_event(
    work: Work,
    station_id: str,
    kind: str,
    payload: dict[str, Any],
    *,
    at: datetime,
    summary: str | None = None,
) -> None:
    work.append(
        StationEvent,
        [
            {
                "station_id": station_id,
                "kind": kind,
                "payload": payload,
                "summary": summary,
                "occurred_at": at,
            }
        ],
    )


async def set_firmware_status(
    work: Work, station_id: str, status: str, *, at: datetime, request_id: int | None = None
) -> None:
    await work.session.execute(
        update(_STATIONS).where(Station.id == station_id).values(firmware_status=status)
    )
    payload: dict[str, Any] = {"status": status}
    if request_id is not None:
        payload["request_id"] = request_id
    record_event(
        work,
        station_id,
        "FirmwareStatusNotification",
        payload,
        at=at,
        summary=f"firmware: {status}",
    )
    work.emit(events.TransferStatusChanged(station_id, at, "firmware", status, request_id))


async def set_diagnostics_status(
    work: Work,
    station_id: str,
    status: str,
    *,
    at: datetime,
    kind: str = "DiagnosticsStatusNotification",
    request_id: int | None = None,
) -> None:
    """Diagnostics (1.6) or log (2.0.1) upload progress."""
    await work.session.execute(
        update(_STATIONS).where(Station.id == station_id).values(diagnostics_status=status)
    )
    payload: dict[str, Any] = {"status": status}
    if request_id is not None:
        payload["request_id"] = request_id
    record_event(work, station_id, kind, payload, at=at, summary=f"diagnostics upload: {status}")
    work.emit(events.TransferStatusChanged(station_id, at, "diagnostics", status, request_id))


def record_notices(work: Work, station_id: str, notices: StationNotices, *, at: datetime) -> None:
    """Keep what a station reported (security events, NotifyEvent...) as station events."""
    for notice in notices.notices:
        record_event(
            work,
            station_id,
            notices.kind,
            notice.payload,
            at=notice.occurred_at or at,
            summary=notice.summary,
        )


_VARIABLE_KEY = (
    "station_id",
    "component",
    "component_instance",
    "evse_id",
    "connector_id",
    "variable",
    "variable_instance",
    "attribute_type",
)


async def record_variables(
    work: Work, station_id: str, variables: Sequence[ReportedVariable], *, at: datetime
) -> None:
    """Store configuration a station told us, newest wins: a report part delivered late
    does not overwrite a value read or set after it. Descriptions the source did not
    give (a changed value carries no mutability) keep what is stored."""
    for v in variables:
        row: dict[str, Any] = {
            "station_id": station_id,
            "component": v.component,
            "component_instance": v.component_instance or "",
            "evse_id": v.evse_id or 0,
            "connector_id": v.connector_id or 0,
            "variable": v.variable,
            "variable_instance": v.variable_instance or "",
            "attribute_type": v.attribute_type,
            "value": v.value,
            "updated_at": at,
        }
        described = {
            "mutability": v.mutability,
            "persistent": v.persistent,
            "constant": v.constant,
            "characteristics": v.characteristics,
        }
        row.update({k: value for k, value in described.items() if value is not None})
        await upsert_newer(
            work.session, StationVariable, row, key=_VARIABLE_KEY, newer="updated_at"
        )


async def record_device_model(
    work: Work, station_id: str, report: DeviceModelReport, *, at: datetime
) -> None:
    """Store the variables of a NotifyReport part (as of the report's time)."""
    await record_variables(work, station_id, report.variables, at=report.generated_at)
    more = ", more to come" if report.more_to_come else ""
    record_event(
        work,
        station_id,
        "NotifyReport",
        {
            "request_id": report.request_id,
            "seq_no": report.seq_no,
            "variables": len(report.variables),
            "tbc": report.more_to_come,
        },
        at=report.generated_at,
        summary=f"device model report {report.request_id} part {report.seq_no}: "
        f"{len(report.variables)} values{more}",
    )


async def stations_where(
    session: AsyncSession, component: str, variable: str, value: str
) -> list[str]:
    """Stations whose stored configuration has ``component.variable`` (its Actual value)
    equal to ``value``, ignoring case: e.g. those with a local list enabled."""
    stmt = (
        select(StationVariable.station_id)
        .where(
            StationVariable.component == component,
            StationVariable.variable == variable,
            StationVariable.attribute_type == "Actual",
            func.lower(StationVariable.value) == value.lower(),
        )
        .distinct()
    )
    return sorted((await session.execute(stmt)).scalars())


# --- reads for the API ------------------------------------------------------------------


async def list_stations(
    session: AsyncSession, *, after: str | None, limit: int
) -> tuple[Sequence[Station], dict[str, list[Connector]]]:
    stmt = select(Station).order_by(Station.id).limit(limit)
    if after is not None:
        stmt = stmt.where(Station.id > after)
    stations = (await session.execute(stmt)).scalars().all()
    return stations, await _connectors_of(session, [s.id for s in stations])


async def get_station(session: AsyncSession, station_id: str) -> tuple[Station, list[Connector]]:
    station = await session.get(Station, station_id)
    if station is None:
        raise NotFound(f"no station {station_id!r}")
    return station, (await _connectors_of(session, [station_id])).get(station_id, [])


async def _connectors_of(
    session: AsyncSession, station_ids: list[str]
) -> dict[str, list[Connector]]:
    if not station_ids:
        return {}
    stmt = (
        select(Connector)
        .where(Connector.station_id.in_(station_ids))
        .order_by(Connector.station_id, Connector.evse_id, Connector.connector_id)
    )
    result: dict[str, list[Connector]] = {}
    for connector in (await session.execute(stmt)).scalars():
        result.setdefault(connector.station_id, []).append(connector)
    return result


async def require_station(session: AsyncSession, station_id: str) -> Station:
    """The station, or NotFound: how every per-station list answers for an unknown id."""
    station = await session.get(Station, station_id)
    if station is None:
        raise NotFound(f"no station {station_id!r}")
    return station


async def list_events(
    session: AsyncSession,
    station_id: str,
    *,
    kind: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[StationEvent]:
    """Newest first: boots, security events, NotifyEvent, data transfers..."""
    await require_station(session, station_id)
    stmt = (
        select(StationEvent)
        .where(StationEvent.station_id == station_id)
        .order_by(StationEvent.id.desc())
        .limit(limit)
    )
    if kind is not None:
        stmt = stmt.where(StationEvent.kind == kind)
    if before_id is not None:
        stmt = stmt.where(StationEvent.id < before_id)
    return (await session.execute(stmt)).scalars().all()


VariableKey = tuple[str, str, int, int, str, str, str]


def variable_key(row: StationVariable) -> VariableKey:
    return (
        row.component,
        row.component_instance,
        row.evse_id,
        row.connector_id,
        row.variable,
        row.variable_instance,
        row.attribute_type,
    )


async def list_variables(
    session: AsyncSession,
    station_id: str,
    *,
    component: str | None = None,
    variable: str | None = None,
    after: VariableKey | None = None,
    limit: int = 50,
) -> Sequence[StationVariable]:
    """The station's device model, ordered by component, then variable."""
    await require_station(session, station_id)
    columns = (
        StationVariable.component,
        StationVariable.component_instance,
        StationVariable.evse_id,
        StationVariable.connector_id,
        StationVariable.variable,
        StationVariable.variable_instance,
        StationVariable.attribute_type,
    )
    stmt = (
        select(StationVariable)
        .where(StationVariable.station_id == station_id)
        .order_by(*columns)
        .limit(limit)
    )
    if component is not None:
        stmt = stmt.where(func.lower(StationVariable.component) == component.lower())
    if variable is not None:
        stmt = stmt.where(func.lower(StationVariable.variable) == variable.lower())
    if after is not None:
        stmt = stmt.where(tuple_(*columns) > tuple_(*after))
    return (await session.execute(stmt)).scalars().all()
