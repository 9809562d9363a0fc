"""``/alerts``: alert rules and escalation policies.

Rules and policies are saved through ``alerts.rules`` (save_rule, save_policy), the same
checks the API makes: a value out of range, a name taken or a level that names nobody is
refused in the service's words on the form, as typed, and nothing changes. The forms
work without JavaScript: a new rule's kind is chosen first (its parameters differ), and
a policy's form always has one empty level to fill in to add a level.

Levels are numbered from 1 here as in the API: level 1 is told when an incident opens.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Request, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from chargeops.alerts import incidents, rules
from chargeops.alerts.models import AlertRule, EscalationPolicy
from chargeops.core.access import GRANTS, Permission, Role
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.stations import sites
from chargeops.storage.http import DbSession
from chargeops.storage.writer import Work
from chargeops.users.models import User
from chargeops.web.auth import Viewer
from chargeops.web.frame import NavEntry, console_router, page, render, sentence
from chargeops.web.views.common import field as text_of
from chargeops.web.views.common import fields, form_of, notice, optional_id, see_other, write

router = console_router()
NAV = (NavEntry("Alert rules", "/alerts", Permission.ALERTS_MANAGE),)
Manager = Annotated[Viewer, page(Permission.ALERTS_MANAGE)]
Refusal = (InvalidInput, Conflict, NotFound)
MAX_LEVELS = 10
NOTICES = {
    "rule-created": "The rule was created.",
    "rule-saved": "The rule was saved.",
    "policy-created": "The escalation policy was created.",
    "policy-saved": "The escalation policy was saved.",
}
KIND_LABELS = {
    "station_offline": "Station offline",
    "connector_faulted": "Connector faulted",
    "anomaly": "Anomaly detected",
    "uptime_below": "Uptime below a target",
    "session_interrupted": "Charging session interrupted",
    "firmware_failed": "Firmware update failed",
    "security_event": "Security event",
}
KIND_HINTS = {
    "station_offline": "A station silent or disconnected for longer than the minutes given.",
    "connector_faulted": "A connector reports a fault (an error code).",
    "anomaly": "Monitoring finds something unusual (e.g. energy that does not add up).",
    "uptime_below": "A station's uptime over a window falls under a percentage (hourly).",
    "session_interrupted": "A session ends for one of the chosen reasons, not by the driver.",
    "firmware_failed": "A firmware update reports a failure.",
    "security_event": "A station reports a security event.",
}


@dataclass(frozen=True, slots=True)
class Param:
    """How the form asks for one of a kind's parameters."""

    label: str
    hint: str
    shape: str  # number, names (a list, or empty for all), reasons (checkboxes)


PARAMS = {
    "minutes": Param("Offline for (minutes)", "0 opens an incident at once.", "number"),
    "percent": Param("Uptime below (%)", "Between 0 and 100.", "number"),
    "window_hours": Param("Over the last (hours)", "720 hours is 30 days.", "number"),
    "codes": Param("Only these error codes", "Comma-separated; empty: every code.", "names"),
    "detectors": Param("Only these detectors", "Comma-separated; empty: every one.", "names"),
    "types": Param("Only these event types", "Comma-separated; empty: every type.", "names"),
    "reasons": Param("Stop reasons that count", "", "reasons"),
}
# what the service calls a value, as the form names it
_WORDS = {"window_hours": "window (hours)", "after_minutes": "delay (minutes)"}


def _message(detail: str) -> str:
    for name, words in _WORDS.items():
        detail = detail.replace(name, words)
    return sentence(detail)


def params_in_words(kind: str, params: dict[str, Any]) -> str:
    """A rule's parameters as the list of rules says them."""
    if kind == "station_offline":
        return f"offline for {params.get('minutes', 0):g} min"
    if kind == "uptime_below":
        return f"under {params.get('percent', 0):g} % over {params.get('window_hours', 0):g} h"
    if kind == "session_interrupted":
        reasons = params.get("reasons") or []
        if set(reasons) >= set(rules.INTERRUPTIONS):
            return "any interruption"
        return ", ".join(reasons) or "no reason chosen: never fires"
    for name in ("codes", "detectors", "types"):
        if name in params:
            chosen = params[name]
            return f"{name}: {', '.join(chosen)}" if chosen else f"{name}: all"
    return "—"


def _number(text: str) -> Any:
    """A number as typed (a comma for a decimal point too); what is not one goes to the
    service as it is, which says what it must be."""
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return text


