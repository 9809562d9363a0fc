"""Alert rules: the kinds of condition that open incidents, their parameters with
defaults, and the rules and escalation policy a new installation starts with.

Kinds and parameters (all optional; defaults in :data:`KINDS`):

- ``station_offline``: offline for ``minutes`` (silent or disconnected).
- ``connector_faulted``: a fault is open; ``codes`` limits it to some error codes.
- ``anomaly``: a detector found something; ``detectors`` limits which.
- ``uptime_below``: a station's uptime over the last ``window_hours`` is under
  ``percent`` (checked hourly).
- ``session_interrupted``: a session ended for one of ``reasons`` (power loss, an
  emergency stop, a reset...), not because the driver or the car ended it.
- ``firmware_failed``: a firmware update reported a failure.
- ``security_event``: a station reported a security event; ``types`` limits which.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.alerts.models import AlertRule, EscalationPolicy
from chargeops.core.access import Role
from chargeops.core.errors import Conflict, InvalidInput, NotFound
from chargeops.stations.models import Site
from chargeops.storage.writer import Work

SEVERITIES = ("critical", "major", "minor", "info")
INTERRUPTIONS = (
    "EmergencyStop",
    "PowerLoss",
    "HardReset",
    "SoftReset",
    "Reboot",
    "ImmediateReset",
    "GroundFault",
    "OvercurrentFault",
    "PowerQuality",
    "Timeout",
)
FIRMWARE_FAILURES = frozenset(
    {
        "DownloadFailed",
        "InstallationFailed",
        "InstallVerificationFailed",
        "InvalidSignature",
        "SignatureError",
        "InstallRebooting_Failed",
    }
)

KINDS: dict[str, dict[str, Any]] = {
    "station_offline": {"minutes": 10},
    "connector_faulted": {"codes": None},
    "anomaly": {"detectors": None},
    "uptime_below": {"percent": 97.0, "window_hours": 720},
    "session_interrupted": {"reasons": list(INTERRUPTIONS)},
    "firmware_failed": {},
    "security_event": {"types": None},
}

DEFAULT_POLICY = {
    "name": "Operators, then admins",
    "levels": [
        {"after_minutes": 0, "roles": ["operator", "admin"], "user_ids": []},
        {"after_minutes": 30, "roles": ["admin"], "user_ids": []},
    ],
}
DEFAULT_RULES: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("Station offline", "station_offline", "critical", {"minutes": 10}),
    ("Connector faulted", "connector_faulted", "major", {}),
    ("Anomaly detected", "anomaly", "minor", {}),
    ("Uptime below 97%", "uptime_below", "major", {"percent": 97.0, "window_hours": 720}),
    ("Charging session interrupted", "session_interrupted", "minor", {}),
    ("Firmware update failed", "firmware_failed", "major", {}),
    ("Security event", "security_event", "critical", {}),
)


def params_of(kind: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """The rule's parameters with defaults filled in; InvalidInput for an unknown kind,
    an unknown parameter or a value out of range."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of: {', '.join(KINDS)}")
    defaults = KINDS[kind]
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) or "none"
        raise InvalidInput(f"{kind} takes no {', '.join(unknown)} (parameters: {allowed})")
    params = {**defaults, **given}
    if kind == "station_offline":
        params["minutes"] = _number(params["minutes"], "minutes", 0, 10_080)
    elif kind == "uptime_below":
        params["percent"] = _number(params["percent"], "percent", 0, 100)
        params["window_hours"] = _number(params["window_hours"], "window_hours", 1, 8_784)
    else:
        for name in ("codes", "detectors", "types", "reasons"):
            if name in params and params[name] is not None:
                value = params[name]
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InvalidInput(f"{name} must be a list of names, or null for all")
    return params


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number")
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low:g} and {high:g}")
    return float(value)


def levels_of(levels: Any) -> list[dict[str, Any]]:
    """Escalation levels, checked: at least one; delays that grow; each names someone.

    People count levels from 1 (level 1 is told when the incident opens), and so do the
    messages here; they are stored as a list, so the first is at index 0. A level may
    carry its own number (``level``), which must then be its place in the list.
    """
    if not isinstance(levels, list) or not levels:
        raise InvalidInput("a policy needs at least one level")
    out: list[dict[str, Any]] = []
    previous = -1.0
    known = {r.value for r in Role}
    for n, level in enumerate(levels, start=1):
        if not isinstance(level, dict):
            raise InvalidInput(f"level {n} must be an object")
        numbered = level.get("level")
        if numbered is not None and numbered != n:
            raise InvalidInput(f"level {numbered} is number {n} in the list: levels count from 1")
        after = _number(level.get("after_minutes", 0), f"level {n} after_minutes", 0, 10_080)
        if n == 1 and after != 0:
            raise InvalidInput("level 1 is told when the incident opens: after_minutes 0")
        if after <= previous:
            raise InvalidInput(f"level {n} must come later than level {n - 1}")
        roles = level.get("roles") or []
        user_ids = level.get("user_ids") or []
        if not isinstance(roles, list) or not set(roles) <= known:
            raise InvalidInput(f"level {n} roles must be among: {', '.join(sorted(known))}")
        if not isinstance(user_ids, list) or not all(isinstance(u, int) for u in user_ids):
            raise InvalidInput(f"level {n} user_ids must be a list of user ids")
        if not roles and not user_ids:
            raise InvalidInput(f"level {n} names nobody: give roles or user_ids")
        out.append({"after_minutes": after, "roles": roles, "user_ids": user_ids})
        previous = after
    return out


