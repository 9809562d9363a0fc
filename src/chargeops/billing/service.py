"""Tariffs kept, versioned and assigned; which one prices a session.

Every write runs in a group-commit unit (the caller passes the unit's session); a bad
value raises :class:`~chargeops.core.errors.InvalidInput` naming the field before
anything changes.

**Versions.** A version is an OCPI 2.2.1 Tariff document in force from its
``valid_from`` (UTC) until the next version's ``valid_from``: the version that prices a
session is the one with the latest ``valid_from`` at or before the session's start (of
two with the same ``valid_from``, the higher number). Versions are never edited; a
``valid_from`` in the past is allowed (moving onto chargeops, correcting a price) and
reaches only sessions not yet rated: a CDR, once made, keeps its price.

**Assignments.** A tariff applies to a target: a connector (station + EVSE), a station,
a site, or the whole network (``default``); optionally only for an organization (a
customer group) and/or a subscription plan. For a session, or a price asked for now:

1. the most specific target wins: connector, then station, then site, then default;
2. within a target, the narrowest audience wins: organization and plan, then
   organization, then plan, then everyone;
3. an assignment counts from its ``valid_from`` until it is removed, and only while its
   tariff has a version in force: an assignment whose tariff starts next month leaves
   this month to the next rule down.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.billing.models import Cdr, Tariff, TariffAssignment, TariffVersion
from chargeops.billing.tariffs import Tariff as TariffValue
from chargeops.billing.tariffs import parse_tariff, to_ocpi
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.stations.models import Site, Station, StationVariable
from chargeops.users.models import Organization

SCOPES = ("connector", "station", "site", "default")
_TARGET_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}
_CURRENCY = re.compile(r"[A-Z]{3}")
_NOT_OURS = ("start_date_time", "end_date_time")


# --------------------------------------------------------------------------- documents


def _stored(value: Any) -> Any:
    """An OCPI document with every Decimal as its exact text, for a JSON column."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _stored(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stored(v) for v in value]
    return value


def read_document(document: object, *, currency: str | None = None) -> TariffValue:
    """An OCPI tariff document from a caller, checked: InvalidInput names the field
    (``document.elements[0].price_components[1].vat: ...``)."""
    if isinstance(document, Mapping):
        for name in _NOT_OURS:
            if document.get(name) is not None:
                raise InvalidInput(
                    f"document.{name}: leave it out; a version is in force from its "
                    "valid_from until the next version's"
                )
    try:
        value = parse_tariff(document)
    except InvalidInput as exc:
        raise InvalidInput(f"document.{exc.detail}") from exc
    if currency is not None and value.currency != currency:
        raise InvalidInput(
            f"document.currency: {value.currency} is not the tariff's currency {currency}"
        )
    return value


def stored_document(value: TariffValue) -> dict[str, Any]:
    """What a version keeps: the document as OCPI writes it, numbers as exact text."""
    document: dict[str, Any] = _stored(to_ocpi(value))
    return document


def tariff_value(version: TariffVersion) -> TariffValue:
    """A stored version as the rating engine takes it."""
    return parse_tariff(version.document, version=version.version)


# --------------------------------------------------------------------------- tariffs


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("name: a tariff needs a name")
    name = value.strip()
    if len(name) > 200:
        raise InvalidInput("name: at most 200 characters")
    return name


async def _check_name_free(db: AsyncSession, name: str, *, other_than: int | None = None) -> None:
    stmt = select(Tariff.id).where(func.lower(Tariff.name) == name.lower())
    if other_than is not None:
        stmt = stmt.where(Tariff.id != other_than)
    if await db.scalar(stmt) is not None:
        raise Conflict(f"a tariff named {name!r} exists already")


async def create_tariff(
    db: AsyncSession,
    name: Any,
    *,
    currency: str | None = None,
    document: object = None,
    valid_from: datetime | None = None,
) -> Tariff:
    """A new tariff, with its first version when a document is given. The currency is
    the document's when not given; Conflict if the name (ignoring case) is taken."""
    name = _name(name)
    value = read_document(document, currency=currency) if document is not None else None
    if currency is None:
        if value is None:
            raise InvalidInput("currency: required (or give a document, whose currency is used)")
        currency = value.currency
    if not _CURRENCY.fullmatch(currency):
        raise InvalidInput("currency: an ISO 4217 code such as EUR")
    await _check_name_free(db, name)
    now = utcnow()
    tariff = Tariff(name=name, currency=currency, created_at=now, updated_at=now)
    db.add(tariff)
    await db.flush()
    if value is not None:
        await _add_version(db, tariff, value, valid_from or now, now)
    return tariff


