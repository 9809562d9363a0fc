"""A simulated station's recent history, and the diagnostics log made from it.

Everything the station logs, its status changes and its meter readings go into a
bounded journal, kept cheaply (the message is formatted only when a log is asked for),
so that GetDiagnostics / GetLog upload something an operator would recognise: what the
station did lately, in its own words.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from datetime import datetime

#: Entries kept: at a sample every 5 s on two connectors, the last few minutes and more.
JOURNAL_LENGTH = 2000


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    """The last :data:`JOURNAL_LENGTH` entries, oldest first."""

    def __init__(self, maxlen: int = JOURNAL_LENGTH) -> None:
        self._entries: deque[tuple[datetime, int, str, tuple[object, ...]]] = deque(maxlen=maxlen)

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, at: datetime, level: int, msg: str, *args: object) -> None:
        """Keep one entry; ``msg % args`` is left for :meth:`render`."""
        self._entries.append((at, level, msg, args))

    def lines(self, since: datetime | None = None, until: datetime | None = None) -> list[str]:
        """The entries between ``since`` and ``until`` (both optional), one line each."""
        out = []
        for at, level, msg, args in self._entries:
            if (since is not None and at < since) or (until is not None and at > until):
                continue
            text = msg % args if args else msg
            out.append(f"{_stamp(at)} {logging.getLevelName(level):<7} {text}")
        return out

    def render(
        self,
        title: str,
        header: Iterable[str],
        generated_at: datetime,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> str:
        """A log file: a title, the station's present state, then its history."""
        lines = [f"# {title}", f"# generated {_stamp(generated_at)}"]
        lines += [f"# {line}" for line in header]
        window = "everything kept" if since is None and until is None else "requested window"
        lines.append(f"# history ({window}), oldest first:")
        lines += self.lines(since, until)
        return "\n".join(lines) + "\n"
