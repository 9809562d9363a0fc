"""``/login`` and ``/logout``: the console's way in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from chargeops.api.auth import PrincipalCache, session_key
from chargeops.core.errors import TooManyAttempts, Unauthorized
from chargeops.storage.http import DbSession
from chargeops.users import accounts, login
from chargeops.web.auth import (
    LOGIN_COOKIE,
    Viewer,
    login_form_token,
    new_nonce,
    safe_next,
    same,
    set_login_cookies,
    set_login_form_cookie,
    viewer_of,
)
from chargeops.web.frame import console_of, console_router, page, render

router = console_router(public=True)
signed_in = console_router()  # what only a signed-in person may post


def _form(
    request: Request,
    *,
    target: str,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE) or new_nonce()
    response = render(
        request,
        "login.html",
        title="Log in",
        http_status=status,
        next=safe_next(target),
        email=email,
        error=error,
        notice=notice,
        csrf=login_form_token(request.app.state.secret_key, nonce),
    )
    set_login_form_cookie(response, request, nonce)
    return response


@router.get("/login")
async def login_page(request: Request, next: str = "", logged_out: str = "") -> Response:
    try:
        await viewer_of(request)
    except Unauthorized:
        notice = "You have logged out." if logged_out else None
        return _form(request, target=next, notice=notice)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/login")
async def log_in(request: Request, db: DbSession) -> Response:
    form = await request.form()
    email = str(form.get("email") or "").strip()
    password = str(form.get("password") or "")
    target = str(form.get("next") or "")
    secret: str = request.app.state.secret_key
    nonce = request.cookies.get(LOGIN_COOKIE)
    given = form.get("csrf")
    if nonce is None or not same(
        given if isinstance(given, str) else None, login_form_token(secret, nonce)
    ):
        return _form(
            request,
            target=target,
            email=email,
            error="This login form has expired or did not come from this site. "
            "Try again (your browser must accept cookies from this site).",
            status=403,
        )
    if not email or not password:
        return _form(
            request, target=target, email=email, error="Enter your email and password.", status=400
        )
    writer = request.app.state.writer
    try:
        user = await accounts.authenticate(db, writer, email, password)
    except TooManyAttempts as exc:
        detail = exc.detail[0].upper() + exc.detail[1:]
        return _form(request, target=target, email=email, error=f"{detail}.", status=429)
    except Unauthorized:
        return _form(
            request, target=target, email=email, error="Wrong email or password.", status=401
        )
    tokens = await login.start(writer, secret, user)
    console_of(request).signins.remember_name(user)
    response = RedirectResponse(safe_next(target), status_code=303)
    set_login_cookies(response, request, tokens)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@signed_in.post("/logout")
async def log_out(request: Request, viewer: Annotated[Viewer, page()]) -> Response:
    """End the login session: its cookies stop working here and anywhere they were copied."""
    await login.end(request.app.state.writer, viewer.session_id)
    cache: PrincipalCache = request.app.state.principal_cache
    cache.drop(session_key(viewer.session_id))
    request.state.console_clear = True
    return RedirectResponse("/login?logged_out=1", status_code=303)
