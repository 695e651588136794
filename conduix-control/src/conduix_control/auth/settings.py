"""How the control plane authenticates: OIDC when a provider is configured, else the local admin account."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from conduix.errors import ConfigError
from conduix.paths import default_state_dir
from conduix_control.auth.passwords import MIN_PASSWORD_LENGTH
from conduix_control.auth.roles import USER_ROLES

__all__ = ["AuthSettings", "parse_agent_tokens", "parse_role_map"]

_ENV = {
    "oidc_discovery_url": "CONDUIX_CONTROL_OIDC_DISCOVERY_URL",
    "oidc_client_id": "CONDUIX_CONTROL_OIDC_CLIENT_ID",
    "oidc_client_secret": "CONDUIX_CONTROL_OIDC_CLIENT_SECRET",
    "oidc_role_claim": "CONDUIX_CONTROL_OIDC_ROLE_CLAIM",
    "oidc_role_map": "CONDUIX_CONTROL_OIDC_ROLE_MAP",
    "oidc_default_role": "CONDUIX_CONTROL_OIDC_DEFAULT_ROLE",
    "oidc_scopes": "CONDUIX_CONTROL_OIDC_SCOPES",
    "oidc_provider_name": "CONDUIX_CONTROL_OIDC_PROVIDER_NAME",
    "public_url": "CONDUIX_CONTROL_PUBLIC_URL",
    "admin_password": "CONDUIX_CONTROL_ADMIN_PASSWORD",
    "agent_tokens": "CONDUIX_CONTROL_AGENT_TOKENS",
    "secret_key": "CONDUIX_CONTROL_SECRET_KEY",
    "session_max_age": "CONDUIX_CONTROL_SESSION_MAX_AGE",
    "login_max_failures": "CONDUIX_CONTROL_LOGIN_MAX_FAILURES",
    "login_lockout": "CONDUIX_CONTROL_LOGIN_LOCKOUT",
}


def parse_role_map(text: str | None) -> dict[str, str]:
    """``"group-a=admin,group-b=editor"`` as a dict; every target must be viewer, editor or admin."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        value, sep, role = part.rpartition("=")
        value, role = value.strip(), role.strip()
        if not sep or not value:
            raise ConfigError(f"CONDUIX_CONTROL_OIDC_ROLE_MAP: {part.strip()!r} is not CLAIM_VALUE=ROLE "
                              "(e.g. 'conduix-admins=admin,conduix-devs=editor')")
        if role not in USER_ROLES:
            raise ConfigError(f"CONDUIX_CONTROL_OIDC_ROLE_MAP: {part.strip()!r} maps to {role!r}; "
                              f"use one of {', '.join(USER_ROLES)}")
        mapping[value] = role
    return mapping


def parse_agent_tokens(text: str) -> dict[str, str]:
    """``"agent-1=cdx_...,agent-2=cdx_..."`` as a dict (the tokens themselves are checked when stored)."""
    tokens: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        agent_id, sep, token = part.partition("=")
        if not sep or not agent_id.strip() or not token.strip():
            raise ConfigError("CONDUIX_CONTROL_AGENT_TOKENS: an entry is not AGENT_ID=TOKEN "
                              "(e.g. 'agent-1=cdx_...,agent-2=cdx_...')")  # the entry may be a token: not shown
        tokens[agent_id.strip()] = token.strip()
    return tokens


