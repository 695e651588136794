"""The local OIDC provider the SSO tests sign in through: an authorization-code login in Chromium gives the
claims the control plane maps to roles. When this fails, the SSO tests' failures are about the provider."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui.conftest import OidcProvider, start_oidc_provider

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


class _Callback(http.server.BaseHTTPRequestHandler):
    received: dict[str, list[str]] = {}

    def do_GET(self) -> None:
        url = urllib.parse.urlparse(self.path)
        if url.path == "/cb":  # not /favicon.ico
            type(self).received = urllib.parse.parse_qs(url.query)
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"signed in")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def redirect_target() -> Iterator[tuple[str, type[_Callback]]]:
    """A throwaway client redirect URI recording the query it is called with."""
    handler = type("Callback", (_Callback,), {"received": {}})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cb", handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def provider(oidc_node_modules: Path, redirect_target: tuple[str, type[_Callback]],
             tmp_path: Path) -> Iterator[OidcProvider]:
    started = start_oidc_provider(oidc_node_modules, [redirect_target[0]], tmp_path / "oidc.log")
    yield started
    started.stop()


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.mark.parametrize(("user", "roles", "auth"), [("alice", ["conduix-admins"], "basic"), ("nobody", [], "post")])
def test_code_flow_in_chromium_gives_the_roles_claim(provider: OidcProvider, redirect_target: Any, page: Any,
                                                     user: str, roles: list[str], auth: str) -> None:
    redirect_uri, callback = redirect_target
    discovery = httpx.get(provider.discovery_url).json()
    assert discovery["issuer"] == provider.issuer
    query = urllib.parse.urlencode({"client_id": "conduix", "response_type": "code", "redirect_uri": redirect_uri,
                                    "scope": "openid email profile", "state": "st4te", "nonce": "n0nce"})
    page.goto(f"{discovery['authorization_endpoint']}?{query}")
    page.locator("input[name=login]").fill(user)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.wait_for_url(redirect_uri + "?*")
    assert callback.received["state"] == ["st4te"]

    form = {"grant_type": "authorization_code", "code": callback.received["code"][0], "redirect_uri": redirect_uri}
    if auth == "basic":
        tokens = httpx.post(discovery["token_endpoint"], data=form, auth=(provider.client_id, provider.client_secret))
    else:
        tokens = httpx.post(discovery["token_endpoint"],
                            data={**form, "client_id": provider.client_id, "client_secret": provider.client_secret})
    assert tokens.status_code == 200, tokens.text
    id_token = _claims(tokens.json()["id_token"])
    assert (id_token["sub"], id_token["preferred_username"], id_token["roles"]) == (user, user, roles)
    assert id_token["nonce"] == "n0nce"
    assert id_token["email"] == f"{user}@example.test"
    userinfo = httpx.get(discovery["userinfo_endpoint"],
                         headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}).json()
    assert userinfo["roles"] == roles
