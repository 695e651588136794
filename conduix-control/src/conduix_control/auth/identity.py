"""Who is calling (a session cookie or a bearer token) and the API-wide check against the policy table.

:func:`authorize` is the one dependency of the whole app (``FastAPI(dependencies=...)``): every API route,
including ones added later, is checked against :func:`conduix_control.auth.roles.required` from the matched
route's path template and method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from conduix_control.auth.roles import AGENT, PUBLIC, allows, required
from conduix_control.auth.sessions import session_user
from conduix_control.auth.tokens import find_token

__all__ = ["Identity", "authorize", "current_identity", "require_agent"]

_NOT_SIGNED_IN = ("not signed in: log in (the web UI, or POST /auth/login), or send 'Authorization: Bearer <token>' "
                  "(the CLI and agents: --token or CONDUIX_CONTROL_TOKEN)")
_BAD_TOKEN = ("the API token is unknown, revoked or expired: create one in the UI (Tokens) or with "
              "`conduix control tokens create NAME --role ROLE`, and pass it with --token or CONDUIX_CONTROL_TOKEN")


@dataclass(frozen=True)
class Identity:
    user: str
    role: str
    via: str  # session | token
    user_id: int | None = None  # the users row (sessions)
    source: str | None = None  # local | oidc (sessions)
    token_id: int | None = None
    agent_id: str | None = None  # an agent token: the one agent it works for

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user, "role": self.role, "via": self.via}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def _identify(request: Request) -> Identity | None:
    """The caller, or None; a bearer header that names no live token is a 401 of its own."""
    db = request.app.state.plane.db
    text = _bearer(request)
    if text is not None:
        with db.session() as s:
            token = find_token(s, text)
            if token is None:
                raise HTTPException(401, detail=_BAD_TOKEN, headers={"WWW-Authenticate": "Bearer"})
            return Identity(user=f"token:{token.name}", role=token.role, via="token", token_id=token.id,
                            agent_id=token.agent_id)
    user = session_user(request)
    if user is None:
        return None
    return Identity(user=user.username, role=user.role, via="session", user_id=user.id, source=user.source)


def authorize(request: Request) -> None:
    """Let the request through when the policy allows the caller's role; else 401 or 403 with the reason."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or request.url.path
    need = required(request.method, path)
    if need.level == PUBLIC:
        return
    identity = _identify(request)
    if identity is None:
        raise HTTPException(401, detail=_NOT_SIGNED_IN, headers={"WWW-Authenticate": "Bearer"})
    request.state.identity = identity
    if not allows(need, identity.role):
        raise HTTPException(403, detail=f"{request.method} {path} needs role {need.describe()}; "
                                        f"you are {identity.role}")
    if "agent_id" in request.path_params:  # /agents/{agent_id}/...: an agent acts for itself only
        require_agent(identity, request.path_params["agent_id"], f"agent {request.path_params['agent_id']!r}")


def require_agent(identity: Identity, agent_id: str | None, what: str) -> None:
    """An agent's token works for its own agent id only (like Kubernetes' NodeRestriction); people with the
    role to reach the route (admins) may act for any agent. ``what`` names the thing asked about."""
    if identity.role == AGENT and (identity.agent_id is None or identity.agent_id != agent_id):
        raise HTTPException(403, detail=f"{what} is not agent {identity.agent_id!r}'s, and this token works for "
                                        "that agent only")


def current_identity(request: Request) -> Identity:
    """The identity :func:`authorize` found (routes that need one are never public)."""
    identity = getattr(request.state, "identity", None)
    if identity is None:
        raise HTTPException(401, detail=_NOT_SIGNED_IN, headers={"WWW-Authenticate": "Bearer"})
    return identity
