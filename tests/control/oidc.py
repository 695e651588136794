"""The OIDC provider of the sign-in tests: the real ``oidc-provider`` (tests/ui/oidc/server.mjs), driven by an
HTTP client playing the browser, and a control plane app configured for it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from fastapi.testclient import TestClient

from conduix_control.api import create_app
from conduix_control.auth import AuthSettings
from conduix_control.settings import ControlSettings

__all__ = ["PUBLIC_URL", "Provider", "oidc_app", "oidc_login"]

PUBLIC_URL = "https://conduix.example"  #: the control plane, as the provider knows it


class Provider:
    """The real ``oidc-provider`` (tests/ui/oidc/server.mjs) whose users' claims a test sets in a file,
    read at every sign-in; the browser's part of a sign-in is played by an HTTP client filling its login form."""

    def __init__(self, tmp_path: Path, *, conform: bool = False) -> None:
        from tests.ui.conftest import install_oidc_provider, start_oidc_provider

        self.users_file = tmp_path / "oidc-users.json"
        self.users: dict[str, dict[str, Any]] = {}
        self.save()
        env = {"OIDC_USERS_FILE": str(self.users_file), "OIDC_CONFORM_ID_TOKEN_CLAIMS": "1" if conform else "0"}
        self.server = start_oidc_provider(install_oidc_provider(), [f"{PUBLIC_URL}/auth/callback"],
                                          tmp_path / "oidc.log", env)
        self.url = self.server.issuer

    def save(self) -> None:
        self.users_file.write_text(json.dumps(self.users))

    def sign_in(self, authorize_url: str, login_name: str) -> str:
        """Fill the provider's login form; returns the URL it sends the browser back to (the callback)."""
        with httpx.Client(timeout=10) as browser:
            answer = browser.get(authorize_url, follow_redirects=True)  # -> the login form
            action = re.search(r'<form[^>]* action="([^"]+)"', answer.text)
            assert answer.status_code == 200 and action, answer.text
            answer = browser.post(urljoin(str(answer.url), action.group(1)),
                                  data={"prompt": "login", "login": login_name, "password": "any"},
                                  follow_redirects=False)
            while not answer.headers.get("location", "").startswith(PUBLIC_URL):
                assert answer.status_code in (302, 303), answer.text
                answer = browser.get(urljoin(str(answer.url), answer.headers["location"]), follow_redirects=False)
            return str(answer.headers["location"])

    def close(self) -> None:
        self.server.stop()



def oidc_login(client: TestClient, provider: Provider, user: str, next_url: str = "/#/pipelines") -> Any:
    """Sign in through the provider as ``user``: /auth/login -> the provider's form -> /auth/callback."""
    redirect = client.get("/auth/login", params={"next": next_url}, follow_redirects=False)
    assert redirect.status_code == 302, redirect.text
    location = urlsplit(redirect.headers["location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert location.geturl().startswith(provider.url)
    assert query["client_id"] == "conduix" and query["redirect_uri"] == f"{PUBLIC_URL}/auth/callback"
    assert set(query["scope"].split()) == {"openid", "profile", "email"}
    assert query["code_challenge_method"] == "S256"
    callback = urlsplit(provider.sign_in(redirect.headers["location"], user))
    return client.get(f"{callback.path}?{callback.query}", follow_redirects=False, headers={"Accept": "text/html"})


def oidc_app(db_url: str, provider: Provider, tmp_path: Path, **extra: str) -> Any:
    env = {"CONDUIX_CONTROL_OIDC_DISCOVERY_URL": provider.server.discovery_url,
           "CONDUIX_CONTROL_OIDC_CLIENT_ID": "conduix", "CONDUIX_CONTROL_OIDC_CLIENT_SECRET": "conduix-secret",
           "CONDUIX_CONTROL_PUBLIC_URL": PUBLIC_URL, **extra}
    return create_app(db_url, settings=ControlSettings(), run_leader=False,
                      auth=AuthSettings.from_env(env, state_dir=tmp_path))


