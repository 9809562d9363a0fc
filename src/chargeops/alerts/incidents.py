"""Incidents: opened when a rule fires, one per rule, station and condition while
unresolved (a repeat is counted on it); acknowledged, assigned, commented and resolved by
people, or resolved by themselves when the condition clears (if the rule says so).

Who hears of an incident follows its rule's escalation policy: level 1 when it opens,
each next level when its delay has passed without an acknowledgement. Notifications are
written in the same transaction (alerts/outbox.py), and sent after it commits. People
count levels from 1; ``Incident.level`` is the index into the policy's levels, from 0
(:func:`~chargeops.alerts.rules.level_number` turns one into the other).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.alerts import outbox
from chargeops.alerts.models import (
    AlertRule,
    EscalationPolicy,
    Incident,
    IncidentNote,
    Notification,
)
from chargeops.alerts.rules import level_number
from chargeops.core.access import GRANTS, Permission, parse_roles
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.stations.models import Site, Station
from chargeops.storage.writer import Work
from chargeops.users.models import User

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
CONDITION_CLEARED = "condition cleared"


@dataclass(frozen=True, slots=True)
class Firing:
    """What a rule saw: the station, the condition (the key repeats are grouped by), a
    title and details in words, and when the condition began."""

    station_id: str
    condition: str
    title: str
    detail: str
    started_at: datetime
    evse_id: int = 0


def status_of(incident: Incident) -> str:
    if incident.resolved_at is not None:
        return RESOLVED
    return ACKNOWLEDGED if incident.acknowledged_at is not None else OPEN


async def fire(
    work: Work, rule: AlertRule, firing: Firing, *, now: datetime, links: Links
) -> Incident:
    """Open an incident for ``firing``, or count it on the unresolved one."""
    session = work.session
    incident = await session.scalar(
        select(Incident).where(
            Incident.rule_id == rule.id,
            Incident.station_id == firing.station_id,
            Incident.condition == firing.condition,
            Incident.resolved_at.is_(None),
        )
    )
    if incident is not None:
        incident.occurrences += 1
        incident.last_fired_at = now
        _note(work, incident, "fired", None, f"fired again: {firing.detail}", now)
        return incident
    policy = await session.get(EscalationPolicy, rule.policy_id) if rule.policy_id else None
    incident = Incident(
        rule_id=rule.id,
        station_id=firing.station_id,
        evse_id=firing.evse_id,
        condition=firing.condition,
        kind=rule.kind,
        severity=rule.severity,
        title=firing.title[:300],
        detail=firing.detail,
        started_at=firing.started_at,
        opened_at=now,
        last_fired_at=now,
        occurrences=1,
        policy_id=policy.id if policy else None,
        level=0,
        next_escalation_at=_next_escalation(policy, 0, now),
    )
    session.add(incident)
    await session.flush()
    _note(work, incident, "opened", None, f"opened by rule {rule.name!r}", now)
    await _notify_level(work, incident, policy, 0, "incident.opened", now=now, links=links)
    return incident


async def clear(
    work: Work, kind: str, station_id: str, condition: str, *, now: datetime, links: Links
) -> list[Incident]:
    """The condition is over: resolve the unresolved incidents of rules of ``kind`` that
    resolve by themselves, and tell who was told of them."""
    rows = await work.session.execute(
        select(Incident, AlertRule)
        .join(AlertRule, AlertRule.id == Incident.rule_id)
        .where(
            Incident.kind == kind,
            Incident.station_id == station_id,
            Incident.condition == condition,
            Incident.resolved_at.is_(None),
            AlertRule.auto_resolve.is_(True),
        )
    )
    resolved = []
    for incident, _ in rows.all():
        await _resolve(work, incident, CONDITION_CLEARED, "the condition cleared", now, links)
        resolved.append(incident)
    return resolved


async def acknowledge(work: Work, incident_id: int, *, by: str, now: datetime) -> Incident:
    """Someone is on it: escalation stops."""
    incident = await _unresolved(work, incident_id)
    if incident.acknowledged_at is None:
        incident.acknowledged_at, incident.acknowledged_by = now, by
        incident.next_escalation_at = None
        _note(work, incident, "acknowledged", by, f"acknowledged by {by}", now)
    return incident


async def assign(
    work: Work, incident_id: int, user_id: int | None, *, by: str, now: datetime, links: Links
) -> Incident:
    incident = await _unresolved(work, incident_id)
    if user_id is None:
        incident.assignee_id = None
        _note(work, incident, "assigned", by, "unassigned", now)
        return incident
    user = await work.session.get(User, user_id)
    if user is None or user.status != "active":
        raise InvalidInput(f"user {user_id} does not exist or is disabled")
    if not may_handle(user):
        raise InvalidInput(
            f"user {user.email} may not handle incidents (roles: {user.roles or 'none'}): "
            "give it to someone whose roles include incidents:handle"
        )
    incident.assignee_id = user.id
    _note(work, incident, "assigned", by, f"assigned to {user.email} by {by}", now)
    await outbox.notify_user(
        work,
        user.id,
        await _message(
            work, incident, "incident.assigned", links, lead=f"Assigned to you by {by}."
        ),
        now=now,
    )
    return incident


async def comment(
    work: Work, incident_id: int, text: str, *, by: str, now: datetime
) -> IncidentNote:
    incident = await work.session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    text = text.strip()
    if not text:
        raise InvalidInput("a comment needs some text")
    return _note(work, incident, "comment", by, text[:5000], now)


async def resolve(
    work: Work, incident_id: int, *, by: str, note: str | None, now: datetime, links: Links
) -> Incident:
    incident = await _unresolved(work, incident_id)
    await _resolve(work, incident, by, note or f"resolved by {by}", now, links)
    return incident


async def escalate_due(work: Work, *, now: datetime, links: Links) -> int:
    """Incidents nobody acknowledged in time go to their policy's next level."""
    due = (
        await work.session.scalars(
            select(Incident)
            .where(
                Incident.resolved_at.is_(None),
                Incident.acknowledged_at.is_(None),
                Incident.next_escalation_at <= now,
            )
            .order_by(Incident.next_escalation_at)
            .limit(200)
        )
    ).all()
    for incident in due:
        policy = (
            await work.session.get(EscalationPolicy, incident.policy_id)
            if incident.policy_id
            else None
        )
        level = incident.level + 1
        if policy is None or level >= len(policy.levels):
            incident.next_escalation_at = None
            continue
        incident.level = level
        incident.next_escalation_at = _next_escalation(policy, level, incident.opened_at)
        _note(
            work,
            incident,
            "escalated",
            None,
            f"not acknowledged: escalated to level {level_number(level)}",
            now,
        )
        await _notify_level(
            work, incident, policy, level, "incident.escalated", now=now, links=links
        )
    return len(due)


