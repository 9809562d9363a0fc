"""API shapes of commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from chargeops.commands.models import Command, CommandProgress
from chargeops.core.commands import CommandName

_NAMES = ", ".join(n.value for n in CommandName)


class CommandIn(BaseModel):
    name: str = Field(description=f"one of: {_NAMES}")
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="e.g. start_session {id_tag, evse_id}; stop_session {session_id}; "
        "reset {type: soft|hard}; unlock_connector {evse_id}; change_availability "
        "{operative, evse_id}; get_configuration {keys}; change_configuration {key, value}; "
        "trigger_message {message, evse_id}; data_transfer {vendor_id, message_id, data}; "
        "update_firmware {location}; get_diagnostics {start_at, stop_at}; reserve_now "
        "{id_tag, evse_id, expires_at}; cancel_reservation {reservation_id}; send_local_list "
        "{tokens, update, version}; set_charging_profile {limit, unit, evse_id, purpose}; "
        "clear_charging_profile {profile_id}; get_composite_schedule {evse_id, duration_s}. "
        "The README lists every argument.",
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
    payload: dict[str, Any] | None = Field(description="...and what that message carried")
    response: dict[str, Any] | None = Field(description="what the station answered")
    detail: str | None = Field(description="why it failed or was rejected")
    progress: list[dict[str, Any]] = Field(
        description="what the station reported afterwards, oldest first, each with its "
        "time: firmware Downloading, Downloaded, Installing, Installed; diagnostics "
        "Uploading, Uploaded, then FileReceived with the file's id"
    )
    sent_at: datetime | None
    answered_at: datetime | None

    @classmethod
    def of(cls, row: Command, progress: list[CommandProgress] | None = None) -> CommandOut:
        return cls(
            id=row.id,
            station_id=row.station_id,
            name=row.name,
            arguments=row.arguments,
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            status=row.status,
            action=row.action,
            payload=row.payload,
            response=row.response,
            detail=row.detail,
            progress=[{"status": p.status, "at": p.at, **(p.detail or {})} for p in progress or []],
            sent_at=row.sent_at,
            answered_at=row.answered_at,
        )
