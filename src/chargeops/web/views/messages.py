"""``/messages``: the OCPP message log, every frame in and out, newest first.

What support opens first when a station misbehaves: filter by station (the station page
links here with ``?station_id=``), action, unique id (a CALL and its answer share one),
direction and time. Times are UTC to the millisecond: frames a few milliseconds apart
are often the whole story. Long frames are folded, pretty-printed, under their first
characters. Staff only (messages:read): frames carry card ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Request, Response

from chargeops.core.access import Permission
from chargeops.core.errors import InvalidInput
from chargeops.monitoring import message_log
from chargeops.monitoring.models import OcppMessage
from chargeops.storage.http import DbSession
from chargeops.web.auth import Viewer
from chargeops.web.frame import NavEntry, console_router, page, render, sentence
from chargeops.web.views.common import form_time

router = console_router()
NAV: tuple[NavEntry, ...] = ()  # reached from each station's page for now
PAGE_SIZE = 50
SHORT_FRAME = 200  # characters shown unfolded; longer frames fold under their start
HEAD = 100
Reader = Annotated[Viewer, page(Permission.MESSAGES_READ)]
DIRECTIONS = {"": "Both", "in": "In (from the station)", "out": "Out (to the station)"}
_DIRECTION: dict[str, message_log.Direction] = {"in": "in", "out": "out"}


@dataclass(frozen=True, slots=True)
class Filters:
    """The form's filters as sent; times are UTC (``YYYY-MM-DDTHH:MM[:SS]``)."""

    station_id: str = ""
    action: str = ""
    unique_id: str = ""
    direction: str = ""
    since: str = ""
    until: str = ""

    def window(self) -> tuple[datetime | None, datetime | None]:
        if self.direction not in DIRECTIONS:
            raise InvalidInput("direction: in, out, or both")
        for name, value in (("action", self.action), ("unique id", self.unique_id)):
            if len(value) > 64:
                raise InvalidInput(f"{name}: at most 64 characters")
        since = form_time(self.since, "from")
        until = form_time(self.until, "to")
        if since is not None and until is not None and until <= since:
            raise InvalidInput("to: the end is not after the start")
        return since, until

    @property
    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.as_dict().items() if v}

    def as_dict(self) -> dict[str, str]:
        return {
            "station_id": self.station_id,
            "action": self.action,
            "unique_id": self.unique_id,
            "direction": self.direction,
            "since": self.since,
            "until": self.until,
        }

    @property
    def any(self) -> bool:
        return bool(self.query)


@dataclass(frozen=True, slots=True)
class FrameView:
    """One row of the log as the page shows it."""

    id: int
    station_id: str
    at: datetime
    at_text: str  # to the millisecond
    direction: str
    kind: str
    action: str | None
    unique_id: str
    parts: list[str]  # the frame cut after its commas: a compact frame wraps there
    short: bool  # shown whole; otherwise folded under ``head``
    head: str
    pretty: str

    @classmethod
    def of(cls, row: OcppMessage) -> FrameView:
        short = len(row.frame) <= SHORT_FRAME
        return cls(
            id=row.id,
            station_id=row.station_id,
            at=row.at,
            at_text=row.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.")
            + f"{row.at.microsecond // 1000:03d}",
            direction=row.direction,
            kind=message_log.TYPE_WORDS.get(row.message_type, "INVALID"),
            action=row.action,
            unique_id=row.unique_id,
            parts=_breakable(row.frame) if short else [],
            short=short,
            head="" if short else row.frame[:HEAD] + "…",
            pretty="" if short else _pretty(row.frame),
        )


def _breakable(frame: str) -> list[str]:
    """Pieces to join with ``<wbr>``: lines may break there, and a copy is the frame."""
    pieces = frame.split(",")
    return [p + "," for p in pieces[:-1]] + pieces[-1:]


def _pretty(frame: str) -> str:
    """The frame indented, for reading; as it came when it is not JSON."""
    value = message_log.decode(frame)
    if value is message_log.NOT_JSON:
        return frame
    return json.dumps(value, indent=2, ensure_ascii=False)


@router.get("/messages")
async def message_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    station_id: str = "",
    action: str = "",
    unique_id: str = "",
    direction: str = "",
    since: str = "",
    until: str = "",
    before: int | None = None,
) -> Response:
    filters = Filters(
        station_id.strip(),
        action.strip(),
        unique_id.strip(),
        direction.strip(),
        since.strip(),
        until.strip(),
    )
    error = None
    rows: list[OcppMessage] = []
    try:
        start, end = filters.window()
        found = await message_log.search(
            db,
            station_id=filters.station_id or None,
            action=filters.action or None,
            unique_id=filters.unique_id or None,
            direction=_DIRECTION.get(filters.direction),
            since=start,
            until=end,
            before_id=before,
            limit=PAGE_SIZE + 1,
        )
        rows = list(found)
    except InvalidInput as exc:
        error = sentence(exc.detail)
    shown = rows[:PAGE_SIZE]
    station = filters.station_id
    return render(
        request,
        "messages.html",
        title=f"OCPP messages of {station}" if station else "OCPP message log",
        http_status=422 if error else 200,
        frames=[FrameView.of(r) for r in shown],
        filters=filters,
        directions=DIRECTIONS,
        error=error,
        paged=before is not None,
        next_before=shown[-1].id if len(rows) > PAGE_SIZE else None,
        see_stations=viewer.principal.may(Permission.STATIONS_READ),
        # set by the composition root; None: not known (an app built without it)
        keep_days=getattr(request.app.state, "message_log_days", None),
    )