def _names(text: str) -> list[str] | None:
    names = [part.strip() for part in text.split(",") if part.strip()]
    return names or None


# --- the overview -----------------------------------------------------------------------


@router.get("/alerts")
async def alerts_page(request: Request, db: DbSession, viewer: Manager, done: str = "") -> Response:
    policies = await _policies(db)
    people = await _people(db, [u for p in policies for lv in p.levels for u in lv["user_ids"]])
    site_names = {s.site.id: s.site.name for s in await sites.list_sites(db, limit=1000)}
    return render(
        request,
        "alert_rules.html",
        title="Alert rules",
        rules=await rules.rules_of(db),
        policies=policies,
        policy_names={p.id: p.name for p in policies},
        site_names=site_names,
        people=people,
        kind_labels=KIND_LABELS,
        in_words=params_in_words,
        level_number=rules.level_number,
        notice=notice(done, NOTICES),
    )


async def _policies(db: AsyncSession) -> list[EscalationPolicy]:
    return list((await db.scalars(select(EscalationPolicy).order_by(EscalationPolicy.id))).all())


async def _people(db: AsyncSession, user_ids: Iterable[int]) -> dict[int, str]:
    wanted = set(user_ids)
    if not wanted:
        return {}
    rows = await db.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows.all()}


# --- a rule -----------------------------------------------------------------------------


@dataclass(slots=True)
class RuleForm:
    """What the rule form showed, or was sent back with (as text)."""

    kind: str
    name: str = ""
    severity: str = "major"
    enabled: bool = True
    auto_resolve: bool = True
    policy: str = ""
    site: str = ""
    params: dict[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, kind: str, policies: Sequence[EscalationPolicy]) -> RuleForm:
        """A new rule of ``kind`` with the kind's defaults and the first policy."""
        form = cls.of_params(kind, rules.params_of(kind, None))
        form.policy = str(policies[0].id) if policies else ""
        return form

    @classmethod
    def of(cls, rule: AlertRule) -> RuleForm:
        form = cls.of_params(rule.kind, rule.params)
        form.name, form.severity = rule.name, rule.severity
        form.enabled, form.auto_resolve = rule.enabled, rule.auto_resolve
        form.policy = "" if rule.policy_id is None else str(rule.policy_id)
        form.site = "" if rule.site_id is None else str(rule.site_id)
        return form

    @classmethod
    def of_params(cls, kind: str, params: dict[str, Any]) -> RuleForm:
        form = cls(kind)
        for name, value in params.items():
            if name == "reasons":
                form.reasons = list(value or [])
            elif isinstance(value, int | float):
                form.params[name] = f"{value:g}"
            else:
                form.params[name] = ", ".join(value or [])
        return form

    @classmethod
    def posted(cls, kind: str, form: FormData) -> RuleForm:
        return cls(
            kind,
            name=text_of(form, "name"),
            severity=text_of(form, "severity"),
            enabled=bool(form.get("enabled")),
            auto_resolve=bool(form.get("auto_resolve")),
            policy=text_of(form, "policy"),
            site=text_of(form, "site"),
            params={name: text_of(form, name) for name in rules.KINDS.get(kind, {})},
            reasons=fields(form, "reasons"),
        )

    def values(self) -> dict[str, Any]:
        """What save_rule is given; it checks every value."""
        params: dict[str, Any] = {}
        for name in rules.KINDS.get(self.kind, {}):
            shape = PARAMS[name].shape
            if shape == "reasons":
                if not self.reasons:
                    raise InvalidInput(
                        "choose at least one stop reason (or disable the rule instead)"
                    )
                params[name] = self.reasons
            elif shape == "number":
                params[name] = _number(self.params.get(name, ""))
            else:
                params[name] = _names(self.params.get(name, ""))
        return {
            "name": self.name,
            "kind": self.kind,
            "severity": self.severity,
            "enabled": self.enabled,
            "auto_resolve": self.auto_resolve,
            "policy_id": optional_id(self.policy, "an escalation policy"),
            "site_id": optional_id(self.site, "a site"),
            "params": params,
        }


