"""Uploads from stations (``/uploads/{token}``) and downloads for operators (``/api/v1``).

Stations upload the way their firmware does: HTTP POST of a multipart form (the file in
its first file field), or PUT/POST of the raw bytes, optionally with the file name after
the token (``/uploads/{token}/{name}``, as chargers that append a name to the location
do). The token in the path is the only credential; stations have no API key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from chargeops.core.access import Permission
from chargeops.core.clock import utcnow
from chargeops.core.errors import InvalidInput, NotFound, TooLarge
from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, before_id, newest_first
from chargeops.files import service
from chargeops.files.schemas import FileOut, Received
from chargeops.files.store import FileStore
from chargeops.storage.http import DbSession, requires
from chargeops.storage.writer import GroupCommitWriter

router = APIRouter(tags=["files"], dependencies=[requires(Permission.FILES_READ)])
uploads = APIRouter(prefix="/uploads", tags=["station uploads"])

_CHUNK = 1 << 16


async def receive(token: str, request: Request, db: DbSession, name: str | None = None) -> Received:
    """Where a station uploads the file a get_diagnostics command asked for."""
    slot = await service.open_slot(db, token)
    await db.close()  # no read transaction held open while a large file streams in
    store: FileStore = request.app.state.files
    writer: GroupCommitWriter = request.app.state.writer
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > store.max_bytes + _CHUNK:
        raise TooLarge(f"uploads are limited to {store.max_bytes // 2**20} MB")
    content_type = request.headers.get("content-type", "application/octet-stream")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=20)
        part = next((v for v in form.values() if isinstance(v, UploadFile)), None)
        if part is None:
            raise InvalidInput("the form holds no file")
        name = part.filename or name
        content_type = part.content_type or "application/octet-stream"
        saved = await store.save(_read_part(part))
        await form.close()
    else:
        saved = await store.save(request.stream())
    at = utcnow()
    fallback = f"{slot.station_id}-{slot.purpose}-{at:%Y%m%dT%H%M%SZ}"
    filename = service.safe_filename(name, fallback)
    row = await writer.submit(
        lambda w: service.record_file(
            w, slot, saved, filename=filename, content_type=content_type, at=at
        )
    )
    return Received(id=row.id, filename=filename, size_bytes=saved.size_bytes, sha256=saved.sha256)


for _path, _named in (("/{token}", ""), ("/{token}/{name:path}", "_named")):
    for _method in ("POST", "PUT"):
        uploads.add_api_route(
            _path,
            receive,
            methods=[_method],
            response_model=Received,
            operation_id=f"upload_{_method.lower()}{_named}",
        )


async def _read_part(part: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await part.read(_CHUNK):
        yield chunk


@router.get(
    "/stations/{station_id}/files",
    response_model=Page[FileOut],
    summary="Files the station uploaded (diagnostics, logs), newest first",
)
async def list_files(
    station_id: str,
    db: DbSession,
    command_id: int | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[FileOut]:
    rows = await service.list_files(
        db, station_id, command_id=command_id, before_id=before_id(cursor), limit=limit + 1
    )
    return newest_first(rows, limit, FileOut.of, lambda r: r.id)


@router.get("/files/{file_id}", response_model=FileOut, summary="One uploaded file's details")
async def get_file(file_id: int, db: DbSession) -> FileOut:
    return FileOut.of(await service.get_file(db, file_id))


@router.get("/files/{file_id}/content", summary="Download an uploaded file")
async def download(file_id: int, db: DbSession, request: Request) -> FileResponse:
    row = await service.get_file(db, file_id)
    store: FileStore = request.app.state.files
    path = store.path(row.storage_key)
    if not path.is_file():
        raise NotFound(f"file {file_id} is recorded but its bytes are gone from {store.root}")
    return FileResponse(path, media_type=row.content_type, filename=row.filename)
