"""``/auth``: the login mode, local and OIDC sign-in, the current user, password change and API tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from conduix_control import views
from conduix_control.auth import audit
from conduix_control.auth.identity import Identity, current_identity
from conduix_control.auth.local import ADMIN, forget_password_file
from conduix_control.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_or_pretend
from conduix_control.auth.sessions import end_session, end_user_sessions, session_user, start_session
from conduix_control.auth.throttle import clear_failures, locked_for, record_failure
from conduix_control.auth.tokens import create_token, list_tokens, revoke_token, token_dict
from conduix_control.db.models import MAX_ID, User
from conduix_control.keys import AGENT_ID

__all__ = ["audit_router", "router"]

router = APIRouter(prefix="/auth", tags=["auth"])
audit_router = APIRouter(tags=["audit"])


class LoginIn(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class PasswordIn(BaseModel):
    current: str = Field(max_length=1000)
    new: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1000,
                     description=f"at least {MIN_PASSWORD_LENGTH} characters")


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["viewer", "editor", "admin", "agent"]
    agent_id: str | None = Field(None, max_length=200, pattern=AGENT_ID,
                                 description="Role agent: the one agent id the token works for (default: its name).")
    expires_in_days: float | None = Field(None, gt=0, le=3650,
                                          description="The token stops working this many days from now "
                                                      "(default: when revoked).")


def _auth(request: Request) -> Any:
    return request.app.state.auth


def session(request: Request) -> Iterator[Session]:
    with request.app.state.plane.db.session() as s:
        yield s


@router.get("/config", response_model=views.AuthConfig)
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


def _throttle(s: Session, username: str, request: Request) -> None:
    """429 while ``username`` has had too many failed sign-ins (or password changes) lately."""
    wait = locked_for(s, username, _auth(request).settings)
    if wait > 0:
        audit.record(s, actor=username, action="login_throttled", remote=audit.remote_address(request), status=429)
        s.commit()
        seconds = int(wait) + 1
        raise HTTPException(429, detail=f"too many failed sign-ins for this user name: try again in {seconds} s "
                                        "(an admin can reset the admin password with `conduix control "
                                        "admin-password`)", headers={"Retry-After": str(seconds)})


@router.post("/login")
def login(body: LoginIn, request: Request, s: Session = Depends(session)) -> dict[str, Any]:
    """Local mode: sign in with user name and password (a session cookie).

    After ``CONDUIX_CONTROL_LOGIN_MAX_FAILURES`` failures for one user name within
    ``CONDUIX_CONTROL_LOGIN_LOCKOUT`` seconds, that name is refused with 429 for the rest of that time.
    """
    auth = _auth(request)
    if auth.oidc is not None:
        raise HTTPException(400, detail=f"this control plane signs in with {auth.settings.provider_name}: "
                                        "open /auth/login in a browser (automation: use an API token)")
    remote = audit.remote_address(request)
    _throttle(s, body.username, request)
    user = s.scalars(select(User).where(User.username == body.username, User.source == "local")).first()
    # the same scrypt work whether the user exists or not: the answer's timing tells nothing
    if not verify_or_pretend(body.password, user.password_hash if user is not None else None) or user is None:
        record_failure(s, body.username, remote, auth.settings)
        audit.record(s, actor=body.username, action="login_failed", remote=remote, status=401)
        s.commit()
        raise HTTPException(401, detail="wrong user name or password")
    user.last_login_at = time.time()
    clear_failures(s, user.username)
    audit.record(s, actor=user.username, role=user.role, via="session", action="login", remote=remote, status=200)
    s.commit()
    start_session(request, user)
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
def logout(request: Request, s: Session = Depends(session)) -> Response:
    """End this browser's session on the server: its cookie no longer works, even if copied."""
    user = session_user(request)  # the route is public: a logout without a session is no error
    end_session(request)
    if user is not None:
        audit.record(s, actor=user.username, role=user.role, via="session", action="logout",
                     remote=audit.remote_address(request), status=204)
        s.commit()
    return Response(status_code=204)


@router.get("/me", response_model=views.Me)
def me(identity: Identity = Depends(current_identity)) -> dict[str, Any]:
    return identity.as_dict()


@router.post("/password", status_code=204)
def change_password(body: PasswordIn, request: Request, identity: Identity = Depends(current_identity),
                    s: Session = Depends(session)) -> Response:
    """A signed-in local user changes their password: all their sessions end, this browser gets a new one."""
    if identity.via != "session" or identity.source != "local":
        raise HTTPException(400, detail="only a signed-in local user has a password here "
                                        "(OIDC users change theirs at the provider; tokens have none)")
    user = s.get(User, identity.user_id)
    remote = audit.remote_address(request)
    _throttle(s, identity.user, request)  # a stolen session must not guess the password either
    if user is None or not verify_or_pretend(body.current, user.password_hash):
        record_failure(s, identity.user, remote, _auth(request).settings)
        audit.record(s, actor=identity.user, role=identity.role, via="session", action="password_change_failed",
                     remote=remote, status=400)
        s.commit()
        raise HTTPException(400, detail="the current password is wrong")
    user.password_hash = hash_password(body.new)
    end_user_sessions(s, user.id)
    audit.record(s, actor=identity.user, role=identity.role, via="session", action="password_changed",
                 remote=remote, status=204)
    s.commit()
    start_session(request, user)
    if user.username == ADMIN:
        forget_password_file(_auth(request).settings.admin_password_file)
    return Response(status_code=204)


@router.get("/tokens", response_model=list[views.ApiToken])
def get_tokens(s: Session = Depends(session)) -> list[dict[str, Any]]:
    return [token_dict(t) for t in list_tokens(s)]


@router.post("/tokens", status_code=201, response_model=views.NewApiToken)
def post_token(body: TokenIn, request: Request, identity: Identity = Depends(current_identity),
               s: Session = Depends(session)) -> dict[str, Any]:
    """A new token; its secret ``token`` is in this answer only."""
    row, text = create_token(s, body.name, body.role, created_by=identity.user, agent_id=body.agent_id,
                             expires_in_days=body.expires_in_days)
    request.state.audit_detail = {"token_id": row.id, "name": row.name, "role": row.role}
    return {**token_dict(row), "token": text}


@router.delete("/tokens/{token_id}", status_code=204)
def delete_token(token_id: Annotated[int, Path(ge=1, le=MAX_ID)], s: Session = Depends(session)) -> Response:
    revoke_token(s, token_id)
    return Response(status_code=204)


@audit_router.get("/audit", response_model=list[views.AuditEvent])
def get_audit(limit: int = Query(100, ge=1, le=1000), before: int | None = Query(None, ge=1, le=MAX_ID),
              actor: str | None = Query(None, max_length=200), action: str | None = Query(None, max_length=200),
              s: Session = Depends(session)) -> list[dict[str, Any]]:
    """The audit log, newest first (admins): who changed what, sign-ins and failed sign-ins.

    ``before``: only events with a smaller id (the next page is ``before`` = the last id seen).
    """
    rows = audit.events(s, limit=limit, before=before, actor=actor, action=action)
    return [{c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs} for row in rows]