def level_number(index: int) -> int:
    """A level as people number it (1: the first recipients) from its place in the
    policy's list (and an incident's stored ``level``), which counts from 0."""
    return index + 1


async def ensure_defaults(work: Work, *, now: datetime) -> bool:
    """A new installation gets the default policy and rules (once: an operator who
    deleted them all keeps it so)."""
    if await work.session.scalar(select(func.count()).select_from(EscalationPolicy)):
        return False
    if await work.session.scalar(select(func.count()).select_from(AlertRule)):
        return False
    policy = EscalationPolicy(
        name=DEFAULT_POLICY["name"], levels=DEFAULT_POLICY["levels"], created_at=now, updated_at=now
    )
    work.session.add(policy)
    await work.session.flush()
    for name, kind, severity, params in DEFAULT_RULES:
        work.session.add(
            AlertRule(
                name=name,
                kind=kind,
                enabled=True,
                severity=severity,
                params=params_of(kind, params),
                site_id=None,
                auto_resolve=True,
                policy_id=policy.id,
                created_at=now,
                updated_at=now,
            )
        )
    return True


async def save_rule(
    work: Work, rule_id: int | None, values: dict[str, Any], *, now: datetime
) -> AlertRule:
    """Create (``rule_id`` None) or change a rule; only the values given change."""
    session = work.session
    rule = None
    if rule_id is not None:
        rule = await session.get(AlertRule, rule_id)
        if rule is None:
            raise NotFound(f"alert rule {rule_id} does not exist")
    kind = values.get("kind", rule.kind if rule else None)
    if kind is None:
        raise InvalidInput("kind is required")
    if rule is not None and kind != rule.kind:
        raise InvalidInput("a rule's kind cannot change: make a new rule")
    severity = values.get("severity", rule.severity if rule else "major")
    if severity not in SEVERITIES:
        raise InvalidInput(f"severity must be one of: {', '.join(SEVERITIES)}")
    params = params_of(kind, values.get("params", rule.params if rule else {}))
    name = (values.get("name") or (rule.name if rule else "")).strip()
    if not name:
        raise InvalidInput("a rule needs a name")
    clash = await session.scalar(
        select(AlertRule.id).where(func.lower(AlertRule.name) == name.lower())
    )
    if clash is not None and clash != rule_id:
        raise Conflict(f"there is already a rule named {name!r}")
    if values.get("site_id") is not None and await session.get(Site, values["site_id"]) is None:
        raise NotFound(f"site {values['site_id']} does not exist")
    policy_id = values.get("policy_id", rule.policy_id if rule else None)
    if policy_id is not None and await session.get(EscalationPolicy, policy_id) is None:
        raise NotFound(f"escalation policy {policy_id} does not exist")
    if rule is None:
        rule = AlertRule(kind=kind, created_at=now, enabled=True, auto_resolve=True)
        session.add(rule)
    rule.name, rule.severity, rule.params, rule.policy_id = name, severity, params, policy_id
    for field in ("enabled", "auto_resolve", "site_id"):
        if field in values:
            setattr(rule, field, values[field])
    rule.updated_at = now
    await session.flush()
    return rule


async def rules_of(db: AsyncSession, kind: str | None = None) -> list[AlertRule]:
    stmt = select(AlertRule).order_by(AlertRule.id)
    if kind is not None:
        stmt = stmt.where(AlertRule.kind == kind, AlertRule.enabled.is_(True))
    return list((await db.scalars(stmt)).all())


async def save_policy(
    work: Work, policy_id: int | None, name: str | None, levels: Any, *, now: datetime
) -> EscalationPolicy:
    session = work.session
    policy = None
    if policy_id is not None:
        policy = await session.get(EscalationPolicy, policy_id)
        if policy is None:
            raise NotFound(f"escalation policy {policy_id} does not exist")
    name = (name or (policy.name if policy else "")).strip()
    if not name:
        raise InvalidInput("a policy needs a name")
    clash = await session.scalar(
        select(EscalationPolicy.id).where(func.lower(EscalationPolicy.name) == name.lower())
    )
    if clash is not None and clash != policy_id:
        raise Conflict(f"there is already a policy named {name!r}")
    checked = levels_of(levels if levels is not None else (policy.levels if policy else None))
    if policy is None:
        policy = EscalationPolicy(created_at=now)
        session.add(policy)
    policy.name, policy.levels, policy.updated_at = name, checked, now
    await session.flush()
    return policy
