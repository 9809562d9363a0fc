"""Request and response shapes of the alerts API: rules, escalation policies, incidents.

Escalation levels count from 1 here, as people say them: level 1 is told when an
incident opens, level 2 next. (They are stored as a list, so from 0, and converted by
:func:`~chargeops.alerts.rules.level_number` on the way out.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chargeops.alerts.incidents import status_of
from chargeops.alerts.models import AlertRule, EscalationPolicy, Incident, IncidentNote
from chargeops.alerts.rules import KINDS, level_number

Severity = Literal["critical", "major", "minor", "info"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleIn(_In):
    name: str | None = Field(None, max_length=100)
    kind: str | None = Field(None, description=", ".join(KINDS))
    enabled: bool | None = None
    severity: Severity | None = None
    params: dict[str, Any] | None = Field(
        None,
        description="per kind, e.g. station_offline {minutes}, uptime_below "
        "{percent, window_hours}, connector_faulted {codes}, anomaly {detectors}",
    )
    site_id: int | None = Field(None, description="only this site's stations; null: all")
    auto_resolve: bool | None = Field(None, description="resolve when the condition clears")
    policy_id: int | None = Field(None, description="who hears of its incidents")


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    enabled: bool
    severity: str
    params: dict[str, Any]
    site_id: int | None
    auto_resolve: bool
    policy_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: AlertRule) -> RuleOut:
        return cls.model_validate(row)


class LevelIn(_In):
    level: int | None = Field(
        None,
        ge=1,
        description="optional: its number, counted from 1; it must be its place in the list",
    )
    after_minutes: float = Field(
        0, ge=0, description="after the incident opened (level 1: 0, told at once)"
    )
    roles: list[str] = []
    user_ids: list[int] = []


class LevelOut(BaseModel):
    level: int = Field(description="counted from 1: level 1 is told when the incident opens")
    after_minutes: float
    roles: list[str]
    user_ids: list[int]


class PolicyIn(_In):
    name: str | None = Field(None, max_length=100)
    levels: list[LevelIn] | None = Field(
        None, description="in order: level 1 first (told at once), then each later one"
    )


class PolicyOut(BaseModel):
    id: int
    name: str
    levels: list[LevelOut] = Field(description="level 1 first")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: EscalationPolicy) -> PolicyOut:
        return cls(
            id=row.id,
            name=row.name,
            levels=[
                LevelOut(
                    level=level_number(n),
                    after_minutes=float(level.get("after_minutes", 0)),
                    roles=list(level.get("roles") or []),
                    user_ids=list(level.get("user_ids") or []),
                )
                for n, level in enumerate(row.levels)
            ],
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class IncidentOut(BaseModel):
    id: int
    rule_id: int
    station_id: str
    evse_id: int
    kind: str
    condition: str
    severity: str
    status: str = Field(description="open, acknowledged or resolved")
    title: str
    detail: str | None
    started_at: datetime = Field(description="when the condition began")
    opened_at: datetime
    last_fired_at: datetime
    occurrences: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    assignee_id: int | None
    resolved_at: datetime | None
    resolved_by: str | None
    level: int = Field(
        description="escalation level reached, from 1 (the policy's first recipients)"
    )
    next_escalation_at: datetime | None

    @classmethod
    def of(cls, row: Incident) -> IncidentOut:
        computed = ("status", "level")
        data = {name: getattr(row, name) for name in cls.model_fields if name not in computed}
        return cls(status=status_of(row), level=level_number(row.level), **data)


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    kind: str
    author: str | None
    text: str

    @classmethod
    def of(cls, row: IncidentNote) -> NoteOut:
        return cls.model_validate(row)


class IncidentDetail(IncidentOut):
    notes: list[NoteOut]


class AssignIn(_In):
    user_id: int | None = Field(description="null: nobody")


class CommentIn(_In):
    text: str = Field(min_length=1, max_length=5000)


class ResolveIn(_In):
    note: str | None = Field(None, max_length=2000)
