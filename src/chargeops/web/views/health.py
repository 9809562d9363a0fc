"""Network health pages: the live status board (``/status``), the fault list
(``/faults``), a station's timeline, uptime, and declared outages.

The board and the fault list are drawn on the server and work without a script; with
one, they listen to the whole network (live.NETWORK) and, a moment after anything that
changes what they show, are sent their rows again, drawn by the same macros
(templates/_health_macros.html), with the counts. Redrawing the page's rows, rather
than patching one cell per event, keeps the live page exactly what a reload would show,
however the events come (out of order, dropped by a slow browser, across a reconnect).
A burst of events costs one redraw: updates wait :data:`SETTLE_SECONDS` after the first
event and come at most every :data:`GAP_SECONDS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.alerts import incidents
from chargeops.alerts.models import Incident
from chargeops.core.access import Permission
from chargeops.core.clock import utcnow
from chargeops.core.errors import InvalidInput, NotFound
from chargeops.monitoring import availability, exclusions, faults, health, timeline
from chargeops.monitoring.models import Fault, OutageExclusion
from chargeops.monitoring.uptime import Interval
from chargeops.stations import service as stations
from chargeops.stations import sites
from chargeops.storage.http import DbSession
from chargeops.storage.writer import Work
from chargeops.web import live, queries
from chargeops.web.auth import Viewer
from chargeops.web.frame import NavEntry, console_of, console_router, page, render, sentence
from chargeops.web.views.common import (
    field,
    form_of,
    form_time,
    notice,
    optional_id,
    see_other,
    write,
)

router = console_router()
NAV = (
    NavEntry("Status", "/status", Permission.MONITORING_READ),
    NavEntry("Faults", "/faults", Permission.MONITORING_READ),
)
Reader = Annotated[Viewer, page(Permission.MONITORING_READ)]
Manager = Annotated[Viewer, page(Permission.MONITORING_MANAGE)]

BOARD_PAGE = 100  # stations a board page shows: a site's worth; more by filter or page
FAULT_PAGE = 50
UPTIME_PAGE = 50  # stations per uptime page: each is judged over the whole window
SITE_UPTIME_PAGE = 20  # sites per page: every station of each is judged
TIMELINE_LIMIT = 500
SITE_CHOICES = 1000
SETTLE_SECONDS = 0.25
GAP_SECONDS = 0.5
MACROS = "_health_macros.html"
# what changes the board: reachable or not, a connector's state, a fault opened or over
BOARD_EVENTS = frozenset({"connectivity", "connector", "fault"})
FAULT_STATES = {"open": "Open", "cleared": "Cleared", "all": "All"}
WINDOWS = {
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
INCIDENT = "incident"
KIND_WORDS = {  # one entry's kind, in a word
    timeline.CONNECTIVITY: "Connectivity",
    timeline.STATUS: "Status",
    timeline.FAULT: "Fault",
    timeline.ANOMALY: "Anomaly",
    timeline.EXCLUSION: "Declared outage",
    INCIDENT: "Incident",
}
NOTICES = {
    "cleared": "The fault was cleared.",
    "already": "That fault had already been cleared.",
    "declared": "The outage was declared. Where it falls on an outage, that time no longer "
    "counts against uptime.",
    "withdrawn": "The declared outage was withdrawn: its time counts against uptime again.",
}


# --- shared pieces ----------------------------------------------------------------------


def _form_time(value: datetime | None) -> str:
    """A time as a datetime-local field shows it (UTC, to the minute)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if value else ""


@dataclass(frozen=True, slots=True)
class Window:
    """The period a page covers: one of :data:`WINDOWS`, or (``custom``) from ``since``
    to ``until`` (UTC; ``until`` empty: now)."""

    choice: str = "7d"
    since: str = ""
    until: str = ""

    @property
    def custom(self) -> bool:
        return self.choice == "custom"

    def period(self, now: datetime) -> tuple[datetime, datetime]:
        if not self.custom:
            if self.choice not in WINDOWS:
                raise InvalidInput(f"window must be one of: {', '.join(WINDOWS)}, or custom")
            return now - WINDOWS[self.choice][1], now
        start = form_time(self.since, "from")
        end = form_time(self.until, "to") or now
        if start is None:
            raise InvalidInput("from: give the start of the period (UTC)")
        if end <= start:
            raise InvalidInput("to: the end is not after the start")
        if start >= now:
            raise InvalidInput("from: that time has not come yet")
        return start, min(end, now)

    @property
    def query(self) -> dict[str, str]:
        if self.custom:
            return {"window": "custom", "since": self.since, "until": self.until}
        return {"window": self.choice}


