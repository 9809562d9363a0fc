"""Who is looking at the console: a login kept in cookies, and the forms it may post.

A console login is the same login session as ``/api/v1/auth/login`` gives, carried in
two HttpOnly, SameSite=Lax cookies instead of a header: the short-lived access token,
and the refresh token that silently replaces it when it expires (both cookies are
rotated then). The caller resolves to the same :class:`Principal` the API would make,
through the API's principal cache, so a logout anywhere ends the console's view too.

Forms that change anything carry a CSRF token: an HMAC of the login session id under the
server's secret key, so it needs no storage and dies with the login. The login form,
posted before there is a session, is tied the same way to a random pre-login cookie.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.api.auth import PrincipalCache, session_key
from chargeops.core.access import Principal, parse_roles
from chargeops.core.errors import Forbidden, Unauthorized
from chargeops.storage.writer import GroupCommitWriter
from chargeops.users import login
from chargeops.users.models import User

ACCESS_COOKIE = "chargeops_access"
REFRESH_COOKIE = "chargeops_refresh"
LOGIN_COOKIE = "chargeops_login"  # ties the login form to the browser that loaded it
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A refresh token just used still gives the tokens it was exchanged for, this long: a
# page and its live stream that both find the access token expired must not log out.
REFRESH_GRACE_S = 20.0


@dataclass(frozen=True, slots=True)
class Viewer:
    """A person signed in to the console."""

    principal: Principal
    session_id: int  # the login session: what logging out ends
    name: str  # how the console greets them
    csrf: str  # the token their forms carry

    @property
    def roles(self) -> str:
        return ", ".join(sorted(r.value.replace("_", " ") for r in self.principal.roles))


def _mac(secret: str, purpose: str, value: str) -> str:
    message = f"chargeops-console:{purpose}:{value}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def csrf_token(secret: str, session_id: int) -> str:
    return _mac(secret, "csrf", str(session_id))


def login_form_token(secret: str, nonce: str) -> str:
    return _mac(secret, "login", nonce)


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site, never another site (an open
    redirect would let a link to our login page send people anywhere)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
        or parts.path.startswith(("/login", "/logout"))
    ):
        return "/"
    return target


class Refresher:
    """Trades refresh tokens for new tokens, once per token: requests that arrive
    together with the same expired login share one rotation (and one new pair of
    cookies) instead of the second being logged out by the first."""

    def __init__(self) -> None:
        self._recent: dict[str, tuple[float, login.Tokens]] = {}
        self._running: dict[str, asyncio.Task[login.Tokens]] = {}

    async def refresh(self, writer: GroupCommitWriter, secret: str, token: str) -> login.Tokens:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        hit = self._recent.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(self._rotate(key, writer, secret, token))
            task.add_done_callback(_retrieved)
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(task)

    async def _rotate(
        self, key: str, writer: GroupCommitWriter, secret: str, token: str
    ) -> login.Tokens:
        tokens = await login.refresh(writer, secret, token)
        now = time.monotonic()
        if len(self._recent) > 256:
            self._recent = {k: v for k, v in self._recent.items() if v[0] > now}
        self._recent[key] = (now + REFRESH_GRACE_S, tokens)  # before anyone else may ask
        return tokens


def _retrieved(task: asyncio.Task[login.Tokens]) -> None:
    # whoever started it may have gone (a closed tab): its outcome is not an error to log
    if not task.cancelled():
        task.exception()


class Signins:
    """What the console keeps per process about logins: display names and refreshes."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.refresher = Refresher()

    def remember_name(self, user: User) -> None:
        if len(self.names) > 10_000:
            self.names.clear()
        self.names[user.id] = user.name or user.email


async def principal_of_access_token(
    secret: str,
    cache: PrincipalCache,
    sessions: async_sessionmaker[AsyncSession],
    token: str,
    *,
    on_user: Signins | None = None,
) -> tuple[Principal, int]:
    """The principal of an access token and its login session id, exactly as the API
    resolves a bearer access token (api/auth.py), through the same cache; Unauthorized
    for a token that is expired, forged, logged out or of a disabled user."""
    claims = login.read_access_token(secret, token)
    principal = cache.get(session_key(claims.session_id))
    if principal is None:
        async with sessions() as db:
            user = await login.live_session_user(db, claims)
        principal = Principal(user.id, user.organization_id, parse_roles(user.roles), user.email)
        cache.put(session_key(claims.session_id), principal)
        if on_user is not None:
            on_user.remember_name(user)
    return principal, claims.session_id


async def viewer_of(request: Request) -> Viewer:
    """The signed-in person (cached on the request), refreshing an expired access token
    when a refresh token is at hand; Unauthorized when there is no live login."""
    known: Viewer | None = getattr(request.state, "console_viewer", None)
    if known is not None:
        return known
    state = request.app.state
    signins: Signins = state.console.signins
    access = request.cookies.get(ACCESS_COOKIE)
    refresh = request.cookies.get(REFRESH_COOKIE)
    found: tuple[Principal, int] | None = None
    if access:
        try:
            found = await principal_of_access_token(
                state.secret_key, state.principal_cache, state.sessions, access, on_user=signins
            )
        except Unauthorized:
            found = None
    if found is None and refresh:
        try:
            tokens = await signins.refresher.refresh(state.writer, state.secret_key, refresh)
            found = await principal_of_access_token(
                state.secret_key,
                state.principal_cache,
                state.sessions,
                tokens.access_token,
                on_user=signins,
            )
        except Unauthorized:
            found = None
        else:
            request.state.console_tokens = tokens  # the response rotates both cookies
    if found is None:
        request.state.console_clear = bool(access or refresh)
        raise Unauthorized("log in to use the console")
    principal, session_id = found
    name = signins.names.get(principal.user_id)
    if name is None:
        async with state.sessions() as db:
            user = await db.get(User, principal.user_id)
        if user is not None:
            signins.remember_name(user)
        name = user.name if user is not None and user.name else principal.name
    viewer = Viewer(principal, session_id, name, csrf_token(state.secret_key, session_id))
    request.state.console_viewer = viewer
    return viewer


async def check_csrf(request: Request, viewer: Viewer) -> None:
    """Refuse a state-changing request whose form does not carry this login's token."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if not same(given if isinstance(given, str) else None, viewer.csrf):
        raise Forbidden(
            "this form did not come from your console page (or it is from an earlier "
            "login): reload the page and try again"
        )


def _cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def set_login_cookies(response: Response, request: Request, tokens: login.Tokens) -> None:
    _cookie(response, request, ACCESS_COOKIE, tokens.access_token, tokens.expires_in)
    refresh_age = int(login.REFRESH_LIFETIME.total_seconds())
    _cookie(response, request, REFRESH_COOKIE, tokens.refresh_token, refresh_age)


def clear_login_cookies(response: Response, request: Request) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(
            name, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
        )


def set_login_form_cookie(response: Response, request: Request, nonce: str) -> None:
    _cookie(response, request, LOGIN_COOKIE, nonce, 3600)


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def settle_cookies(request: Request, response: Response) -> None:
    """Put on the response what resolving the viewer decided: rotated tokens after a
    refresh, or no login cookies at all once they stopped working (or at logout)."""
    if getattr(request.state, "console_clear", False):
        clear_login_cookies(response, request)
        return
    tokens: login.Tokens | None = getattr(request.state, "console_tokens", None)
    if tokens is not None:
        set_login_cookies(response, request, tokens)