async def require_tariff(db: AsyncSession, tariff_id: int) -> Tariff:
    tariff = await db.get(Tariff, tariff_id)
    if tariff is None:
        raise NotFound(f"no tariff {tariff_id}")
    return tariff


async def rename_tariff(db: AsyncSession, tariff_id: int, name: Any) -> Tariff:
    tariff = await require_tariff(db, tariff_id)
    name = _name(name)
    await _check_name_free(db, name, other_than=tariff_id)
    tariff.name = name
    tariff.updated_at = utcnow()
    await db.flush()
    return tariff


async def delete_tariff(db: AsyncSession, tariff_id: int) -> None:
    """Remove a tariff with its versions and assignments; Conflict once a CDR used it
    (a CDR must be able to say what priced it)."""
    tariff = await require_tariff(db, tariff_id)
    used = await db.scalar(select(func.count()).where(Cdr.tariff_id == tariff_id))
    if used:
        raise Conflict(
            f"tariff {tariff.name!r} priced {used} CDR(s) and is kept for them: unassign it instead"
        )
    await db.delete(tariff)
    await db.flush()


async def list_tariffs(
    db: AsyncSession, *, q: str | None = None, after: int | None = None, limit: int = 50
) -> Sequence[Tariff]:
    stmt = select(Tariff).order_by(Tariff.id).limit(limit)
    if after is not None:
        stmt = stmt.where(Tariff.id > after)
    if q:
        stmt = stmt.where(func.lower(Tariff.name).like(f"%{q.lower()}%"))
    return (await db.execute(stmt)).scalars().all()


# --------------------------------------------------------------------------- versions


async def _add_version(
    db: AsyncSession, tariff: Tariff, value: TariffValue, valid_from: datetime, now: datetime
) -> TariffVersion:
    if valid_from.tzinfo is None:
        raise InvalidInput("valid_from: needs a time zone (or Z for UTC)")
    number = await db.scalar(
        select(func.coalesce(func.max(TariffVersion.version), 0)).where(
            TariffVersion.tariff_id == tariff.id
        )
    )
    version = TariffVersion(
        tariff_id=tariff.id,
        version=int(number or 0) + 1,
        valid_from=valid_from,
        document=stored_document(value),
        created_at=now,
    )
    db.add(version)
    tariff.updated_at = now
    await db.flush()
    return version


async def add_version(
    db: AsyncSession, tariff_id: int, document: object, *, valid_from: datetime | None = None
) -> TariffVersion:
    """A new version of a tariff, in force from ``valid_from`` (default: now)."""
    tariff = await require_tariff(db, tariff_id)
    value = read_document(document, currency=tariff.currency)
    now = utcnow()
    return await _add_version(db, tariff, value, valid_from or now, now)


async def list_versions(db: AsyncSession, tariff_id: int) -> Sequence[TariffVersion]:
    await require_tariff(db, tariff_id)
    stmt = (
        select(TariffVersion)
        .where(TariffVersion.tariff_id == tariff_id)
        .order_by(TariffVersion.version)
    )
    return (await db.execute(stmt)).scalars().all()


async def version_in_force(db: AsyncSession, tariff_id: int, at: datetime) -> TariffVersion | None:
    """The version of a tariff that prices a session started at ``at``."""
    stmt = (
        select(TariffVersion)
        .where(TariffVersion.tariff_id == tariff_id, TariffVersion.valid_from <= at)
        .order_by(TariffVersion.valid_from.desc(), TariffVersion.version.desc())
        .limit(1)
    )
    return (await db.execute(stmt)).scalar_one_or_none()


# --------------------------------------------------------------------------- assignments