@dataclass(frozen=True)
class AuthSettings:
    """Every field comes from ``CONDUIX_CONTROL_<NAME>`` (see ``_ENV``) unless given; the CLI passes its options."""

    oidc_discovery_url: str | None = None  #: the provider's ``.well-known/openid-configuration`` URL
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_role_claim: str = "roles"  #: claim holding the user's roles or groups (dotted for nested claims)
    oidc_role_map: dict[str, str] = field(default_factory=dict)  #: claim value -> role; empty: identity
    oidc_default_role: str | None = None  #: role of users whose claim maps to none (None: refuse them)
    oidc_scopes: str = "openid profile email"
    oidc_provider_name: str | None = None  #: shown on the login button; default: the issuer's host
    public_url: str | None = None  #: the base URL users reach the control plane at (for the redirect URI)
    admin_password: str | None = field(default=None, repr=False)  #: the local admin's password at first start
    #: agent id -> its token (``cdx_`` + 32+ characters), stored at start: deployments give each agent its token and
    #: the control plane all of them, instead of creating tokens by hand (``AGENT_ID=TOKEN,...``; docs/deployment.md)
    agent_tokens: dict[str, str] = field(default_factory=dict, repr=False)
    #: signs session cookies (else a generated key shared through the database)
    secret_key: str | None = field(default=None, repr=False)
    session_max_age: int = 12 * 3600
    login_max_failures: int = 5  #: failed sign-ins of one user name within login_lockout before it is refused
    login_lockout: float = 300.0  #: seconds
    state_dir: Path = field(default_factory=default_state_dir)

    def __post_init__(self) -> None:
        oidc = (self.oidc_discovery_url, self.oidc_client_id, self.oidc_client_secret)
        if any(oidc) and not all(oidc):
            missing = [name for name, value in zip(("DISCOVERY_URL", "CLIENT_ID", "CLIENT_SECRET"), oidc)
                       if not value]
            raise ConfigError("OIDC login needs a discovery URL, a client id and a client secret; set "
                              + ", ".join(f"CONDUIX_CONTROL_OIDC_{m}" for m in missing)
                              + " (or unset the others for the local admin account)")
        if self.oidc_default_role is not None and self.oidc_default_role not in USER_ROLES:
            raise ConfigError(f"CONDUIX_CONTROL_OIDC_DEFAULT_ROLE is {self.oidc_default_role!r}; "
                              f"use one of {', '.join(USER_ROLES)}")
        if self.admin_password is not None and len(self.admin_password) < MIN_PASSWORD_LENGTH:
            raise ConfigError(f"CONDUIX_CONTROL_ADMIN_PASSWORD has {len(self.admin_password)} characters; use at "
                              f"least {MIN_PASSWORD_LENGTH} (e.g. python3 -c \"import secrets; "
                              "print(secrets.token_urlsafe(18))\"), or unset it for a generated one")
        if self.login_max_failures < 1 or self.login_lockout < 0:
            raise ConfigError("CONDUIX_CONTROL_LOGIN_MAX_FAILURES must be at least 1 and "
                              "CONDUIX_CONTROL_LOGIN_LOCKOUT (seconds) not negative")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError(f"CONDUIX_CONTROL_PUBLIC_URL {self.public_url!r} must start with http:// or https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AuthSettings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(_ENV[f.name]) if f.name in _ENV else None
            if raw is not None and raw != "":
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("agent_tokens"), str):
            values["agent_tokens"] = parse_agent_tokens(values["agent_tokens"])
        if isinstance(values.get("oidc_role_map"), str):
            values["oidc_role_map"] = parse_role_map(values["oidc_role_map"])
        for name, kind in (("session_max_age", int), ("login_max_failures", int), ("login_lockout", float)):
            if isinstance(values.get(name), str):
                try:
                    values[name] = kind(values[name])
                except ValueError:
                    raise ConfigError(f"{_ENV[name]} is {values[name]!r}; expected a number") from None
        if "state_dir" in values:
            values["state_dir"] = Path(values["state_dir"])
        return cls(**values)

    @property
    def mode(self) -> str:
        """``"oidc"`` when a provider is configured, else ``"local"``."""
        return "oidc" if self.oidc_discovery_url else "local"

    @property
    def provider_name(self) -> str | None:
        if self.mode != "oidc":
            return None
        if self.oidc_provider_name:
            return self.oidc_provider_name
        from urllib.parse import urlsplit

        return urlsplit(self.oidc_discovery_url or "").hostname

    @property
    def admin_password_file(self) -> Path:
        return self.state_dir / "control" / "admin-password"
