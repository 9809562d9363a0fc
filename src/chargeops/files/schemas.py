"""API shapes of uploaded files."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from chargeops.files.models import StationFile


class FileOut(BaseModel):
    id: int
    station_id: str
    command_id: int | None = Field(description="the get_diagnostics command it answers")
    purpose: str = Field(description="diagnostics")
    filename: str = Field(description="the name the station gave it")
    content_type: str
    size_bytes: int
    sha256: str
    received_at: datetime
    download_url: str = Field(description="GET it with the same API key")

    @classmethod
    def of(cls, row: StationFile) -> FileOut:
        return cls(
            id=row.id,
            station_id=row.station_id,
            command_id=row.command_id,
            purpose=row.purpose,
            filename=row.filename,
            content_type=row.content_type,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            received_at=row.received_at,
            download_url=f"/api/v1/files/{row.id}/content",
        )


class Received(BaseModel):
    """What a station is told after an upload."""

    id: int
    filename: str
    size_bytes: int
    sha256: str
