"""The local authorization list a CSMS keeps on a simulated station (SendLocalList).

With it the station starts a session for a listed, accepted token at once, without
asking the CSMS first (LocalPreAuthorize), as real chargers do to start quickly and to
work offline. Tokens it does not know, or knows as not accepted, are still asked about:
while online the CSMS has the last word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

#: Most tokens the list holds (LocalAuthListMaxLength); a bigger list is refused.
MAX_ENTRIES = 1000


class ListUpdate(StrEnum):
    """How SendLocalList went; the words are the same in 1.6 and 2.0.1."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    VERSION_MISMATCH = "VersionMismatch"


@dataclass(frozen=True, slots=True)
class ListEntry:
    """A token's entry: its status word (Accepted, Blocked...) and when that expires."""

    id_tag: str
    status: str
    expires_at: datetime | None = None


class LocalList:
    """The list and its version; version 0 means there is no list."""

    def __init__(self) -> None:
        self.version = 0
        self._entries: dict[str, ListEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def update(
        self, version: int, full: bool, changes: Sequence[tuple[str, ListEntry | None]]
    ) -> ListUpdate:
        """Apply a SendLocalList: ``changes`` are (id tag, entry, or None to remove).

        A full update replaces the list; a differential one must bring a newer version
        than the station has, so one lost or repeated on the way is noticed.
        """
        if not full and version <= self.version:
            return ListUpdate.VERSION_MISMATCH
        entries = {} if full else dict(self._entries)
        for id_tag, entry in changes:
            if entry is None:
                entries.pop(id_tag.casefold(), None)
            else:
                entries[id_tag.casefold()] = entry
        if len(entries) > MAX_ENTRIES:
            return ListUpdate.FAILED
        self._entries = entries
        self.version = version if entries else 0
        return ListUpdate.ACCEPTED

    def get(self, id_tag: str) -> ListEntry | None:
        """The entry of ``id_tag``; OCPP id tags compare without regard to case."""
        return self._entries.get(id_tag.casefold())

    def accepts(self, id_tag: str, at: datetime) -> bool:
        """True if the list alone lets ``id_tag`` charge at ``at``."""
        entry = self.get(id_tag)
        if entry is None or entry.status != "Accepted":
            return False
        return entry.expires_at is None or at < entry.expires_at
