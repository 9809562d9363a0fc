"""Upload slots and received files: who may upload where, and what arrived."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.clock import utcnow
from chargeops.core.errors import NotFound
from chargeops.core.events import FileReceived
from chargeops.files.models import StationFile, UploadSlot
from chargeops.files.store import Saved
from chargeops.stations import service as stations
from chargeops.storage.writer import Work

SLOT_LIFETIME = timedelta(hours=24)  # a station may upload late: retries, a busy modem
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def new_slot(
    station_id: str, purpose: str, *, command_id: int | None = None, at: datetime | None = None
) -> UploadSlot:
    at = at or utcnow()
    return UploadSlot(
        token=secrets.token_urlsafe(24),
        station_id=station_id,
        command_id=command_id,
        purpose=purpose,
        created_at=at,
        expires_at=at + SLOT_LIFETIME,
    )


async def open_slot(db: AsyncSession, token: str) -> UploadSlot:
    """The slot behind an upload URL; NotFound when unknown or expired (said the same way:
    the URL must not tell a stranger which tokens exist)."""
    slot = await db.get(UploadSlot, token)
    if slot is None or slot.expires_at < utcnow():
        raise NotFound("no upload is expected here (the link is unknown or expired)")
    return slot


def safe_filename(name: str | None, fallback: str) -> str:
    """A station's file name as metadata: no directories, no odd characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._")[:200]
    return cleaned or fallback


async def record_file(
    work: Work,
    slot: UploadSlot,
    saved: Saved,
    *,
    filename: str,
    content_type: str,
    at: datetime,
) -> StationFile:
    row = StationFile(
        station_id=slot.station_id,
        command_id=slot.command_id,
        purpose=slot.purpose,
        filename=filename,
        content_type=content_type[:100],
        size_bytes=saved.size_bytes,
        sha256=saved.sha256,
        storage_key=saved.key,
        received_at=at,
    )
    work.session.add(row)
    await work.session.flush()
    work.emit(
        FileReceived(
            slot.station_id, at, row.id, slot.command_id, row.purpose, filename, row.size_bytes
        )
    )
    return row


async def get_file(db: AsyncSession, file_id: int) -> StationFile:
    row = await db.get(StationFile, file_id)
    if row is None:
        raise NotFound(f"no file {file_id}")
    return row


async def list_files(
    db: AsyncSession,
    station_id: str,
    *,
    command_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[StationFile]:
    await stations.require_station(db, station_id)
    stmt = (
        select(StationFile)
        .where(StationFile.station_id == station_id)
        .order_by(StationFile.id.desc())
        .limit(limit)
    )
    if command_id is not None:
        stmt = stmt.where(StationFile.command_id == command_id)
    if before_id is not None:
        stmt = stmt.where(StationFile.id < before_id)
    return (await db.execute(stmt)).scalars().all()
