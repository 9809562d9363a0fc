"""Text search in SQL: what a person types is matched literally, never as a pattern."""

from __future__ import annotations

ESCAPE = "\\"


def contains(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with ``%`` and ``_`` taken literally
    (use it with ``escape=ESCAPE``): searching for ``%`` finds a ``%``, not everything."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
