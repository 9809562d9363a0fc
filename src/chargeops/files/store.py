"""Where uploaded bytes live: a directory on the server, one file per upload.

Files are written to a temporary name and renamed when complete, so a half-received
upload is never listed; names are ours (a station's file name is only metadata).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from chargeops.core.clock import utcnow
from chargeops.core.errors import TooLarge


@dataclass(frozen=True, slots=True)
class Saved:
    key: str  # relative to the store's root
    size_bytes: int
    sha256: str


class FileStore:
    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path(self, key: str) -> Path:
        return self.root / key

    async def save(self, chunks: AsyncIterator[bytes]) -> Saved:
        """Write a stream to a new file; TooLarge (nothing kept) past ``max_bytes``."""
        now = utcnow()
        key = f"{now:%Y/%m}/{uuid.uuid4().hex}"
        final = self.path(key)
        partial = final.with_name(final.name + ".part")
        await asyncio.to_thread(final.parent.mkdir, parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        out = await asyncio.to_thread(partial.open, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    raise TooLarge(f"uploads are limited to {self.max_bytes // 2**20} MB")
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(_close_synced, out)
            await asyncio.to_thread(os.replace, partial, final)
        except BaseException:
            out.close()
            partial.unlink(missing_ok=True)
            raise
        return Saved(key, size, digest.hexdigest())


def _close_synced(out: BinaryIO) -> None:
    """Flush to disk before the file is listed: an upload we answered 200 survives a crash."""
    out.flush()
    os.fsync(out.fileno())
    out.close()
