"""The web console at ``/``: server-rendered pages for staff and drivers.

Pages are Jinja2 templates drawn by FastAPI routes (views/, one module per area), with
a little JavaScript of our own for the live pages (Server-Sent Events) and the phone
menu; every asset is served from ``/static`` by chargeops itself.

To add a page: a module in views/ with a ``router = console_router()`` whose routes
name the permission they need (``viewer: Annotated[Viewer, page(Permission.X)]``) and
draw it with ``render(request, "x.html", title=..., ...)``, and a ``NAV`` tuple of
:class:`NavEntry` (label, path, permission, and optionally the label for those who see
only their own records, "My cards"); a template in templates/ that extends
``base.html``; and the module in :data:`VIEWS` below (its place there is its place in
the navigation). Login, CSRF and error pages come with the router: a form that posts
carries ``<input type="hidden" name="csrf" value="{{ viewer.csrf }}">``, and a service's
NotFound, Forbidden or InvalidInput becomes a page that says so. A page that changes
something writes through the server's writer (views/common.py ``write``), answers a
refusal by drawing its form again with the service's words, and otherwise redirects
(303) to the page that shows the outcome.
"""

from __future__ import annotations

from types import ModuleType

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from chargeops.web.frame import STATIC, STATIC_URL, Console, error_page, harden
from chargeops.web.views import (
    alert_rules,
    cdrs,
    health,
    incidents,
    invoices,
    login,
    messages,
    notifications,
    overview,
    revenue,
    sessions,
    sites,
    stations,
    tariffs,
    tokens,
    users,
)

# what is broken and who is on it first (Status, Faults, Incidents); billing after the
# network: Tariffs, CDRs ("My charges" for a driver), Invoices ("Receipts" for a driver),
# Revenue ("Spend" for a fleet); settings last (Alert rules, everyone's Notifications)
VIEWS: tuple[ModuleType, ...] = (
    overview,
    health,
    incidents,
    stations,
    sessions,
    tokens,
    sites,
    users,
    tariffs,
    cdrs,
    invoices,
    revenue,
    messages,
    alert_rules,
    notifications,
)

# paths that answer machines, never with a page
_NOT_PAGES = ("/api/", "/uploads/", "/docs", "/openapi.json", "/health", "/metrics")


def install(app: FastAPI) -> None:
    """Mount the console's pages and assets on ``app`` (the API is already mounted)."""
    console = Console([entry for view in VIEWS for entry in view.NAV], app.state.bus)
    app.state.console = console
    app.mount(STATIC_URL, StaticFiles(directory=STATIC), name="console-static")
    app.include_router(login.router)
    app.include_router(login.signed_in)
    for view in VIEWS:
        app.include_router(view.router)
    _pages_for_people(app)


def shutdown(app: FastAPI) -> None:
    """End the console's live streams now (call before stopping the HTTP server, which
    waits for open responses; without it a stream ends within live.STREAM_SECONDS)."""
    console: Console | None = getattr(app.state, "console", None)
    if console is not None:
        console.live.close()


def _pages_for_people(app: FastAPI) -> None:
    """A browser that asks for a page that does not exist gets a page that says so;
    the API and everything else keep their problem documents."""
    problem = app.exception_handlers.get(HTTPException)

    async def not_a_page(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        path = request.url.path
        wants_page = "text/html" in request.headers.get("accept", "")
        if wants_page and not path.startswith(_NOT_PAGES) and exc.status_code in (404, 405):
            if exc.status_code == 404:
                response = error_page(
                    request, 404, "Not found", f"There is no page at {path}: check the address."
                )
            else:
                response = error_page(
                    request, 405, "Not allowed", "This page cannot be used that way."
                )
            harden(response)
            return response
        if problem is None:
            raise exc
        result = problem(request, exc)
        return await result if not isinstance(result, Response) else result

    app.add_exception_handler(HTTPException, not_a_page)
