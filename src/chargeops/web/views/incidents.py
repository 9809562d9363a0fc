"""``/incidents``: what alerting opened, who is on it, and the actions on one.

Everyone with incidents:read sees the list and each incident's story; those with
incidents:handle acknowledge, assign, comment and resolve through the incidents service
(the same one the API calls), so a refusal (resolving twice, giving an incident to a
driver) is said in the service's words on the incident's page, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from chargeops.alerts import incidents, rules
from chargeops.alerts.models import AlertRule, EscalationPolicy
from chargeops.core.access import Permission
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput
from chargeops.stations.models import Site, Station
from chargeops.storage.http import DbSession
from chargeops.storage.writer import UnitFn, Work
from chargeops.users.models import User
from chargeops.web.auth import Viewer
from chargeops.web.frame import NavEntry, console_router, page, render, sentence
from chargeops.web.views.common import field, form_of, notice, optional_id, see_other, write

router = console_router()
NAV = (NavEntry("Incidents", "/incidents", Permission.INCIDENTS_READ),)
PAGE_SIZE = 50
Reader = Annotated[Viewer, page(Permission.INCIDENTS_READ)]
Handler = Annotated[Viewer, page(Permission.INCIDENTS_HANDLE)]
Refusal = (Conflict, InvalidInput)

# what the state filter offers: its label, and the incidents service's status
STATES: dict[str, tuple[str, str | None]] = {
    "open": ("Open (not resolved)", "unresolved"),
    "unacknowledged": ("Open, nobody on it yet", incidents.OPEN),
    "acknowledged": ("Acknowledged", incidents.ACKNOWLEDGED),
    "resolved": ("Resolved", incidents.RESOLVED),
    "all": ("All", None),
}
NOTICES = {
    "acknowledged": "You acknowledged the incident: its escalation stops.",
    "assigned": "The incident was assigned; they were told.",
    "unassigned": "The incident is given to nobody now.",
    "commented": "Your comment was added.",
    "resolved": "The incident was resolved; those who were told of it hear it is over.",
}
NOTE_LABELS = {
    "opened": "Opened",
    "fired": "Fired again",
    "notified": "Notified",
    "escalated": "Escalated",
    "acknowledged": "Acknowledged",
    "assigned": "Assigned",
    "comment": "Comment",
    "resolved": "Resolved",
}


def _links(request: Request) -> incidents.Links:
    links: incidents.Links | None = getattr(request.app.state, "alert_links", None)
    return links or incidents.Links(str(request.base_url))


async def _names(db: AsyncSession, user_ids: Iterable[int | None]) -> dict[int, str]:
    """People's names by id (those shown as assignees)."""
    wanted = {u for u in user_ids if u is not None}
    if not wanted:
        return {}
    rows = await db.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows.all()}


async def _rule_names(db: AsyncSession) -> dict[int, str]:
    return {rule.id: rule.name for rule in await rules.rules_of(db)}


# --- the list ---------------------------------------------------------------------------


@router.get("/incidents")
async def incident_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    state: str = "open",
    severity: str = "",
    station: str = "",
    assignee: str = "",
    before: int | None = None,
) -> Response:
    if state not in STATES:
        raise InvalidInput(f"state must be one of {', '.join(STATES)}")
    if severity and severity not in rules.SEVERITIES:
        raise InvalidInput(f"severity must be one of {', '.join(rules.SEVERITIES)}")
    station = station.strip()
    assignee_id: int | None = None
    if assignee == "me":
        assignee_id = viewer.principal.user_id
    elif assignee not in ("", "nobody"):
        assignee_id = optional_id(assignee, "a person")
    found = await incidents.listed(
        db,
        status=STATES[state][1],
        severity=severity or None,
        station_id=station or None,
        assignee_id=assignee_id,
        unassigned=assignee == "nobody",
        before_id=before,
        limit=PAGE_SIZE + 1,
    )
    shown = found[:PAGE_SIZE]
    filters = {"state": state, "severity": severity, "station": station, "assignee": assignee}
    next_before = shown[-1].id if len(found) > PAGE_SIZE else None
    return render(
        request,
        "incidents.html",
        title="Incidents",
        incidents=shown,
        rule_names=await _rule_names(db),
        names=await _names(db, (i.assignee_id for i in shown)),
        handlers=await incidents.handlers(db),
        states=STATES,
        severities=rules.SEVERITIES,
        filters=filters,
        filtered=filters != {"state": "open", "severity": "", "station": "", "assignee": ""},
        paged=before is not None,
        first_page=_query({**filters}),
        next_page=_query({**filters, "before": next_before}) if next_before else None,
        status_of=incidents.status_of,
        level_number=rules.level_number,
    )


