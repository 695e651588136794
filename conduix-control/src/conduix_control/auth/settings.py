"""How the control plane authenticates: OIDC when a provider is configured, else the local admin account."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from conduix.errors import ConfigError
from conduix.paths import default_state_dir
from conduix_control.auth.roles import USER_ROLES

__all__ = ["AuthSettings", "parse_role_map"]

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
    "secret_key": "CONDUIX_CONTROL_SECRET_KEY",
    "session_max_age": "CONDUIX_CONTROL_SESSION_MAX_AGE",
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
    admin_password: str | None = None  #: the local admin's password at first start (else generated)
    secret_key: str | None = None  #: signs session cookies (else a generated key shared through the database)
    session_max_age: int = 12 * 3600
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
        if isinstance(values.get("oidc_role_map"), str):
            values["oidc_role_map"] = parse_role_map(values["oidc_role_map"])
        if "session_max_age" in values:
            values["session_max_age"] = int(values["session_max_age"])
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
