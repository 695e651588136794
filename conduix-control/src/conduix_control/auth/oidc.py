"""Sign-in with an OpenID Connect provider through Authlib's Starlette client; roles come from one claim."""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from conduix_control.auth import audit
from conduix_control.auth.roles import USER_ROLES, highest
from conduix_control.auth.sessions import start_session
from conduix_control.auth.settings import AuthSettings
from conduix_control.db import Database
from conduix_control.db.models import User

__all__ = ["Oidc", "claim_values", "display_name", "map_role", "safe_next"]

logger = logging.getLogger(__name__)

_NAME = "oidc"


def claim_values(claims: Mapping[str, Any], claim: str) -> list[str] | None:
    """The values of ``claim`` (a string or a list; ``a.b`` reaches into nested objects), None when absent."""
    value: Any = claims
    for part in [claim] if claim in claims else claim.split("."):  # a URL-like claim name may hold dots
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return [str(value)]


def map_role(values: list[str] | None, role_map: Mapping[str, str], default: str | None = None) -> str | None:
    """The highest role the claim values map to (without a map, values named like a role are that role)."""
    mapping = role_map or {role: role for role in USER_ROLES}
    return highest({mapping[v] for v in values or [] if v in mapping}) or default


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (``/``, ``/#/pipelines``), never elsewhere."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _refusal(request: Request, status: int, message: str) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        page = (f"<!doctype html><html><head><title>Sign-in refused</title></head>"
                f"<body style=\"font-family: sans-serif; max-width: 44em; margin: 4em auto\">"
                f"<h1>Sign-in refused</h1><p>{html.escape(message)}</p>"
                f"<p><a href=\"/auth/login\">Try again</a></p></body></html>")
        return HTMLResponse(page, status_code=status)
    return JSONResponse({"detail": message}, status_code=status)


