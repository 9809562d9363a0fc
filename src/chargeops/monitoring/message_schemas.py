"""API shapes of the OCPP message log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from chargeops.monitoring.message_log import TYPE_WORDS, MessageType, payload_of
from chargeops.monitoring.models import OcppMessage


class MessageOut(BaseModel):
    id: int
    station_id: str
    at: datetime = Field(description="when the frame was received or sent (UTC)")
    direction: Literal["in", "out"] = Field(description="in: from the station; out: to it")
    message_type: MessageType = Field(
        description="INVALID: not an OCPP-J message (not JSON, not an array, unknown type); "
        "its raw frame is kept all the same"
    )
    unique_id: str = Field(description='"" when the frame has no readable unique id')
    action: str | None = Field(
        description="a CALL's action; a CALLRESULT's or CALLERROR's is the action of the "
        "CALL it answers (null when that CALL was not logged)"
    )
    frame: str = Field(description="the frame as it crossed the wire")
    payload: Any = Field(
        description="the parsed payload (a CALLERROR's: errorCode, errorDescription, "
        "errorDetails); null when the frame is not OCPP-J"
    )

    @classmethod
    def of(cls, row: OcppMessage) -> MessageOut:
        return cls(
            id=row.id,
            station_id=row.station_id,
            at=row.at,
            direction="out" if row.direction == "out" else "in",
            message_type=TYPE_WORDS.get(row.message_type, "INVALID"),
            unique_id=row.unique_id,
            action=row.action,
            frame=row.frame,
            payload=payload_of(row),
        )
