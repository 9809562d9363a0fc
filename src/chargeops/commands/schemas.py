"""API shapes of commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from chargeops.commands.models import Command
from chargeops.core.commands import CommandName

_NAMES = ", ".join(n.value for n in CommandName)


class CommandIn(BaseModel):
    name: str = Field(description=f"one of: {_NAMES}")
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="e.g. start_session {id_tag, evse_id}; stop_session {session_id}; "
        "reset {type: soft|hard}; unlock_connector {evse_id}; change_availability "
        "{operative, evse_id}; get_configuration {keys}; change_configuration {key, value}; "
        "trigger_message {message, evse_id}; data_transfer {vendor_id, message_id, data}",
    )


class CommandOut(BaseModel):
    id: int
    station_id: str
    name: str
    arguments: dict[str, Any]
    requested_by: str
    requested_at: datetime
    status: str = Field(
        description="pending, sent, accepted, rejected, failed, timeout or station_offline"
    )
    action: str | None = Field(description="the OCPP message it was sent as")
    response: dict[str, Any] | None = Field(description="what the station answered")
    detail: str | None = Field(description="why it failed or was rejected")
    progress: list[dict[str, Any]] | None = Field(
        description="what the station reported afterwards, e.g. firmware Downloading, "
        "Downloaded, Installing, Installed (each with its time)"
    )
    sent_at: datetime | None
    answered_at: datetime | None

    @classmethod
    def of(cls, row: Command) -> CommandOut:
        return cls(
            id=row.id,
            station_id=row.station_id,
            name=row.name,
            arguments=row.arguments,
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            status=row.status,
            action=row.action,
            response=row.response,
            detail=row.detail,
            progress=row.progress,
            sent_at=row.sent_at,
            answered_at=row.answered_at,
        )