# --------------------------------------------------------------------------- reading


async def get(db: AsyncSession, incident_id: int) -> Incident:
    incident = await db.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return incident


async def notes_of(db: AsyncSession, incident_id: int) -> list[IncidentNote]:
    rows = await db.scalars(
        select(IncidentNote)
        .where(IncidentNote.incident_id == incident_id)
        .order_by(IncidentNote.id)
    )
    return list(rows.all())


async def listed(
    db: AsyncSession,
    *,
    status: str | None = None,
    station_id: str | None = None,
    severity: str | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Incident]:
    """Newest first; ``unassigned`` keeps those given to nobody."""
    stmt = select(Incident).order_by(Incident.id.desc()).limit(limit)
    if status == RESOLVED:
        stmt = stmt.where(Incident.resolved_at.is_not(None))
    elif status == OPEN:
        stmt = stmt.where(Incident.resolved_at.is_(None), Incident.acknowledged_at.is_(None))
    elif status == ACKNOWLEDGED:
        stmt = stmt.where(Incident.resolved_at.is_(None), Incident.acknowledged_at.is_not(None))
    elif status == "unresolved":
        stmt = stmt.where(Incident.resolved_at.is_(None))
    elif status is not None:
        raise InvalidInput("status must be open, acknowledged, unresolved or resolved")
    if station_id is not None:
        stmt = stmt.where(Incident.station_id == station_id)
    if severity is not None:
        stmt = stmt.where(Incident.severity == severity)
    if assignee_id is not None:
        stmt = stmt.where(Incident.assignee_id == assignee_id)
    if unassigned:
        stmt = stmt.where(Incident.assignee_id.is_(None))
    if before_id is not None:
        stmt = stmt.where(Incident.id < before_id)
    return list((await db.scalars(stmt)).all())


def may_handle(user: User) -> bool:
    """Whether the user's roles let them work on incidents (whom one may assign)."""
    try:
        roles = parse_roles(user.roles)
    except ValueError:  # a role since removed from the code grants nothing
        return False
    return any(Permission.INCIDENTS_HANDLE in GRANTS[role] for role in roles)


async def handlers(db: AsyncSession) -> list[User]:
    """The active people who may handle incidents, by name: whom an incident can be
    given to."""
    users = (await db.scalars(select(User).where(User.status == "active"))).all()
    return sorted((u for u in users if may_handle(u)), key=lambda u: (u.name.lower(), u.id))


# --------------------------------------------------------------------------- inside