@dataclass(frozen=True, slots=True)
class Target:
    """Where and for whom a tariff applies (see the module doc)."""

    scope: str
    site_id: int | None = None
    station_id: str | None = None
    evse_id: int | None = None
    organization_id: int | None = None
    plan: str | None = None

    @property
    def target(self) -> str:
        if self.scope == "connector":
            return f"connector:{self.station_id}/{self.evse_id}"
        if self.scope == "station":
            return f"station:{self.station_id}"
        if self.scope == "site":
            return f"site:{self.site_id}"
        return "default"

    @property
    def audience(self) -> str:
        parts = []
        if self.organization_id is not None:
            parts.append(f"org:{self.organization_id}")
        if self.plan is not None:
            parts.append(f"plan:{self.plan}")
        return "+".join(parts)

    def describe(self) -> str:
        words = {
            "connector": f"EVSE {self.evse_id} of station {self.station_id}",
            "station": f"station {self.station_id}",
            "site": f"site {self.site_id}",
            "default": "the network default",
        }[self.scope]
        if self.organization_id is not None:
            words += f" for organization {self.organization_id}"
        if self.plan is not None:
            words += f" on plan {self.plan!r}"
        return words


def check_target(values: Mapping[str, Any]) -> Target:
    """A target from a caller's fields: each scope takes exactly the fields it names."""
    scope = values.get("scope")
    if scope not in SCOPES:
        raise InvalidInput(f"scope: one of {', '.join(SCOPES)}")
    needs = {
        "connector": {"station_id", "evse_id"},
        "station": {"station_id"},
        "site": {"site_id"},
        "default": set(),
    }[scope]
    for name in ("site_id", "station_id", "evse_id"):
        given = values.get(name) is not None
        if name in needs and not given:
            raise InvalidInput(f"{name}: required for scope {scope}")
        if given and name not in needs:
            raise InvalidInput(f"{name}: not part of scope {scope}")
    evse_id = values.get("evse_id")
    if evse_id is not None and (
        not isinstance(evse_id, int) or isinstance(evse_id, bool) or evse_id < 1
    ):
        raise InvalidInput("evse_id: an EVSE number, 1 or more (1.6: the connector number)")
    plan = values.get("plan")
    if plan is not None:
        if not isinstance(plan, str) or not plan.strip() or len(plan.strip()) > 64:
            raise InvalidInput("plan: a plan name of 1 to 64 characters")
        plan = plan.strip()
    return Target(
        scope=scope,
        site_id=values.get("site_id"),
        station_id=values.get("station_id"),
        evse_id=evse_id,
        organization_id=values.get("organization_id"),
        plan=plan,
    )


async def _check_exists(db: AsyncSession, target: Target) -> None:
    if target.site_id is not None and await db.get(Site, target.site_id) is None:
        raise InvalidInput(f"site_id: no site {target.site_id}")
    if target.station_id is not None and await db.get(Station, target.station_id) is None:
        raise InvalidInput(f"station_id: no station {target.station_id!r}")
    if (
        target.organization_id is not None
        and await db.get(Organization, target.organization_id) is None
    ):
        raise InvalidInput(f"organization_id: no organization {target.organization_id}")


def _in_force(at: datetime) -> Any:
    return and_(
        TariffAssignment.valid_from <= at,
        or_(TariffAssignment.removed_at.is_(None), TariffAssignment.removed_at > at),
    )


