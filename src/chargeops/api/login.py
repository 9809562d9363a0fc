"""``/api/v1/auth``: log in (OAuth2 password flow), refresh, log out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from chargeops.api.auth import PrincipalCache, authenticate, session_key
from chargeops.core.access import Principal
from chargeops.core.errors import InvalidInput
from chargeops.storage.http import DbSession
from chargeops.storage.writer import GroupCommitWriter
from chargeops.users import accounts, login

router = APIRouter(prefix="/api/v1/auth", tags=["login"])


class TokensOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds the access token is good for")
    refresh_token: str = Field(description="POST it to /api/v1/auth/refresh for new tokens")


class RefreshIn(BaseModel):
    refresh_token: str


class MeOut(BaseModel):
    user_id: int | None
    name: str
    organization_id: int | None
    roles: list[str]
    permissions: list[str]


def _tokens(tokens: login.Tokens) -> TokensOut:
    return TokensOut(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
    )


@router.post("/login", response_model=TokensOut, summary="Log in with email and password")
async def log_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, db: DbSession
) -> TokensOut:
    writer: GroupCommitWriter = request.app.state.writer
    user = await accounts.authenticate(db, writer, form.username, form.password)
    return _tokens(await login.start(writer, request.app.state.secret_key, user))


@router.post("/refresh", response_model=TokensOut, summary="New tokens for a refresh token")
async def refresh(body: RefreshIn, request: Request) -> TokensOut:
    writer: GroupCommitWriter = request.app.state.writer
    return _tokens(await login.refresh(writer, request.app.state.secret_key, body.refresh_token))


@router.post("/logout", status_code=204, summary="End this login (its tokens stop working)")
async def log_out(
    request: Request, principal: Annotated[Principal, Depends(authenticate)]
) -> Response:
    session_id: int | None = getattr(request.state, "login_session_id", None)
    if session_id is None:
        raise InvalidInput("an API key does not log out; revoke it instead")
    await login.end(request.app.state.writer, session_id)
    cache: PrincipalCache = request.app.state.principal_cache
    cache.drop(session_key(session_id))
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, summary="Who the caller is and what they may do")
async def me(principal: Annotated[Principal, Depends(authenticate)]) -> MeOut:
    return MeOut(
        user_id=principal.user_id or None,
        name=principal.name,
        organization_id=principal.organization_id,
        roles=sorted(principal.roles),
        permissions=sorted(principal.permissions),
    )
