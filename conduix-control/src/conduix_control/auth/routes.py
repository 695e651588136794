"""``/auth``: the login mode, local and OIDC sign-in, the current user, password change and API tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from conduix_control.auth.identity import Identity, current_identity, sign_in
from conduix_control.auth.passwords import hash_password, verify_password
from conduix_control.auth.tokens import create_token, list_tokens, revoke_token, token_dict
from conduix_control.db.models import User

__all__ = ["router"]

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str
    password: str


class PasswordIn(BaseModel):
    current: str
    new: str = Field(min_length=8, description="at least 8 characters")


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["viewer", "editor", "admin", "agent"]


def _auth(request: Request) -> Any:
    return request.app.state.auth


def session(request: Request) -> Iterator[Session]:
    with request.app.state.plane.db.session() as s:
        yield s


@router.get("/config")
def config(request: Request) -> dict[str, Any]:
    """How to sign in: ``local`` (user name and password) or ``oidc`` (GET /auth/login redirects)."""
    settings = _auth(request).settings
    return {"mode": settings.mode, "provider": settings.provider_name}


@router.get("/login", response_model=None)
async def login_redirect(request: Request, next: str | None = None) -> Response:
    """OIDC: redirect to the provider (back to ``next`` afterwards); local mode: to the UI's login page."""
    auth = _auth(request)
    if auth.oidc is None:
        return RedirectResponse("/#/login", status_code=302)
    response: Response = await auth.oidc.login(request, next)
    return response


@router.post("/login")
def login(body: LoginIn, request: Request, s: Session = Depends(session)) -> dict[str, Any]:
    """Local mode: sign in with user name and password (a session cookie)."""
    auth = _auth(request)
    if auth.oidc is not None:
        raise HTTPException(400, detail=f"this control plane signs in with {auth.settings.provider_name}: "
                                        "open /auth/login in a browser (automation: use an API token)")
    user = s.scalars(select(User).where(User.username == body.username, User.source == "local")).first()
    if user is None or not verify_password(body.password, user.password_hash):
        raise HTTPException(401, detail="wrong user name or password")
    user.last_login_at = time.time()
    s.commit()
    sign_in(request, user)
    return {"user": user.username, "role": user.role}


@router.get("/callback", name="auth_callback", response_model=None)
async def callback(request: Request) -> Response:
    """OIDC: the provider sends the browser back here; a session starts and the browser goes to ``next``."""
    auth = _auth(request)
    if auth.oidc is None:
        raise HTTPException(404, detail="no OIDC provider is configured (CONDUIX_CONTROL_OIDC_DISCOVERY_URL)")
    response: Response = await auth.oidc.callback(request)
    return response


@router.post("/logout", status_code=204)
def logout(request: Request) -> Response:
    request.session.clear()
    return Response(status_code=204)


@router.get("/me")
def me(identity: Identity = Depends(current_identity)) -> dict[str, Any]:
    return identity.as_dict()


@router.post("/password", status_code=204)
def change_password(body: PasswordIn, request: Request, identity: Identity = Depends(current_identity),
                    s: Session = Depends(session)) -> Response:
    """A signed-in local user changes their password; their other sessions end."""
    if identity.via != "session" or identity.source != "local":
        raise HTTPException(400, detail="only a signed-in local user has a password here "
                                        "(OIDC users change theirs at the provider; tokens have none)")
    user = s.get(User, identity.user_id)
    if user is None or not verify_password(body.current, user.password_hash):
        raise HTTPException(400, detail="the current password is wrong")
    user.password_hash = hash_password(body.new)
    s.commit()
    sign_in(request, user)
    return Response(status_code=204)


@router.get("/tokens")
def get_tokens(s: Session = Depends(session)) -> list[dict[str, Any]]:
    return [token_dict(t) for t in list_tokens(s)]


@router.post("/tokens", status_code=201)
def post_token(body: TokenIn, identity: Identity = Depends(current_identity),
               s: Session = Depends(session)) -> dict[str, Any]:
    """A new token; its secret ``token`` is in this answer only."""
    row, text = create_token(s, body.name, body.role, created_by=identity.user)
    return {**token_dict(row), "token": text}


@router.delete("/tokens/{token_id}", status_code=204)
def delete_token(token_id: int, s: Session = Depends(session)) -> Response:
    revoke_token(s, token_id)
    return Response(status_code=204)
