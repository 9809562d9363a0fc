"""File transfers of a simulated station: firmware updates and diagnostics/log uploads.

Firmware is never fetched: the station goes through the steps a real one reports
(Downloading, Downloaded, Installing, Installed) a moment apart, and comes back with a
version named after the file. Logs, by contrast, really are uploaded, the way charger
firmware does it (HTTP POST of a multipart form, the file in field ``file``), so the
CSMS's upload endpoint is exercised for real.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import httpx

#: Longest a log upload may take; the station reports UploadFailed after it.
UPLOAD_TIMEOUT_S = 30.0

#: The file name endings a firmware image comes with, dropped to name the new version.
_IMAGE_SUFFIXES = frozenset({".bin", ".img", ".fw", ".hex", ".zip", ".tar", ".gz", ".tgz", ".swu"})


class FirmwareStatus(StrEnum):
    """The firmware steps a station reports; 1.6 and 2.0.1 spell these alike."""

    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    INSTALLING = "Installing"
    INSTALLED = "Installed"


class UploadStatus(StrEnum):
    """Diagnostics/log upload progress; a wiring spells FAILED its version's way."""

    UPLOADING = "Uploading"
    UPLOADED = "Uploaded"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class FirmwareUpdate:
    """An UpdateFirmware request; ``request_id`` is 2.0.1's, echoed in each report."""

    location: str
    retrieve_at: datetime
    request_id: int | None = None


@dataclass(frozen=True, slots=True)
class LogRequest:
    """A GetDiagnostics / GetLog request: where to, what window, how persistently."""

    location: str
    request_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    retries: int = 0
    retry_interval_s: float = 0.0
    #: DiagnosticsLog or SecurityLog (2.0.1); the title of the file.
    kind: str = "diagnostics"


class UploadError(Exception):
    """The upload did not get a 2xx answer (or no answer at all)."""


def firmware_version(location: str, current: str) -> str:
    """The version a station runs after installing the image at ``location``: the image's
    file name without its suffixes (``.../chargeops-sim-2.0.bin`` -> ``chargeops-sim-2.0``),
    or ``current`` when the location names no file. At most 50 characters, as 1.6 allows."""
    name = PurePosixPath(unquote(urlsplit(location).path)).name
    while (suffix := PurePosixPath(name).suffix.lower()) in _IMAGE_SUFFIXES:
        name = name[: -len(suffix)]
    return name[:50] or current


def can_upload_to(location: str) -> bool:
    """The simulator uploads over HTTP(S) only (no FTP)."""
    return urlsplit(location).scheme.lower() in ("http", "https")


async def upload(location: str, filename: str, content: bytes) -> None:
    """POST ``content`` to ``location`` as a multipart form; UploadError if it fails."""
    try:
        async with httpx.AsyncClient(timeout=UPLOAD_TIMEOUT_S) as client:
            response = await client.post(
                location, files={"file": (filename, content, "text/plain")}
            )
    except httpx.HTTPError as exc:
        raise UploadError(f"{type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise UploadError(f"HTTP {response.status_code}")
