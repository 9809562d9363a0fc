"""Request and response shapes of the alerts API: rules, escalation policies, incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chargeops.alerts.incidents import status_of
from chargeops.alerts.models import AlertRule, EscalationPolicy, Incident, IncidentNote
from chargeops.alerts.rules import KINDS

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
    after_minutes: float = Field(0, ge=0, description="after the incident opened")
    roles: list[str] = []
    user_ids: list[int] = []


class PolicyIn(_In):
    name: str | None = Field(None, max_length=100)
    levels: list[LevelIn] | None = None


class PolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    levels: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: EscalationPolicy) -> PolicyOut:
        return cls.model_validate(row)


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
    level: int = Field(description="escalation level reached")
    next_escalation_at: datetime | None

    @classmethod
    def of(cls, row: Incident) -> IncidentOut:
        data = {name: getattr(row, name) for name in cls.model_fields if name != "status"}
        return cls(status=status_of(row), **data)


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
