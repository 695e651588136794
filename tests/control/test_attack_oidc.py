"""Attacks on OIDC sign-in (issue 17, item 10), with the real provider (``oidc-provider``, tests/ui/oidc).

An account at the provider that calls itself like another user (``preferred_username``) or claims their email
without the provider having verified it is another user here: users are the provider's ``iss`` + ``sub``. An ID
token that fails its checks (here: a nonce swapped by whoever relayed the sign-in) or a replayed callback gets
the refusal page, never a 500.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from fastapi.testclient import TestClient

from conduix_control.db import Database
from conduix_control.db.models import User
from tests.control.oidc import PUBLIC_URL, Provider, oidc_app, oidc_login


def test_users_are_issuer_and_subject_not_the_names_they_claim(tmp_path: Path, provider: Provider) -> None:
    db_url = f"sqlite:///{tmp_path / 'c.db'}"
    provider.users = {
        "alice": {"roles": ["admin"], "email": "alice@example.test"},
        # another account of the provider, naming itself alice and claiming her (unverified) email
        "mallory": {"roles": ["viewer"], "preferred_username": "alice", "email": "alice@example.test",
                    "email_verified": False},
        "eve": {"roles": ["viewer"], "preferred_username": None, "email": "alice@example.test",
                "email_verified": False},
    }
    provider.save()
    with TestClient(oidc_app(db_url, provider, tmp_path), base_url=PUBLIC_URL) as c:
        assert oidc_login(c, provider, "alice").status_code == 302
        assert c.get("/auth/me").json() == {"user": "alice", "role": "admin", "via": "session"}
        c.post("/auth/logout")

        assert oidc_login(c, provider, "mallory").status_code == 302
        assert c.get("/auth/me").json() == {"user": "alice (mallory)", "role": "viewer", "via": "session"}
        assert c.get("/auth/tokens").status_code == 403  # not alice's admin rights
        c.post("/auth/logout")

        assert oidc_login(c, provider, "eve").status_code == 302
        assert c.get("/auth/me").json()["user"] == "eve"  # an unverified email names nobody
        c.post("/auth/logout")

        assert oidc_login(c, provider, "alice").status_code == 302  # alice is still alice
        assert c.get("/auth/me").json() == {"user": "alice", "role": "admin", "via": "session"}
        logins = [(e["actor"], e["detail"]["sub"]) for e in c.get("/audit", params={"action": "login"}).json()]
        assert logins == [("alice", "alice"), ("eve", "eve"), ("alice (mallory)", "mallory"), ("alice", "alice")]
    db = Database(db_url).open()
    with db.session() as s:
        rows = {(u.subject, u.username, u.role) for u in s.query(User).all()}
        assert rows == {("alice", "alice", "admin"), ("mallory", "alice (mallory)", "viewer"),
                        ("eve", "eve", "viewer")}
        assert {u.issuer for u in s.query(User).all()} == {provider.url}
    db.close()


def swap_nonce(authorize_url: str) -> str:
    parts = urlsplit(authorize_url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["nonce"]
    query["nonce"] = "chosen-by-the-attacker"
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_a_bad_id_token_or_a_replayed_callback_gets_the_refusal_page(tmp_path: Path, provider: Provider) -> None:
    provider.users = {"alice": {"roles": ["admin"]}}
    provider.save()
    with TestClient(oidc_app(f"sqlite:///{tmp_path / 'c.db'}", provider, tmp_path), base_url=PUBLIC_URL,
                    raise_server_exceptions=False) as c:
        redirect = c.get("/auth/login", follow_redirects=False)
        callback = urlsplit(provider.sign_in(swap_nonce(redirect.headers["location"]), "alice"))
        refused = c.get(f"{callback.path}?{callback.query}", headers={"Accept": "text/html"}, follow_redirects=False)
        assert refused.status_code == 400 and "text/html" in refused.headers["content-type"], refused.text
        assert "Sign-in refused" in refused.text and "ID token was refused" in refused.text
        assert re.search(r"nonce", refused.text), refused.text
        assert c.get("/auth/me").status_code == 401

        done = oidc_login(c, provider, "alice")
        assert done.status_code == 302
        again = c.get(done.request.url.raw_path.decode(), headers={"Accept": "text/html"}, follow_redirects=False)
        assert again.status_code == 400 and "Sign-in refused" in again.text  # the same code and state again
        forged: Any = c.get("/auth/callback", params={"code": "x", "state": "y"}, follow_redirects=False)
        assert forged.status_code == 400 and "detail" in forged.json()