async def _rule_form(
    request: Request,
    db: AsyncSession,
    form: RuleForm,
    *,
    rule: AlertRule | None = None,
    error: str | None = None,
    http_status: int = 200,
) -> Response:
    return render(
        request,
        "alert_rule.html",
        title=f"Change rule {rule.name}" if rule else f"New rule: {KIND_LABELS[form.kind]}",
        http_status=http_status,
        form=form,
        rule=rule,
        kind_label=KIND_LABELS[form.kind],
        kind_hint=KIND_HINTS[form.kind],
        params=[(name, PARAMS[name]) for name in rules.KINDS[form.kind]],
        interruptions=rules.INTERRUPTIONS,
        severities=rules.SEVERITIES,
        policies=await _policies(db),
        sites=[s.site for s in await sites.list_sites(db, limit=1000)],
        error=error,
    )


async def _save_rule(request: Request, rule_id: int | None, values: dict[str, Any]) -> int:
    async def unit(w: Work) -> int:
        return (await rules.save_rule(w, rule_id, values, now=utcnow())).id

    try:
        saved: int = await write(request, unit)
    except IntegrityError:  # named so by someone else since the service looked
        raise Conflict(f"there is already a rule named {values['name']!r}") from None
    return saved


@router.get("/alerts/rules/new")
async def new_rule(request: Request, db: DbSession, viewer: Manager, kind: str = "") -> Response:
    if not kind:
        return render(
            request,
            "alert_rule_kind.html",
            title="New rule",
            kinds=[(k, KIND_LABELS[k], KIND_HINTS[k]) for k in rules.KINDS],
        )
    if kind not in rules.KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(rules.KINDS)}")
    return await _rule_form(request, db, RuleForm.new(kind, await _policies(db)))


@router.post("/alerts/rules")
async def create_rule(request: Request, db: DbSession, viewer: Manager) -> Response:
    posted = await form_of(request)
    kind = text_of(posted, "kind")
    if kind not in rules.KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(rules.KINDS)}")
    form = RuleForm.posted(kind, posted)
    try:
        await _save_rule(request, None, form.values())
    except Refusal as exc:
        return await _rule_form(
            request, db, form, error=_message(exc.detail), http_status=exc.status
        )
    return see_other("/alerts?done=rule-created")


async def _require_rule(db: AsyncSession, rule_id: int) -> AlertRule:
    rule = await db.get(AlertRule, rule_id)
    if rule is None:
        raise NotFound(f"alert rule {rule_id} does not exist")
    return rule