def _query(values: dict[str, Any]) -> str:
    """A list address that keeps the filters (without the empty ones)."""
    kept = {k: v for k, v in values.items() if v not in ("", None)}
    return "/incidents" + (f"?{urlencode(kept)}" if kept else "")


# --- one incident -----------------------------------------------------------------------


@dataclass(slots=True)
class Typed:
    """What a person typed into a form that was refused: drawn again, not lost."""

    comment: str = ""
    note: str = ""


@router.get("/incidents/{incident_id}")
async def incident_page(
    incident_id: int, request: Request, db: DbSession, viewer: Reader, done: str = ""
) -> Response:
    return await _incident_page(request, db, viewer, incident_id, notice=notice(done, NOTICES))


async def _incident_page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    incident_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    typed: Typed | None = None,
    http_status: int = 200,
) -> Response:
    incident = await incidents.get(db, incident_id)
    station = await db.get(Station, incident.station_id)
    site = await db.get(Site, station.site_id) if station and station.site_id else None
    rule = await db.get(AlertRule, incident.rule_id)
    policy = await db.get(EscalationPolicy, incident.policy_id) if incident.policy_id else None
    principal = viewer.principal
    may_handle = principal.may(Permission.INCIDENTS_HANDLE)
    return render(
        request,
        "incident.html",
        title=f"Incident #{incident.id}",
        http_status=http_status,
        incident=incident,
        state=incidents.status_of(incident),
        site=site,
        rule=rule,
        policy=policy,
        level=rules.level_number(incident.level),
        assignee=(await _names(db, [incident.assignee_id])).get(incident.assignee_id or 0),
        notes=await incidents.notes_of(db, incident_id),
        note_labels=NOTE_LABELS,
        handlers=await incidents.handlers(db) if may_handle else [],
        may_handle=may_handle,
        may_manage_rules=principal.may(Permission.ALERTS_MANAGE),
        see_sites=principal.may(Permission.SITES_READ),
        typed=typed or Typed(),
        notice=notice,
        error=error,
    )


async def _act(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    incident_id: int,
    unit: UnitFn[None],
    done: str,
    typed: Typed | None = None,
) -> Response:
    """Run an action on the incident; a refusal draws its page again, saying why."""
    try:
        await write(request, unit)
    except Refusal as exc:
        return await _incident_page(
            request,
            db,
            viewer,
            incident_id,
            error=sentence(exc.detail),
            typed=typed,
            http_status=exc.status,
        )
    return see_other(f"/incidents/{incident_id}?done={done}")


@router.post("/incidents/{incident_id}/acknowledge")
async def acknowledge(
    incident_id: int, request: Request, db: DbSession, viewer: Handler
) -> Response:
    async def unit(w: Work) -> None:
        await incidents.acknowledge(w, incident_id, by=viewer.principal.name, now=utcnow())

    return await _act(request, db, viewer, incident_id, unit, "acknowledged")


@router.post("/incidents/{incident_id}/assign")
async def assign(incident_id: int, request: Request, db: DbSession, viewer: Handler) -> Response:
    links = _links(request)
    try:
        user_id = optional_id(field(await form_of(request), "assignee"), "a person")
    except InvalidInput as exc:
        return await _incident_page(
            request, db, viewer, incident_id, error=sentence(exc.detail), http_status=exc.status
        )

    async def unit(w: Work) -> None:
        await incidents.assign(
            w, incident_id, user_id, by=viewer.principal.name, now=utcnow(), links=links
        )

    done = "assigned" if user_id is not None else "unassigned"
    return await _act(request, db, viewer, incident_id, unit, done)


@router.post("/incidents/{incident_id}/comment")
async def comment(incident_id: int, request: Request, db: DbSession, viewer: Handler) -> Response:
    text = _long_text(await form_of(request), "text")

    async def unit(w: Work) -> None:
        await incidents.comment(w, incident_id, text, by=viewer.principal.name, now=utcnow())

    return await _act(request, db, viewer, incident_id, unit, "commented", Typed(comment=text))


@router.post("/incidents/{incident_id}/resolve")
async def resolve(incident_id: int, request: Request, db: DbSession, viewer: Handler) -> Response:
    note = _long_text(await form_of(request), "note")
    links = _links(request)

    async def unit(w: Work) -> None:
        await incidents.resolve(
            w, incident_id, by=viewer.principal.name, note=note or None, now=utcnow(), links=links
        )

    return await _act(request, db, viewer, incident_id, unit, "resolved", Typed(note=note))


def _long_text(form: FormData, name: str) -> str:
    """A text area as typed (the service trims it and says what is too long; the
    common field() would cut it short first)."""
    value = form.get(name)
    return value.strip()[:5000] if isinstance(value, str) else ""