def _window(window: str, since: str, until: str) -> Window:
    return Window(window.strip() or "7d", since.strip(), until.strip())


def _macros(request: Request) -> Any:
    """The health macros, to draw rows for a live page exactly as the page draws them."""
    return console_of(request).templates.get_template(MACROS).module


async def _site_choices(db: AsyncSession) -> list[Any]:
    return [s.site for s in await sites.list_sites(db, limit=SITE_CHOICES)]


Draw = Callable[[AsyncSession], Awaitable[live.Message]]


def _live(request: Request, matters: Callable[[live.Message], bool], draw: Draw) -> Response:
    """Server-Sent Events: the page's rows now (``snapshot``), then again (``update``) a
    moment after events that matter to it. Listens before the snapshot, so no change
    falls between; no request-long database session (a stream would hold it)."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    hub = console_of(request).live
    if not hub.available:
        return Response(status_code=204)  # an EventSource stops trying on 204

    async def stream() -> AsyncIterator[bytes]:
        listener = hub.listen_to(live.NETWORK)
        loop = asyncio.get_running_loop()
        try:
            yield live.preamble()
            async with factory() as db:
                yield live.sse({"event": "snapshot", **await draw(db)})
            sent = loop.time()
            deadline = sent + live.STREAM_SECONDS
            due: float | None = None
            while True:
                message = await listener.next(deadline if due is None else min(due, deadline))
                if listener.ended:
                    return
                now = loop.time()
                if message is not None and due is None and matters(message):
                    due = max(now + SETTLE_SECONDS, sent + GAP_SECONDS)
                if due is not None and now >= due:
                    async with factory() as db:
                        yield live.sse({"event": "update", **await draw(db)})
                    sent, due = loop.time(), None
                elif message is None and now >= deadline:
                    return  # the browser reconnects and starts from a fresh snapshot
        finally:
            hub.forget(listener)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --- /status: the network status board ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoardFilters:
    site: str = ""
    state: str = ""
    q: str = ""
    after: str = ""

    @property
    def site_id(self) -> int | None:
        return optional_id(self.site, "a site")

    def checked(self) -> BoardFilters:
        """Refuse what the board cannot be filtered by (before a stream starts)."""
        self.site_id  # noqa: B018 (it raises for a site that is not an id)
        if self.state and self.state not in health.BOARD_STATES:
            raise InvalidInput(f"state must be one of: {', '.join(health.BOARD_STATES)}")
        return self

    @property
    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.as_dict().items() if v}

    def as_dict(self) -> dict[str, str]:
        return {"site": self.site, "state": self.state, "q": self.q, "after": self.after}

    @property
    def narrowed(self) -> bool:
        return bool(self.site or self.state or self.q)


async def _board(db: AsyncSession, filters: BoardFilters) -> dict[str, Any]:
    site_id = filters.site_id
    rows = await health.board(
        db,
        site_id=site_id,
        state=filters.state,
        text=filters.q,
        after=filters.after or None,
        limit=BOARD_PAGE + 1,
    )
    shown = rows[:BOARD_PAGE]
    return {
        "counts": await health.overview(db, site_id=site_id),
        "rows": shown,
        "next_after": shown[-1].station.id if len(rows) > BOARD_PAGE else None,
    }


@router.get("/status")
async def status_board(
    request: Request,
    db: DbSession,
    viewer: Reader,
    site: str = "",
    state: str = "",
    q: str = "",
    after: str = "",
) -> Response:
    filters = BoardFilters(site.strip(), state.strip(), q.strip(), after.strip()).checked()
    if filters.site_id is not None:
        await sites.require_site(db, filters.site_id)
    board = await _board(db, filters)
    return render(
        request,
        "status.html",
        title="Network status",
        filters=filters,
        states=health.BOARD_STATES,
        site_choices=await _site_choices(db),
        live_available=console_of(request).live.available,
        **board,
    )


@router.get("/status/live")
async def status_live(
    request: Request,
    viewer: Reader,
    site: str = "",
    state: str = "",
    q: str = "",
    after: str = "",
) -> Response:
    filters = BoardFilters(site.strip(), state.strip(), q.strip(), after.strip()).checked()
    macros = _macros(request)

    async def draw(db: AsyncSession) -> live.Message:
        board = await _board(db, filters)
        now = utcnow()
        return {
            "counts": str(macros.status_counts(board["counts"], filters)),
            "rows": [
                {"key": r.station.id, "html": str(macros.status_row(r, now))} for r in board["rows"]
            ],
        }

    return _live(request, lambda m: m["event"] in BOARD_EVENTS, draw)


# --- /faults: the fault list ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FaultFilters:
    state: str = "open"
    station_id: str = ""
    code: str = ""
    since: str = ""
    before: str = ""

    def checked(self) -> FaultFilters:
        if self.state not in FAULT_STATES:
            raise InvalidInput(f"show: one of {', '.join(FAULT_STATES)}")
        if self.before and not self.before.isdigit():
            raise InvalidInput("before: not a fault number")
        for name, value in (("station", self.station_id), ("code", self.code)):
            if len(value) > 100:
                raise InvalidInput(f"{name}: at most 100 characters")
        form_time(self.since, "since")
        return self

    @classmethod
    def of(cls, values: Mapping[str, str]) -> FaultFilters:
        return cls(
            values.get("state", "").strip() or "open",
            values.get("station_id", "").strip(),
            values.get("code", "").strip(),
            values.get("since", "").strip(),
            values.get("before", "").strip(),
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "state": self.state,
            "station_id": self.station_id,
            "code": self.code,
            "since": self.since,
            "before": self.before,
        }

    @property
    def query(self) -> dict[str, str]:
        """What the address says (the default, open faults, left out)."""
        return {k: v for k, v in self.as_dict().items() if v and (k, v) != ("state", "open")}

    @property
    def narrowed(self) -> bool:
        return bool(self.station_id or self.code or self.since or self.state != "open")

    def matches(self, message: live.Message) -> bool:
        """Whether a live event may change this list."""
        if message["event"] != "fault":
            return False
        return not self.station_id or message.get("station_id") == self.station_id


async def _fault_rows(db: AsyncSession, filters: FaultFilters) -> dict[str, Any]:
    rows = await health.faults_of(
        db,
        station_id=filters.station_id or None,
        open_only=filters.state == "open",
        cleared_only=filters.state == "cleared",
        code=filters.code or None,
        since=form_time(filters.since, "since"),
        before_id=int(filters.before) if filters.before else None,
        limit=FAULT_PAGE + 1,
    )
    shown = rows[:FAULT_PAGE]
    return {"faults": shown, "next_before": shown[-1].id if len(rows) > FAULT_PAGE else None}


@router.get("/faults")
async def fault_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    state: str = "open",
    station_id: str = "",
    code: str = "",
    since: str = "",
    before: str = "",
    done: str = "",
) -> Response:
    filters = FaultFilters.of(
        {"state": state, "station_id": station_id, "code": code, "since": since, "before": before}
    )
    error = None
    found: dict[str, Any] = {"faults": [], "next_before": None}
    try:
        found = await _fault_rows(db, filters.checked())
    except InvalidInput as exc:
        error = sentence(exc.detail)
    return render(
        request,
        "faults.html",
        title="Faults",
        http_status=422 if error else 200,
        filters=filters,
        states=FAULT_STATES,
        error=error,
        notice=notice(done, NOTICES),
        may_manage=viewer.principal.may(Permission.MONITORING_MANAGE),
        back=urlencode(filters.query),
        live_available=console_of(request).live.available and error is None,
        **found,
    )


@router.get("/faults/live")
async def faults_live(
    request: Request,
    viewer: Reader,
    state: str = "open",
    station_id: str = "",
    code: str = "",
    since: str = "",
    before: str = "",
) -> Response:
    filters = FaultFilters.of(
        {"state": state, "station_id": station_id, "code": code, "since": since, "before": before}
    ).checked()
    macros = _macros(request)
    may_manage = viewer.principal.may(Permission.MONITORING_MANAGE)
    back = urlencode(filters.query)

    async def draw(db: AsyncSession) -> live.Message:
        found = await _fault_rows(db, filters)
        now = utcnow()
        return {
            "rows": [
                {"key": str(f.id), "html": str(macros.fault_row(f, now, viewer, may_manage, back))}
                for f in found["faults"]
            ]
        }

    return _live(request, filters.matches, draw)


@router.post("/faults/{fault_id}/clear")
async def clear_fault(fault_id: int, request: Request, viewer: Manager) -> Response:
    """Close a fault the station will not close itself (as POST
    /api/v1/monitoring/faults/{id}/clear), then back to the list as it was filtered."""
    form = await form_of(request)
    back = FaultFilters.of(dict(parse_qsl(field(form, "back"))))
    by = viewer.principal.name

    async def unit(w: Work) -> bool:
        row = await w.session.get(Fault, fault_id)
        if row is None:
            raise NotFound(f"fault {fault_id} does not exist")
        was_open = row.cleared_at is None
        await faults.clear_by_operator(w, fault_id, by=by, at=utcnow())
        return was_open

    done = "cleared" if await write(request, unit) else "already"
    return see_other("/faults?" + urlencode({**back.query, "done": done}))


# --- a station's timeline -----------------------------------------------------------------


def _incident_entries(
    rows: Sequence[Incident], since: datetime, until: datetime
) -> list[timeline.Entry]:
    """Incidents alerting opened and resolved for the station, as timeline entries (the
    monitoring timeline cannot read them: alerting sits above monitoring)."""
    entries: list[timeline.Entry] = []
    for row in rows:
        evse = row.evse_id or None
        if since <= row.opened_at < until:
            entries.append(
                timeline.Entry(
                    row.opened_at,
                    INCIDENT,
                    "Incident",
                    f"Incident #{row.id} opened ({row.severity}): {row.title}",
                    "down",
                    evse,
                    None,
                    row.id,
                )
            )
        if row.resolved_at is not None and since <= row.resolved_at < until:
            by = f" by {row.resolved_by}" if row.resolved_by else ""
            entries.append(
                timeline.Entry(
                    row.resolved_at,
                    INCIDENT,
                    "Incident resolved",
                    f"Incident #{row.id} resolved{by}",
                    "up",
                    evse,
                    None,
                    row.id,
                )
            )
    return sorted(entries, key=lambda e: e.at, reverse=True)


@router.get("/stations/{station_id}/timeline")
async def station_timeline(
    station_id: str,
    request: Request,
    db: DbSession,
    viewer: Reader,
    window: str = "7d",
    since: str = "",
    until: str = "",
    kind: str = "",
) -> Response:
    station = await stations.require_station(db, station_id)
    chosen = _window(window, since, until)
    see_incidents = viewer.principal.may(Permission.INCIDENTS_READ)
    kinds = dict(timeline.KINDS)
    if see_incidents:
        kinds[INCIDENT] = "Incidents"
    kind = kind.strip()
    error = None
    found: timeline.Timeline | None = None
    uptime: availability.StationUptime | None = None
    entries: list[timeline.Entry] = []
    try:
        if kind and kind not in kinds:
            raise InvalidInput(f"show: one of {', '.join(kinds)}")
        start, end = chosen.period(utcnow())
        if kind != INCIDENT:
            found = await timeline.station_timeline(
                db,
                station.id,
                since=start,
                until=end,
                kinds=[kind] if kind else (),
                limit=TIMELINE_LIMIT,
            )
            entries = found.entries
        if see_incidents and kind in ("", INCIDENT):
            listed = await incidents.listed(db, station_id=station.id, limit=TIMELINE_LIMIT)
            more = _incident_entries(listed, start, end)
            entries = timeline.newest_first([entries, more], TIMELINE_LIMIT)
        uptime = await availability.station_uptime(db, station.id, Interval(start, end))
    except InvalidInput as exc:
        error = sentence(exc.detail)
    return render(
        request,
        "timeline.html",
        title=f"Timeline of {station.id}",
        http_status=422 if error else 200,
        station=station,
        window=chosen,
        windows=WINDOWS,
        kinds=kinds,
        kind_words=KIND_WORDS,
        kind=kind,
        entries=entries,
        truncated=found is not None and found.truncated,
        limit=TIMELINE_LIMIT,
        uptime=uptime,
        error=error,
        see_incidents=see_incidents,
        may_manage=viewer.principal.may(Permission.MONITORING_MANAGE),
    )


@router.get("/stations/{station_id}/uptime-line")
async def uptime_line(station_id: str, request: Request, db: DbSession, viewer: Reader) -> Response:
    """The station page's line on its uptime over the last 7 days (the page fetches it:
    its own view knows nothing of monitoring)."""
    station = await stations.require_station(db, station_id)
    now = utcnow()
    found = await availability.station_uptime(db, station.id, Interval(now - WINDOWS["7d"][1], now))
    html = _macros(request).uptime_line(station, found.overall)
    return Response(str(html), media_type="text/html")


# --- /uptime --------------------------------------------------------------------------------


@router.get("/uptime")
async def uptime_page(
    request: Request,
    db: DbSession,
    viewer: Reader,
    window: str = "7d",
    since: str = "",
    until: str = "",
    by: str = "station",
    site: str = "",
    after: str = "",
) -> Response:
    """Uptime by 23 CFR 680.116(b), per station (its ports in a fold) or per site.
    Figures are computed on request from the stored timelines, a page at a time: a
    30-day window over a page of stations reads every status report they sent in it."""
    chosen = _window(window, since, until)
    site_id = optional_id(site.strip(), "a site")
    chosen_site = await sites.require_site(db, site_id) if site_id is not None else None
    if by not in ("station", "site"):
        raise InvalidInput("by: station or site")
    error = None
    rows: list[Any] = []
    site_total = None
    next_after: str | int | None = None
    try:
        start, end = chosen.period(utcnow())
        period = Interval(start, end)
        if by == "site":
            found_sites = await availability.sites_uptime(
                db,
                period,
                after=optional_id(after, "a site"),
                limit=SITE_UPTIME_PAGE + 1,
            )
            rows = found_sites[:SITE_UPTIME_PAGE]
            if len(found_sites) > SITE_UPTIME_PAGE:
                next_after = rows[-1].site.id
        else:
            found_stations = await availability.stations_uptime(
                db, period, site_id=site_id, after=after or None, limit=UPTIME_PAGE + 1
            )
            rows = found_stations[:UPTIME_PAGE]
            if len(found_stations) > UPTIME_PAGE:
                next_after = rows[-1][0].id
            if site_id is not None:
                site_total, _ = await availability.site_uptime(db, site_id, period)
    except InvalidInput as exc:
        error = sentence(exc.detail)
    names = await queries.site_names(db, [s.site_id for s, _ in rows]) if by == "station" else {}
    return render(
        request,
        "uptime.html",
        title="Uptime",
        http_status=422 if error else 200,
        window=chosen,
        windows=WINDOWS,
        by=by,
        site=chosen_site,
        site_choices=await _site_choices(db),
        site_names=names,
        rows=rows,
        site_total=site_total,
        paged=bool(after),
        next_after=next_after,
        error=error,
    )


# --- /exclusions: declared outages ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutageForm:
    """The form to declare an outage, as shown or as sent back (all text)."""

    station_id: str = ""
    site: str = ""
    evse: str = ""
    cause: str = "maintenance"
    starts: str = ""
    ends: str = ""
    note: str = ""

    def values(self) -> dict[str, Any]:
        """What the exclusions service is given; it says what is wrong with them."""
        evse_id: int | None = None
        if self.evse:
            try:
                evse_id = int(self.evse)
            except ValueError:
                raise InvalidInput(f"port: {self.evse!r} is not a number") from None
        starts_at = form_time(self.starts, "from")
        ends_at = form_time(self.ends, "until")
        if starts_at is None or ends_at is None:
            raise InvalidInput("give when the outage starts and when it ends (UTC)")
        return {
            "station_id": self.station_id or None,
            "site_id": optional_id(self.site, "a site"),
            "evse_id": evse_id,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "cause": self.cause,
            "note": self.note or None,
        }


async def _exclusions_page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    *,
    station_id: str = "",
    site: str = "",
    form: OutageForm | None = None,
    notice_text: str | None = None,
    error: str | None = None,
    http_status: int = 200,
) -> Response:
    rows: list[OutageExclusion] = []
    list_error = None
    try:
        rows = await exclusions.listed(
            db, station_id=station_id or None, site_id=optional_id(site, "a site")
        )
    except (InvalidInput, NotFound) as exc:
        list_error = sentence(exc.detail)
    choices = await _site_choices(db)
    names = {s.id: s.name for s in choices}
    now = utcnow()
    if form is None:
        start = now.replace(second=0, microsecond=0)
        form = OutageForm(
            station_id=station_id,
            site=site if not station_id else "",
            starts=_form_time(start),
            ends=_form_time(start + timedelta(hours=2)),
        )
    return render(
        request,
        "exclusions.html",
        title="Declared outages",
        http_status=http_status if list_error is None else 422,
        rows=rows,
        station_id=station_id,
        site=site,
        site_names=names,
        site_choices=choices,
        station_choices=await queries.station_ids(db),
        causes=exclusions.CAUSES,
        form=form,
        notice=notice_text,
        error=error or list_error,
        may_manage=viewer.principal.may(Permission.MONITORING_MANAGE),
        back=urlencode({k: v for k, v in (("station_id", station_id), ("site", site)) if v}),
    )


@router.get("/exclusions")
async def exclusion_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    station_id: str = "",
    site: str = "",
    done: str = "",
) -> Response:
    return await _exclusions_page(
        request,
        db,
        viewer,
        station_id=station_id.strip(),
        site=site.strip(),
        notice_text=notice(done, NOTICES),
    )


@router.post("/exclusions")
async def declare_outage(request: Request, db: DbSession, viewer: Manager) -> Response:
    posted = await form_of(request)
    form = OutageForm(
        field(posted, "station_id"),
        field(posted, "site"),
        field(posted, "evse"),
        field(posted, "cause"),
        field(posted, "starts"),
        field(posted, "ends"),
        field(posted, "note"),
    )
    back = dict(parse_qsl(field(posted, "back")))
    by = viewer.principal.name
    try:
        values = form.values()

        async def unit(w: Work) -> int:
            row = await exclusions.declare(w, **values, by=by, at=utcnow())
            return row.id

        await write(request, unit)
    except (InvalidInput, NotFound) as exc:
        return await _exclusions_page(
            request,
            db,
            viewer,
            station_id=back.get("station_id", ""),
            site=back.get("site", ""),
            form=form,
            error=sentence(exc.detail),
            http_status=422,
        )
    return see_other("/exclusions?" + urlencode({**_known(back), "done": "declared"}))


@router.post("/exclusions/{exclusion_id}/withdraw")
async def withdraw_outage(exclusion_id: int, request: Request, viewer: Manager) -> Response:
    back = dict(parse_qsl(field(await form_of(request), "back")))

    async def unit(w: Work) -> None:
        await exclusions.withdraw(w, exclusion_id)

    await write(request, unit)
    return see_other("/exclusions?" + urlencode({**_known(back), "done": "withdrawn"}))


def _known(query: Mapping[str, str]) -> dict[str, str]:
    """Of a list's filters sent back by a form, those the list knows (and nothing else
    goes into the address redirected to)."""
    return {k: v for k, v in query.items() if k in ("station_id", "site") and v}