async def assign(
    db: AsyncSession, tariff_id: int, target: Target, *, valid_from: datetime | None = None
) -> TariffAssignment:
    """Apply a tariff to a target from ``valid_from`` (default: now). Assigning what is
    assigned already changes nothing; Conflict if another tariff holds the target for
    that audience (unassign it first)."""
    await require_tariff(db, tariff_id)
    await _check_exists(db, target)
    if valid_from is not None and valid_from.tzinfo is None:
        raise InvalidInput("valid_from: needs a time zone (or Z for UTC)")
    held = (
        await db.execute(
            select(TariffAssignment).where(
                TariffAssignment.target == target.target,
                TariffAssignment.audience == target.audience,
                TariffAssignment.removed_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    if held is not None:
        if held.tariff_id == tariff_id:
            return held
        other = await db.get(Tariff, held.tariff_id)
        raise Conflict(
            f"{target.describe()} has tariff {other.name if other else held.tariff_id!r} "
            "assigned: unassign it first"
        )
    now = utcnow()
    row = TariffAssignment(
        tariff_id=tariff_id,
        scope=target.scope,
        site_id=target.site_id,
        station_id=target.station_id,
        evse_id=target.evse_id,
        organization_id=target.organization_id,
        plan=target.plan,
        target=target.target,
        audience=target.audience,
        valid_from=valid_from or now,
        created_at=now,
    )
    db.add(row)
    await db.flush()
    return row


async def unassign(db: AsyncSession, tariff_id: int, target: Target) -> TariffAssignment:
    """End an assignment now (it is kept, for the sessions it priced)."""
    await require_tariff(db, tariff_id)
    row = (
        await db.execute(
            select(TariffAssignment).where(
                TariffAssignment.tariff_id == tariff_id,
                TariffAssignment.target == target.target,
                TariffAssignment.audience == target.audience,
                TariffAssignment.removed_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"this tariff is not assigned to {target.describe()}")
    row.removed_at = utcnow()
    await db.flush()
    return row


async def list_assignments(
    db: AsyncSession, tariff_id: int, *, include_removed: bool = False
) -> Sequence[TariffAssignment]:
    await require_tariff(db, tariff_id)
    stmt = (
        select(TariffAssignment)
        .where(TariffAssignment.tariff_id == tariff_id)
        .order_by(TariffAssignment.id)
    )
    if not include_removed:
        stmt = stmt.where(TariffAssignment.removed_at.is_(None))
    return (await db.execute(stmt)).scalars().all()


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True, slots=True)
class Resolved:
    """The tariff that applies, the version in force, and the assignment that chose it."""

    tariff: Tariff
    version: TariffVersion
    assignment: TariffAssignment
    value: TariffValue


def _audience_rank(row: TariffAssignment) -> int:
    if row.organization_id is not None:
        return 0 if row.plan is not None else 1
    return 2 if row.plan is not None else 3


async def tariff_for(
    db: AsyncSession,
    station_id: str,
    evse_id: int | None,
    organization_id: int | None,
    at: datetime,
    *,
    plan: str | None = None,
) -> Resolved | None:
    """The tariff and version that price a session at this station (and EVSE, when
    given) for this organization (and plan), started at ``at``; None when no tariff
    applies. The rules are in the module doc."""
    site_id = await db.scalar(select(Station.site_id).where(Station.id == station_id))
    targets = [TariffAssignment.scope == "default", TariffAssignment.station_id == station_id]
    if site_id is not None:
        targets.append(and_(TariffAssignment.scope == "site", TariffAssignment.site_id == site_id))
    stmt = select(TariffAssignment).where(
        or_(*targets),
        _in_force(at),
        or_(
            TariffAssignment.organization_id.is_(None),
            TariffAssignment.organization_id == organization_id,
        ),
        or_(TariffAssignment.plan.is_(None), TariffAssignment.plan == plan),
    )
    rows = [
        row
        for row in (await db.execute(stmt)).scalars()
        if row.scope != "connector" or (evse_id is not None and row.evse_id == evse_id)
    ]
    rows.sort(
        key=lambda r: (
            _TARGET_RANK[r.scope],
            _audience_rank(r),
            -r.valid_from.timestamp(),
            -r.id,
        )
    )
    for row in rows:
        version = await version_in_force(db, row.tariff_id, at)
        if version is None:
            continue
        tariff = await db.get(Tariff, row.tariff_id)
        assert tariff is not None  # an assignment goes with its tariff
        return Resolved(tariff, version, row, tariff_value(version))
    return None


# --------------------------------------------------------------------------- quotes

DEFAULT_POWER_W = Decimal(11_000)
"""What a quote assumes when neither the caller nor the station says how fast the EVSE
charges: 11 kW, the commonest AC charge point (three phases at 16 A)."""


async def evse_max_power_w(
    db: AsyncSession, station_id: str, evse_id: int | None
) -> Decimal | None:
    """The most an EVSE delivers, when the station reported it (OCPP 2.0.1 device model:
    ``EVSE.Power`` maxLimit, in W unless its unit says kW); None when unknown."""
    if evse_id is None:
        return None
    stmt = select(StationVariable.characteristics).where(
        StationVariable.station_id == station_id,
        StationVariable.component == "EVSE",
        StationVariable.evse_id == evse_id,
        StationVariable.variable == "Power",
    )
    for characteristics in (await db.execute(stmt)).scalars():
        limit = (characteristics or {}).get("maxLimit")
        if isinstance(limit, int | float | str) and not isinstance(limit, bool):
            try:
                watts = Decimal(str(limit))
            except ArithmeticError:
                continue
            if (characteristics or {}).get("unit") == "kW":
                watts *= 1000
            if watts.is_finite() and watts > 0:
                return watts
    return None