@dataclass(frozen=True, slots=True)
class Links:
    """Where the console is, for links in messages."""

    base_url: str

    def station(self, station_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/stations/{station_id}"

    def incident(self, incident_id: int) -> str:
        return f"{self.base_url.rstrip('/')}/incidents/{incident_id}"


def _next_escalation(
    policy: EscalationPolicy | None, level: int, opened_at: datetime
) -> datetime | None:
    if policy is None or level + 1 >= len(policy.levels):
        return None
    return opened_at + timedelta(minutes=float(policy.levels[level + 1]["after_minutes"]))


async def _unresolved(work: Work, incident_id: int) -> Incident:
    incident = await work.session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    if incident.resolved_at is not None:
        raise Conflict(f"incident {incident_id} is already resolved")
    return incident


async def _resolve(
    work: Work, incident: Incident, by: str, text: str, now: datetime, links: Links
) -> None:
    incident.resolved_at, incident.resolved_by = now, by
    incident.next_escalation_at = None
    _note(work, incident, "resolved", None if by == CONDITION_CLEARED else by, text, now)
    told = await _told(work, incident)
    message = await _message(work, incident, "incident.resolved", links, lead=f"Resolved: {text}.")
    for user_id in told:
        await outbox.notify_user(work, user_id, message, now=now)


async def _told(work: Work, incident: Incident) -> list[int]:
    """The people who were told of the incident: they hear that it is over."""
    rows = await work.session.scalars(
        select(Notification.user_id)
        .where(Notification.incident_id == incident.id, Notification.user_id.is_not(None))
        .distinct()
    )
    return sorted(u for u in rows.all() if u is not None)


async def recipients(work: Work, level: dict[str, Any]) -> list[int]:
    """Active users a policy level names, by id or by role."""
    wanted_roles = set(level.get("roles") or [])
    ids = set(level.get("user_ids") or [])
    users = (await work.session.scalars(select(User).where(User.status == "active"))).all()
    return sorted(
        u.id
        for u in users
        if u.id in ids or wanted_roles & {r.strip() for r in u.roles.split(",") if r.strip()}
    )


async def _notify_level(
    work: Work,
    incident: Incident,
    policy: EscalationPolicy | None,
    level: int,
    event: str,
    *,
    now: datetime,
    links: Links,
) -> None:
    if policy is None or level >= len(policy.levels):
        return
    users = await recipients(work, policy.levels[level])
    number = level_number(level)
    lead = "" if level == 0 else f"Escalated to level {number}: nobody acknowledged it."
    message = await _message(work, incident, event, links, lead=lead)
    for user_id in users:
        await outbox.notify_user(work, user_id, message, now=now)
    if users:
        _note(work, incident, "notified", None, f"level {number}: told {len(users)} people", now)
    else:
        _note(work, incident, "notified", None, f"level {number} names nobody who is active", now)


async def _message(
    work: Work, incident: Incident, event: str, links: Links, *, lead: str = ""
) -> outbox.Message:
    """What, where, since when, and the links: every message says all four."""
    station = await work.session.get(Station, incident.station_id)
    site = await work.session.get(Site, station.site_id) if station and station.site_id else None
    where = incident.station_id + (f", EVSE {incident.evse_id}" if incident.evse_id else "")
    if site is not None:
        place = ", ".join(p for p in (site.name, site.address, site.city) if p)
        where += f" at {place}"
    since = incident.started_at.strftime("%Y-%m-%d %H:%M UTC")
    subject = f"[{incident.severity.upper()}] {incident.title}"
    if event == "incident.resolved":
        subject = f"[RESOLVED] {incident.title}"
    station_link, incident_link = links.station(incident.station_id), links.incident(incident.id)
    text = "\n".join(
        line
        for line in (
            lead,
            f"What: {incident.title}",
            f"Details: {incident.detail}" if incident.detail else "",
            f"Where: {where}",
            f"Since: {since}",
            f"Severity: {incident.severity}",
            f"Station: {station_link}",
            f"Incident #{incident.id}: {incident_link}",
        )
        if line
    )
    payload = {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "detail": incident.detail,
            "kind": incident.kind,
            "condition": incident.condition,
            "severity": incident.severity,
            "status": status_of(incident),
            "station_id": incident.station_id,
            "evse_id": incident.evse_id,
            "site": site.name if site else None,
            "started_at": incident.started_at.isoformat(),
            "opened_at": incident.opened_at.isoformat(),
            "occurrences": incident.occurrences,
            "level": level_number(incident.level),
            "url": incident_link,
            "station_url": station_link,
        }
    }
    return outbox.Message(
        event=event,
        subject=subject[:300],
        text=text,
        payload=payload,
        severity=incident.severity,
        critical=incident.severity == "critical",
        incident_id=incident.id,
        station_id=incident.station_id,
        link=incident_link,
    )


def _note(
    work: Work, incident: Incident, kind: str, author: str | None, text: str, now: datetime
) -> IncidentNote:
    note = IncidentNote(incident_id=incident.id, at=now, kind=kind, author=author, text=text)
    work.session.add(note)
    return note