@router.get("/alerts/rules/{rule_id}")
async def edit_rule(rule_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    rule = await _require_rule(db, rule_id)
    return await _rule_form(request, db, RuleForm.of(rule), rule=rule)


@router.post("/alerts/rules/{rule_id}")
async def update_rule(rule_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    rule = await _require_rule(db, rule_id)
    form = RuleForm.posted(rule.kind, await form_of(request))
    try:
        await _save_rule(request, rule_id, form.values())
    except Refusal as exc:
        return await _rule_form(
            request, db, form, rule=rule, error=_message(exc.detail), http_status=exc.status
        )
    return see_other("/alerts?done=rule-saved")


# --- an escalation policy ---------------------------------------------------------------


@dataclass(slots=True)
class LevelRow:
    """One level as the form shows it: its delay as text, roles and people chosen."""

    after: str = ""
    roles: list[str] = field(default_factory=list)
    users: list[int] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        return not self.after and not self.roles and not self.users


@dataclass(slots=True)
class PolicyForm:
    name: str = ""
    levels: list[LevelRow] = field(default_factory=list)

    @classmethod
    def of(cls, policy: EscalationPolicy) -> PolicyForm:
        return cls(
            policy.name,
            [
                LevelRow(
                    f"{float(level.get('after_minutes', 0)):g}",
                    list(level.get("roles") or []),
                    list(level.get("user_ids") or []),
                )
                for level in policy.levels
            ],
        )

    @classmethod
    def posted(cls, form: FormData) -> PolicyForm:
        """The levels sent, without those marked for removal or left empty."""
        try:
            count = min(int(text_of(form, "levels")), MAX_LEVELS + 1)
        except ValueError:
            count = 0
        rows = []
        for n in range(count):
            prefix = f"level-{n}-"
            if form.get(prefix + "remove"):
                continue
            users = [int(u) for u in fields(form, prefix + "users") if u.isdigit()]
            row = LevelRow(text_of(form, prefix + "after"), fields(form, prefix + "roles"), users)
            if not row.blank:
                rows.append(row)
        return cls(text_of(form, "name"), rows)

    def levels_value(self) -> list[dict[str, Any]]:
        """What save_policy is given (level 1 with no delay typed is told at once)."""
        if len(self.levels) > MAX_LEVELS:
            raise InvalidInput(f"a policy has at most {MAX_LEVELS} levels")
        return [
            {
                "after_minutes": 0.0 if n == 0 and not row.after else _number(row.after),
                "roles": row.roles,
                "user_ids": row.users,
            }
            for n, row in enumerate(self.levels)
        ]

    def with_blank(self) -> list[LevelRow]:
        """The rows to draw: the levels, and one empty to add a level with."""
        return [*self.levels, LevelRow()] if len(self.levels) < MAX_LEVELS else self.levels


def _role_choices(form: PolicyForm) -> list[str]:
    """Roles that may read incidents, and any other a level already names."""
    staff = [r.value for r in Role if Permission.INCIDENTS_READ in GRANTS[r]]
    named = [r for row in form.levels for r in row.roles if r not in staff]
    return staff + sorted(set(named))


async def _people_choices(db: AsyncSession, form: PolicyForm) -> list[tuple[int, str]]:
    """Who may handle incidents, and anyone a level already names (even disabled)."""
    choices = [(u.id, f"{u.name} ({u.email})") for u in await incidents.handlers(db)]
    offered = {user_id for user_id, _ in choices}
    named = {u for row in form.levels for u in row.users} - offered
    if named:
        rows = await db.execute(select(User.id, User.name, User.email).where(User.id.in_(named)))
        choices += [(user_id, f"{name} ({email})") for user_id, name, email in rows.all()]
        choices += [(u, f"user {u} (gone)") for u in sorted(named - {c[0] for c in choices})]
    return choices


async def _policy_form(
    request: Request,
    db: AsyncSession,
    form: PolicyForm,
    *,
    policy: EscalationPolicy | None = None,
    error: str | None = None,
    http_status: int = 200,
) -> Response:
    used_by = []
    if policy is not None:
        used_by = [r for r in await rules.rules_of(db) if r.policy_id == policy.id]
    return render(
        request,
        "alert_policy.html",
        title=f"Change policy {policy.name}" if policy else "New escalation policy",
        http_status=http_status,
        form=form,
        rows=form.with_blank(),
        policy=policy,
        used_by=used_by,
        role_choices=_role_choices(form),
        people=await _people_choices(db, form),
        level_number=rules.level_number,
        error=error,
    )


async def _save_policy(request: Request, policy_id: int | None, form: PolicyForm) -> int:
    levels = form.levels_value()

    async def unit(w: Work) -> int:
        saved = await rules.save_policy(w, policy_id, form.name, levels, now=utcnow())
        return saved.id

    try:
        saved: int = await write(request, unit)
    except IntegrityError:
        raise Conflict(f"there is already a policy named {form.name!r}") from None
    return saved


@router.get("/alerts/policies/new")
async def new_policy(request: Request, db: DbSession, viewer: Manager) -> Response:
    return await _policy_form(request, db, PolicyForm())


@router.post("/alerts/policies")
async def create_policy(request: Request, db: DbSession, viewer: Manager) -> Response:
    form = PolicyForm.posted(await form_of(request))
    try:
        await _save_policy(request, None, form)
    except Refusal as exc:
        return await _policy_form(
            request, db, form, error=_message(exc.detail), http_status=exc.status
        )
    return see_other("/alerts?done=policy-created")


async def _require_policy(db: AsyncSession, policy_id: int) -> EscalationPolicy:
    policy = await db.get(EscalationPolicy, policy_id)
    if policy is None:
        raise NotFound(f"escalation policy {policy_id} does not exist")
    return policy


@router.get("/alerts/policies/{policy_id}")
async def edit_policy(policy_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    policy = await _require_policy(db, policy_id)
    return await _policy_form(request, db, PolicyForm.of(policy), policy=policy)


@router.post("/alerts/policies/{policy_id}")
async def update_policy(
    policy_id: int, request: Request, db: DbSession, viewer: Manager
) -> Response:
    policy = await _require_policy(db, policy_id)
    form = PolicyForm.posted(await form_of(request))
    try:
        await _save_policy(request, policy_id, form)
    except Refusal as exc:
        return await _policy_form(
            request, db, form, policy=policy, error=_message(exc.detail), http_status=exc.status
        )
    return see_other("/alerts?done=policy-saved")
