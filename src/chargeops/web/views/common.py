"""What several pages share: who sees which tokens' records, and reading the forms
that change something."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from chargeops.core.access import Permission, Principal
from chargeops.core.errors import InvalidInput
from chargeops.storage.writer import GroupCommitWriter, UnitFn
from chargeops.web.auth import Viewer

VisibleTags = Callable[[AsyncSession, Principal, Permission], Awaitable[frozenset[str] | None]]
T = TypeVar("T")
MAX_FIELD = 2000  # longer than any field the services keep: they say what is too long


async def visible_id_tags(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    permission: Permission = Permission.SESSIONS_READ,
) -> frozenset[str] | None:
    """The tokens (lower case) whose records the viewer sees; None: all. The same rule
    as the API's (the composition root says how tokens are owned)."""
    visible: VisibleTags = request.app.state.visible_id_tags
    return await visible(db, viewer.principal, permission)


async def form_of(request: Request) -> FormData:
    """The posted form (already read, and its CSRF token checked, by the frame)."""
    return await request.form()


def field(form: FormData, name: str) -> str:
    """A text field, stripped; empty when it was not sent."""
    value = form.get(name)
    return value.strip()[:MAX_FIELD] if isinstance(value, str) else ""


def form_time(text: str, what: str) -> datetime | None:
    """A time a form or query sent (``YYYY-MM-DD HH:MM[:SS]``, a ``T`` or a zone allowed),
    read as UTC unless it names its zone: the console's times are UTC. None when empty."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what}: {text!r} is not a time (YYYY-MM-DD HH:MM, UTC)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def fields(form: FormData, name: str) -> list[str]:
    """Every value of a repeated field (checkboxes), stripped, without empty ones."""
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def optional_id(text: str, what: str) -> int | None:
    """The id a select sent; None for its empty choice."""
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not {what}") from None


def ids_of(text: str, limit: int = 100) -> list[int]:
    """Ids a page was sent in its address (``?sent=3,4``); what is not an id is skipped."""
    return [int(part) for part in text.split(",")[:limit] if part.strip().isdigit()]


def notice(done: str, notices: dict[str, str]) -> str | None:
    """What a page says after a change it redirected to (only its own fixed words)."""
    return notices.get(done)


def writer_of(request: Request) -> GroupCommitWriter:
    writer: GroupCommitWriter = request.app.state.writer
    return writer


async def write(request: Request, unit: UnitFn[T]) -> T:
    """Run a change in the server's one writer (never through a page's read session)."""
    return await writer_of(request).submit(unit)


def see_other(url: str) -> RedirectResponse:
    """After a form is posted: to the page that shows the outcome (a reload repeats
    nothing)."""
    return RedirectResponse(url, status_code=303)
