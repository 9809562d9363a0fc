"""The frame every console page is drawn in, and the rules every page follows.

A page is a route on a router from :func:`console_router`. Such a route needs a login
(else the browser goes to ``/login?next=...``), checks the CSRF token of every form it
is posted, and turns errors into pages in words (403, 404...) inside the frame. The page
names the permission it needs with ``viewer: Annotated[Viewer, page(Permission.X)]``;
the navigation shows an entry only to those whose roles grant its permission, and the
page checks it again on the server, so a hidden link is never the only guard.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from chargeops import __version__
from chargeops.bus import Bus
from chargeops.core.access import Permission, Principal, Scope
from chargeops.core.clock import utcnow
from chargeops.core.errors import ChargeOpsError, Forbidden, Unauthorized
from chargeops.web.auth import SAFE_METHODS, Signins, Viewer, check_csrf, settle_cookies, viewer_of
from chargeops.web.formatting import FILTERS, duration
from chargeops.web.live import LiveHub

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_URL = "/static"

# Everything comes from chargeops itself: no CDN, no inline script or style.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True, slots=True)
class NavEntry:
    """One entry of the navigation: shown to those whose roles grant ``permission``
    (None: to everyone signed in)."""

    label: str
    path: str
    permission: Permission | None = None
    own_label: str | None = None  # for those who see only their own records ("My cards")
    # shown only to those whose scope of ``permission`` reaches this far (a page that
    # adds up many people's records means nothing to one who sees only their own)
    min_scope: Scope | None = None
    organization_label: str | None = None  # for those who see their organization's

    def visible_to(self, principal: Principal) -> bool:
        if self.permission is None:
            return True
        scope = principal.scope(self.permission)
        if scope is None:
            return False
        return self.min_scope is None or scope >= self.min_scope

    def label_for(self, principal: Principal) -> str:
        scope = principal.scope(self.permission) if self.permission is not None else None
        if self.own_label is not None and scope is Scope.OWN:
            return self.own_label
        if self.organization_label is not None and scope is Scope.ORGANIZATION:
            return self.organization_label
        return self.label

    def is_current(self, path: str) -> bool:
        if self.path == "/":
            return path == "/"
        return path == self.path or path.startswith(self.path + "/")


class Console:
    """What the console keeps for the life of the app: templates, navigation, logins
    and live streams."""

    def __init__(self, nav: Iterable[NavEntry], bus: Bus | None) -> None:
        self.nav = tuple(nav)
        self.signins = Signins()
        self.live = LiveHub(bus)
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html", "svg"], default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(FILTERS)
        self.templates.globals["static"] = self.static_url
        self.templates.globals["duration"] = duration
        self._asset_version = _asset_version()

    def static_url(self, name: str) -> str:
        """An asset's URL, with a version that changes with the assets (cache busting)."""
        return f"{STATIC_URL}/{name}?v={self._asset_version}"

    def nav_for(self, viewer: Viewer | None, path: str) -> list[dict[str, Any]]:
        if viewer is None:
            return []
        return [
            {"label": e.label_for(viewer.principal), "path": e.path, "current": e.is_current(path)}
            for e in self.nav
            if e.visible_to(viewer.principal)
        ]


def _asset_version() -> str:
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def render(
    request: Request,
    template: str,
    *,
    title: str,
    http_status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page in the frame: the navigation its viewer may use, their name, logout."""
    console = console_of(request)
    viewer: Viewer | None = getattr(request.state, "console_viewer", None)
    html = console.templates.get_template(template).render(
        title=title,
        viewer=viewer,
        nav=console.nav_for(viewer, request.url.path),
        path=request.url.path,
        now=utcnow(),
        **context,
    )
    return HTMLResponse(html, status_code=http_status)


def render_fragment(request: Request, template: str, **context: Any) -> HTMLResponse:
    """Part of a page (a section a live page reloads), without the frame."""
    html = console_of(request).templates.get_template(template).render(now=utcnow(), **context)
    return HTMLResponse(html)


def error_page(request: Request, status: int, title: str, detail: str) -> Response:
    if _wants_data(request):
        return PlainTextResponse(detail, status_code=status)
    return render(
        request, "error.html", title=title, http_status=status, status_code=status, detail=detail
    )


def _wants_data(request: Request) -> bool:
    """A live stream or a script's fetch, not a person: no page, no redirect."""
    accept = request.headers.get("accept", "")
    return "text/event-stream" in accept or request.headers.get("x-requested-with") == "console"


def login_redirect(request: Request) -> Response:
    if _wants_data(request):
        return PlainTextResponse("log in again", status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = urlencode({"next": target}) if request.method == "GET" and target != "/" else ""
    return RedirectResponse("/login" + (f"?{query}" if query else ""), status_code=303)


def harden(response: Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")


def page(permission: Permission | None = None) -> Any:
    """A page's declaration of what it needs: ``Annotated[Viewer, page(P.X)]``."""

    async def check(request: Request) -> Viewer:
        viewer = await viewer_of(request)
        if permission is not None and not viewer.principal.may(permission):
            raise Forbidden(
                f"your roles ({viewer.roles or 'none'}) do not include {permission.value}, "
                "which this page needs. Ask an administrator if you should have it."
            )
        return viewer

    return Depends(check)


_TITLES = {403: "Not allowed", 404: "Not found", 422: "Cannot show this"}

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ConsoleRoute(APIRoute):
    """A console page: login required, CSRF-checked forms, errors as pages."""

    login_required = True

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        login_required = self.login_required

        async def run(request: Request) -> Response:
            try:
                if login_required:
                    viewer = await viewer_of(request)
                    if request.method not in SAFE_METHODS:
                        await check_csrf(request, viewer)
                response = await handler(request)
            except Unauthorized:
                response = login_redirect(request)
            except ChargeOpsError as exc:
                if exc.status >= 500:
                    log.error("console page failed: %s", exc.detail)
                title = _TITLES.get(exc.status, exc.title)
                response = error_page(request, exc.status, title, sentence(exc.detail))
            except RequestValidationError as exc:
                response = _invalid(request, exc)
            except Exception:
                log.exception("console page failed on %s %s", request.method, request.url.path)
                response = error_page(
                    request,
                    500,
                    "Something went wrong",
                    "An unexpected error occurred; it has been logged. Try again, or tell "
                    "the people who run chargeops if it keeps happening.",
                )
            settle_cookies(request, response)
            harden(response)
            return response

        return run


class PublicRoute(ConsoleRoute):
    """A console page anyone may open (the login page): it checks its own form."""

    login_required = False


def console_router(*, public: bool = False) -> APIRouter:
    return APIRouter(route_class=PublicRoute if public else ConsoleRoute, include_in_schema=False)


def _invalid(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    if any(e.get("loc", ("",))[0] == "path" for e in errors):
        return error_page(request, 404, "Not found", "There is no such page.")
    where = ", ".join(str(e.get("loc", ("", "?"))[-1]) for e in errors)
    return error_page(
        request, 422, "Invalid input", f"This page cannot be shown with that {where}: check it."
    )


def sentence(text: str) -> str:
    """A service's message as a sentence on a page: capitalized, with its full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
