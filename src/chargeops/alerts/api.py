"""``/api/v1/alerts/rules``, ``/api/v1/alerts/policies`` and ``/api/v1/incidents``: what
opens incidents, who hears of them, and working on them.

Escalation levels are numbered from 1 in every request and answer (a policy's levels,
an incident's ``level``, and the words of errors and notes): level 1 is told when the
incident opens. Before, answers counted from 0; the routes' summaries say it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.alerts import incidents, rules
from chargeops.alerts.models import AlertRule, EscalationPolicy
from chargeops.alerts.schemas import (
    AssignIn,
    CommentIn,
    IncidentDetail,
    IncidentOut,
    NoteOut,
    PolicyIn,
    PolicyOut,
    ResolveIn,
    RuleIn,
    RuleOut,
)
from chargeops.core.access import Permission, Principal
from chargeops.core.clock import utcnow
from chargeops.core.errors import NotFound
from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, before_id, newest_first
from chargeops.storage.http import DbSession, requires, writer_of
from chargeops.storage.writer import Work

router = APIRouter(tags=["alerts"])

Reader = Annotated[Principal, requires(Permission.INCIDENTS_READ)]
Handler = Annotated[Principal, requires(Permission.INCIDENTS_HANDLE)]
Manager = Annotated[Principal, requires(Permission.ALERTS_MANAGE)]


def _links(request: Request) -> incidents.Links:
    links: incidents.Links | None = getattr(request.app.state, "alert_links", None)
    return links or incidents.Links(str(request.base_url))


# --------------------------------------------------------------------------- rules


@router.get("/alerts/rules", response_model=list[RuleOut], summary="Alert rules")
async def list_rules(db: DbSession, principal: Reader) -> list[RuleOut]:
    return [RuleOut.of(r) for r in await rules.rules_of(db)]


@router.post("/alerts/rules", response_model=RuleOut, status_code=201, summary="Add a rule")
async def add_rule(body: RuleIn, request: Request, principal: Manager) -> RuleOut:
    values = body.model_dump(exclude_unset=True)

    async def unit(w: Work) -> RuleOut:
        return RuleOut.of(await rules.save_rule(w, None, values, now=utcnow()))

    return await writer_of(request).submit(unit)


@router.patch("/alerts/rules/{rule_id}", response_model=RuleOut, summary="Change a rule")
async def change_rule(rule_id: int, body: RuleIn, request: Request, principal: Manager) -> RuleOut:
    values = body.model_dump(exclude_unset=True)

    async def unit(w: Work) -> RuleOut:
        return RuleOut.of(await rules.save_rule(w, rule_id, values, now=utcnow()))

    return await writer_of(request).submit(unit)


@router.delete(
    "/alerts/rules/{rule_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a rule and its incidents (disable it instead to keep them)",
)
async def delete_rule(rule_id: int, request: Request, principal: Manager) -> Response:
    async def unit(w: Work) -> None:
        rule = await w.session.get(AlertRule, rule_id)
        if rule is None:
            raise NotFound(f"alert rule {rule_id} does not exist")
        await w.session.delete(rule)

    await writer_of(request).submit(unit)
    return Response(status_code=204)


# --------------------------------------------------------------------------- policies


@router.get(
    "/alerts/policies",
    response_model=list[PolicyOut],
    summary="Escalation policies, their levels numbered from 1 (level 1: told at once)",
)
async def list_policies(db: DbSession, principal: Reader) -> list[PolicyOut]:
    rows = await db.scalars(select(EscalationPolicy).order_by(EscalationPolicy.id))
    return [PolicyOut.of(p) for p in rows.all()]


@router.post(
    "/alerts/policies",
    response_model=PolicyOut,
    status_code=201,
    summary="Add an escalation policy: levels of recipients, each after a delay, numbered "
    "from 1 (level 1 is told when an incident opens)",
)
async def add_policy(body: PolicyIn, request: Request, principal: Manager) -> PolicyOut:
    levels = [level.model_dump() for level in body.levels] if body.levels is not None else None

    async def unit(w: Work) -> PolicyOut:
        return PolicyOut.of(await rules.save_policy(w, None, body.name, levels, now=utcnow()))

    return await writer_of(request).submit(unit)


@router.patch(
    "/alerts/policies/{policy_id}",
    response_model=PolicyOut,
    summary="Change a policy (levels numbered from 1, in order)",
)
async def change_policy(
    policy_id: int, body: PolicyIn, request: Request, principal: Manager
) -> PolicyOut:
    levels = [level.model_dump() for level in body.levels] if body.levels is not None else None

    async def unit(w: Work) -> PolicyOut:
        return PolicyOut.of(await rules.save_policy(w, policy_id, body.name, levels, now=utcnow()))

    return await writer_of(request).submit(unit)


@router.delete(
    "/alerts/policies/{policy_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a policy (its rules then notify nobody until given another)",
)
async def delete_policy(policy_id: int, request: Request, principal: Manager) -> Response:
    async def unit(w: Work) -> None:
        policy = await w.session.get(EscalationPolicy, policy_id)
        if policy is None:
            raise NotFound(f"escalation policy {policy_id} does not exist")
        await w.session.delete(policy)

    await writer_of(request).submit(unit)
    return Response(status_code=204)


# --------------------------------------------------------------------------- incidents


@router.get(
    "/incidents",
    response_model=Page[IncidentOut],
    summary="Incidents, newest first (level: escalation level reached, from 1)",
)
async def list_incidents(
    db: DbSession,
    principal: Reader,
    status: Annotated[
        str | None, Query(description="open, acknowledged, unresolved or resolved")
    ] = None,
    station_id: str | None = None,
    severity: str | None = None,
    assignee_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[IncidentOut]:
    rows = await incidents.listed(
        db,
        status=status,
        station_id=station_id,
        severity=severity,
        assignee_id=assignee_id,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return newest_first(rows, limit, IncidentOut.of, lambda r: r.id)


async def _detail(db: AsyncSession, incident_id: int) -> IncidentDetail:
    incident = await incidents.get(db, incident_id)
    notes = await incidents.notes_of(db, incident_id)
    return IncidentDetail(
        **IncidentOut.of(incident).model_dump(), notes=[NoteOut.of(n) for n in notes]
    )


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetail,
    summary="An incident with its story (notes, notifications, escalations); its level "
    "counts from 1",
)
async def get_incident(incident_id: int, db: DbSession, principal: Reader) -> IncidentDetail:
    return await _detail(db, incident_id)


@router.post(
    "/incidents/{incident_id}/acknowledge",
    response_model=IncidentOut,
    summary="Say someone is on it: escalation stops",
)
async def acknowledge(incident_id: int, request: Request, principal: Handler) -> IncidentOut:
    async def unit(w: Work) -> IncidentOut:
        row = await incidents.acknowledge(w, incident_id, by=principal.name, now=utcnow())
        return IncidentOut.of(row)

    return await writer_of(request).submit(unit)


@router.post(
    "/incidents/{incident_id}/assign",
    response_model=IncidentOut,
    summary="Give the incident to someone (they are told)",
)
async def assign(
    incident_id: int, body: AssignIn, request: Request, principal: Handler
) -> IncidentOut:
    links = _links(request)

    async def unit(w: Work) -> IncidentOut:
        row = await incidents.assign(
            w, incident_id, body.user_id, by=principal.name, now=utcnow(), links=links
        )
        return IncidentOut.of(row)

    return await writer_of(request).submit(unit)


@router.post(
    "/incidents/{incident_id}/comments",
    response_model=NoteOut,
    status_code=201,
    summary="Comment on an incident",
)
async def add_comment(
    incident_id: int, body: CommentIn, request: Request, principal: Handler
) -> NoteOut:
    async def unit(w: Work) -> NoteOut:
        note = await incidents.comment(w, incident_id, body.text, by=principal.name, now=utcnow())
        await w.session.flush()
        return NoteOut.of(note)

    return await writer_of(request).submit(unit)


@router.post(
    "/incidents/{incident_id}/resolve",
    response_model=IncidentOut,
    summary="Resolve an incident (those who were told hear it is over)",
)
async def resolve(
    incident_id: int, body: ResolveIn, request: Request, principal: Handler
) -> IncidentOut:
    links = _links(request)

    async def unit(w: Work) -> IncidentOut:
        row = await incidents.resolve(
            w, incident_id, by=principal.name, note=body.note, now=utcnow(), links=links
        )
        return IncidentOut.of(row)

    return await writer_of(request).submit(unit)
