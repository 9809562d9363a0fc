"""Tables owned by the commands domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chargeops.storage.base import Base
from chargeops.storage.types import UTCDateTime


class Command(Base):
    """One operator command and how it ended: the audit log of remote control."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    action: Mapped[str | None] = mapped_column(String(40))  # the OCPP CALL it became
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # ...and what it carried
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CommandProgress(Base):
    """What a station reported after accepting a command (firmware Downloading ...
    Installed; diagnostics Uploading, Uploaded; the file received). One row per report,
    so reports recorded at the same time never overwrite each other."""

    __tablename__ = "command_progress"
    __table_args__ = (Index("ix_command_progress_command", "command_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    command_id: Mapped[int] = mapped_column(ForeignKey("commands.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
