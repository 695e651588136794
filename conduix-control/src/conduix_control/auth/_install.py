"""Wire authentication into the app: the session middleware, the ``/auth`` routes, the first-start admin."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from conduix_control.auth import audit
from conduix_control.auth.local import ensure_admin, session_key
from conduix_control.auth.routes import audit_router, router
from conduix_control.auth.settings import AuthSettings
from conduix_control.db import Database

if TYPE_CHECKING:
    from conduix_control.auth.oidc import Oidc

__all__ = ["SESSION_COOKIE", "Auth", "install"]

logger = logging.getLogger(__name__)

SESSION_COOKIE = "conduix_session"


@dataclass
class Auth:
    settings: AuthSettings
    oidc: Oidc | None


def _ensure_agent_tokens(db: Database, tokens: dict[str, str]) -> None:
    from conduix_control.auth.tokens import ensure_token

    for agent_id, text in tokens.items():
        with db.session() as s:
            row, created = ensure_token(s, agent_id, text, created_by="deployment")
        if created:
            logger.info("token %s of agent %s from CONDUIX_CONTROL_AGENT_TOKENS stored", row.prefix, agent_id)
        elif row.revoked_at is not None:
            logger.warning("the token of agent %s in CONDUIX_CONTROL_AGENT_TOKENS (%s) was revoked: the agent is "
                           "refused; set a new one", agent_id, row.prefix)


def install(app: FastAPI, db: Database, settings: AuthSettings) -> Auth:
    """Add sessions and ``/auth`` to ``app``; in local mode make sure the admin account exists.

    The policy itself is enforced by :func:`conduix_control.auth.authorize`, which the app lists as its
    dependency so that it covers every route.
    """
    oidc = None
    if settings.mode == "oidc":
        from conduix_control.auth.oidc import Oidc  # Authlib is needed only with a provider

        oidc = Oidc(settings, db)
    auth = Auth(settings=settings, oidc=oidc)
    if settings.agent_tokens:
        _ensure_agent_tokens(db, settings.agent_tokens)
    if auth.oidc is None:
        ensure_admin(db, settings)
    else:
        logger.info("sign-in through OIDC provider %s (%s)", settings.provider_name, settings.oidc_discovery_url)
    secure = bool(settings.public_url and settings.public_url.startswith("https://"))
    # Starlette's session cookie is HttpOnly and signed; SameSite=lax keeps it off cross-site POSTs (CSRF)
    app.add_middleware(SessionMiddleware, secret_key=session_key(db, settings), session_cookie=SESSION_COOKIE,
                       max_age=settings.session_max_age, same_site="lax", https_only=secure)
    app.state.auth = auth
    app.include_router(router)
    app.include_router(audit_router)
    audit.install(app, db)
    return auth