class Oidc:
    """The configured provider: the login redirect and the callback that starts a session."""

    def __init__(self, settings: AuthSettings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.oauth = OAuth()
        self.oauth.register(_NAME, client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
                            server_metadata_url=settings.oidc_discovery_url,
                            client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"})

    @property
    def client(self) -> Any:
        return self.oauth.create_client(_NAME)

    def redirect_uri(self, request: Request) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/") + "/auth/callback"
        return str(request.url_for("auth_callback"))

    async def login(self, request: Request, next_url: str | None) -> Response:
        request.session["next"] = safe_next(next_url)
        try:
            response: Response = await self.client.authorize_redirect(request, self.redirect_uri(request))
        except (httpx.HTTPError, ValueError) as exc:  # discovery document unreachable or invalid
            logger.error("OIDC provider %s is unavailable: %s", self.settings.oidc_discovery_url, exc)
            return _refusal(request, 502, f"the sign-in provider is unavailable: cannot read "
                                          f"{self.settings.oidc_discovery_url} ({exc})")
        return response

    async def callback(self, request: Request) -> Response:
        try:
            token = await self.client.authorize_access_token(request)
        except OAuthError as exc:
            return _refusal(request, 400, f"the sign-in provider answered with an error: {exc.error}"
                                          + (f" ({exc.description})" if exc.description else ""))
        except (JoseError, ValueError) as exc:  # the ID token's signature, issuer, audience, nonce or times
            logger.warning("OIDC ID token refused: %s", exc)
            return _refusal(request, 400, f"the sign-in provider's ID token was refused ({exc}); sign in again, "
                                          "and if this goes on, check the provider's and this server's clocks "
                                          "and CONDUIX_CONTROL_OIDC_DISCOVERY_URL")
        except httpx.HTTPError as exc:
            logger.error("OIDC provider %s is unavailable: %s", self.settings.oidc_discovery_url, exc)
            return _refusal(request, 502, f"the sign-in provider is unavailable ({exc})")
        id_claims = dict(token.get("userinfo") or {})  # the ID token's claims, checked by Authlib
        issuer, subject = str(id_claims.get("iss") or ""), str(id_claims.get("sub") or "")
        if not issuer or not subject:
            return _refusal(request, 403, "the provider sent no ID token with an issuer and a subject; check "
                                          "that CONDUIX_CONTROL_OIDC_SCOPES has openid")
        claims = await self._claims(token)
        values = claim_values(claims, self.settings.oidc_role_claim)
        role = map_role(values, self.settings.oidc_role_map, self.settings.oidc_default_role)
        name = display_name(claims)
        if role is None:
            return _refusal(request, 403, self._no_role_message(name, values, claims))
        user = await run_in_threadpool(self._upsert, issuer, subject, name, role)
        if user is None:
            return _refusal(request, 409, f"no free user name for {name!r} (subject {subject!r}); "
                                          "ask an admin to look at the users table")
        next_url = safe_next(request.session.get("next"))
        start_session(request, user)
        with self.db.session() as s:
            audit.record(s, actor=user.username, role=role, via="session", action="login",
                         remote=audit.remote_address(request), status=302, detail={"issuer": issuer, "sub": subject})
            s.commit()
        logger.info("user %s (%s at %s) signed in through OIDC with role %s", user.username, subject, issuer, role)
        return RedirectResponse(next_url, status_code=302)

    async def _claims(self, token: Mapping[str, Any]) -> dict[str, Any]:
        """The ID token's claims, completed by the userinfo endpoint's: many providers release profile
        claims and groups only there (the signed ID token wins where both have a claim)."""
        id_claims: dict[str, Any] = dict(token.get("userinfo") or {})
        try:
            metadata = await self.client.load_server_metadata()
            if not metadata.get("userinfo_endpoint"):
                return id_claims
            info = dict(await self.client.userinfo(token=token))
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("OIDC userinfo request failed (using the ID token's claims only): %s", exc)
            return id_claims
        if id_claims.get("sub") and info.get("sub") != id_claims["sub"]:
            logger.warning("OIDC userinfo is about another subject (%s, not %s): ignored", info.get("sub"),
                           id_claims["sub"])
            return id_claims
        return {**info, **id_claims}

    def _no_role_message(self, username: str, values: list[str] | None, claims: Mapping[str, Any]) -> str:
        claim = self.settings.oidc_role_claim
        seen = (f"the claim {claim!r} was not in the ID token or userinfo (claims present: "
                f"{', '.join(sorted(claims))})" if values is None else f"the claim {claim!r} had {values!r}")
        mapping = self.settings.oidc_role_map
        known = (", ".join(f"{k}={v}" for k, v in mapping.items()) if mapping
                 else "none set, so only the values viewer, editor and admin count")
        example = f"{values[0]}=viewer" if values else "my-group=viewer"
        return (f"{username} has no Conduix role: {seen}, and none of it maps to viewer, editor or admin "
                f"(CONDUIX_CONTROL_OIDC_ROLE_MAP: {known}). Set CONDUIX_CONTROL_OIDC_ROLE_MAP (e.g. "
                f"'{example}'), CONDUIX_CONTROL_OIDC_ROLE_CLAIM to the claim that carries the groups, or "
                "CONDUIX_CONTROL_OIDC_DEFAULT_ROLE to let every user of the provider in.")

    def _upsert(self, issuer: str, subject: str, name: str, role: str) -> User | None:
        """The ``oidc`` user ``issuer`` + ``subject`` with this role (created on first sign-in, named ``name``
        when that name is free, else ``name (subject)``); None when no name is free."""
        for _ in range(2):
            with self.db.session() as s:
                user = s.scalars(select(User).where(User.issuer == issuer, User.subject == subject)).first()
                if user is None:
                    username = _free_name(s, name, issuer, subject)
                    if username is None:
                        return None
                    user = User(username=username, role=role, source="oidc", issuer=issuer, subject=subject,
                                created_at=time.time())
                    s.add(user)
                elif user.username != name and _free_name(s, name, issuer, subject, only_first=True):
                    user.username = name  # renamed at the provider
                user.role = role
                user.last_login_at = time.time()
                try:
                    s.commit()
                except IntegrityError:  # the same user signing in twice at once, or a name just taken: again
                    s.rollback()
                    continue
                return user
        return None


def display_name(claims: Mapping[str, Any]) -> str:
    """What an OIDC user is called here: ``preferred_username``, else a verified ``email``, else ``sub``.

    Only a name: users are the provider's ``iss`` + ``sub``, so an account that calls itself like another
    (or claims its unverified email) is another user.
    """
    for value in (claims.get("preferred_username"),
                  claims.get("email") if claims.get("email_verified") is True else None, claims.get("sub")):
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return str(claims.get("sub"))[:200]


def _free_name(s: Any, name: str, issuer: str, subject: str, only_first: bool = False) -> str | None:
    """The first of ``name``, ``name (subject)``, ``subject@issuer`` no user has (None: all taken)."""
    candidates = [name] if only_first else [name, f"{name} ({subject})", f"{subject}@{issuer}"]
    for candidate in (c[:200] for c in candidates):
        if s.scalars(select(User.id).where(User.username == candidate)).first() is None:
            return candidate
    return None
