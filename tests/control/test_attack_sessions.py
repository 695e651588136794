"""Attacks on sessions and accounts (issue 17, item 8), against real control plane processes.

A copied session cookie outlives neither a logout nor a password change; guessing passwords is throttled for
existing and unknown user names alike, with the same hash work for both; tokens can expire; the first-start
admin password is never logged and its file goes when the password changes; short environment passwords are
refused; every change and sign-in is in the audit log, which only admins read.
"""

from __future__ import annotations

import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conduix_control.api import create_app
from conduix_control.auth import AuthSettings, passwords
from conduix_control.db import Database
from conduix_control.db.models import User
from conduix_control.settings import ControlSettings
from tests.conftest import conduix
from tests.control.conftest import ADMIN_PASSWORD, eventually

GOOD = """version: 1
name: orders
sources:
  numbers: {type: generate, count: 10}
sinks:
  out: {type: blackhole, inputs: [numbers]}
"""


def session_cookie(client: httpx.Client) -> str:
    return str(client.cookies["conduix_session"])


def replay(url: str, cookie: str) -> httpx.Response:
    """Someone else (a copied cookie) asks who they are."""
    with httpx.Client(base_url=url, timeout=10, cookies={"conduix_session": cookie}) as thief:
        return thief.get("/auth/me")


def login(url: str, password: str, username: str = "admin") -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30) as c:
        return c.post("/auth/login", json={"username": username, "password": password})


def test_a_copied_cookie_dies_with_logout_and_password_changes(stack: Any) -> None:
    cp = stack.control()
    stolen = session_cookie(cp.http)
    assert replay(cp.url, stolen).json()["user"] == "admin"
    assert cp.post("/auth/logout").status_code == 204
    assert replay(cp.url, stolen).status_code == 401  # the server ended it: the copy is worthless

    # a password change ends every session of the user, copies included; the changing browser goes on
    browser = httpx.Client(base_url=cp.url, timeout=30)
    assert browser.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200
    other = httpx.Client(base_url=cp.url, timeout=30)
    assert other.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200
    stolen = session_cookie(other)
    changed = browser.post("/auth/password", json={"current": ADMIN_PASSWORD, "new": "a-new-admin-password"})
    assert changed.status_code == 204
    assert browser.get("/auth/me").status_code == 200
    assert replay(cp.url, stolen).status_code == 401 and other.get("/auth/me").status_code == 401
    short = browser.post("/auth/password", json={"current": "a-new-admin-password", "new": "elevenchars"})
    assert short.status_code == 422

    # so does a reset with the CLI (a forgotten or leaked password)
    stolen = session_cookie(browser)
    reset = conduix("control", "admin-password", "--password-stdin", "--db", f"sqlite:///{stack.root / 'control.db'}",
                    stdin="reset-by-the-cli\n")
    assert reset.returncode == 0, reset.stderr
    assert replay(cp.url, stolen).status_code == 401
    assert login(cp.url, "reset-by-the-cli").status_code == 200
    browser.close()
    other.close()


def test_password_guessing_is_throttled_for_known_and_unknown_names(stack: Any) -> None:
    # a lockout long enough for three slow scrypt checks on a loaded machine, short enough to wait for its end
    cp = stack.control(extra_env={"CONDUIX_CONTROL_LOGIN_MAX_FAILURES": "3", "CONDUIX_CONTROL_LOGIN_LOCKOUT": "20"})
    for name in ("admin", "ghost"):  # an existing and an unknown user name answer alike
        for guess in ("123456", "password", "admin"):
            answer = login(cp.url, guess, name)
            assert answer.status_code == 401 and answer.json()["detail"] == "wrong user name or password"
        locked = login(cp.url, ADMIN_PASSWORD if name == "admin" else "x", name)
        assert locked.status_code == 429, locked.text  # even the right password, until the lockout ends
        assert 1 <= int(locked.headers["Retry-After"]) <= 21 and "too many failed sign-ins" in locked.json()["detail"]
    # refused attempts do not extend it: trying again until it ends, it ends
    eventually(lambda: login(cp.url, ADMIN_PASSWORD).status_code == 200, timeout=60, what="the lockout ended")

    events = cp.get("/audit", limit=1000)
    failed = [e for e in events if e["action"] == "login_failed"]
    assert sorted({e["actor"] for e in failed}) == ["admin", "ghost"] and len(failed) == 6
    assert all(e["remote"] == "127.0.0.1" and e["status"] == 401 for e in failed)
    assert {e["actor"] for e in events if e["action"] == "login_throttled"} == {"admin", "ghost"}
    assert "123456" not in str(events)  # passwords tried are not kept

    # a stolen session cannot guess the password through the password change either
    with httpx.Client(base_url=cp.url, timeout=30) as thief:
        assert thief.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200
        for guess in ("123456", "password", "admin"):
            tried = thief.post("/auth/password", json={"current": guess, "new": "taken-over-password"})
            assert tried.status_code == 400
        locked = thief.post("/auth/password", json={"current": ADMIN_PASSWORD, "new": "taken-over-password"})
        assert locked.status_code == 429
    assert login(cp.url, ADMIN_PASSWORD).status_code == 429  # the name is locked for a while


def test_unknown_and_known_users_cost_the_same_hash_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No timing oracle for user names: the scrypt work is the same whether the name exists, has no password
    (an OIDC user) or is unknown (timings themselves are never asserted)."""
    db_url = f"sqlite:///{tmp_path / 'c.db'}"
    calls: list[str] = []
    derive = passwords._derive

    def counting(password: str, *args: Any) -> bytes:
        calls.append(password)
        return derive(password, *args)

    app = create_app(db_url, settings=ControlSettings(), run_leader=False,
                     auth=AuthSettings(admin_password="the-admin-password", state_dir=tmp_path))
    with TestClient(app) as c:
        db = Database(db_url).open()
        with db.session() as s:
            s.add(User(username="sso-user", role="viewer", source="oidc", issuer="https://id", subject="1",
                       created_at=time.time()))
            s.commit()
        db.close()
        monkeypatch.setattr(passwords, "_derive", counting)
        for name in ("admin", "nobody", "sso-user"):
            calls.clear()
            answer = c.post("/auth/login", json={"username": name, "password": "wrong-guess"})
            assert answer.status_code == 401 and answer.json()["detail"] == "wrong user name or password"
            assert calls == ["wrong-guess"], name  # exactly one scrypt derivation of the guess


def test_tokens_can_expire(stack: Any) -> None:
    cp = stack.control()
    made = cp.post("/auth/tokens", {"name": "ci", "role": "viewer", "expires_in_days": 1}).json()
    assert made["expires_at"] == pytest.approx(made["created_at"] + 86400, abs=1)
    assert cp.post("/auth/tokens", {"name": "x", "role": "viewer", "expires_in_days": 0}).status_code == 422
    headers = {"Authorization": f"Bearer {made['token']}"}
    assert httpx.get(f"{cp.url}/pipelines", headers=headers).status_code == 200
    with sqlite3.connect(stack.root / "control.db") as conn:  # a day later
        conn.execute("UPDATE api_tokens SET expires_at = ? WHERE id = ?", (time.time() - 1, made["id"]))
    expired = httpx.get(f"{cp.url}/pipelines", headers=headers)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    never = conduix("control", "tokens", "create", "cron", "--role", "viewer", "--expires-in-days", "0",
                    "--db", f"sqlite:///{stack.root / 'control.db'}")
    assert never.returncode == 2 and "--expires-in-days" in never.stderr


def test_the_generated_admin_password_is_never_logged_and_its_file_goes(stack: Any) -> None:
    cp = stack.control(generated_password=True)
    path = stack.root / "state" / "control" / "admin-password"
    password = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(password) >= 16
    eventually(lambda: str(path) in cp.log(), what="the start logged where the password is")
    assert password not in cp.log()

    changed = cp.post("/auth/password", {"current": password, "new": "the-admins-own-password"})
    assert changed.status_code == 204
    assert not path.exists()  # the password in it no longer works: nothing to find on the disk
    assert login(cp.url, password).status_code == 401
    assert password not in cp.log()


def test_a_short_environment_password_is_refused(stack: Any, tmp_path: Path) -> None:
    started = conduix("control", "serve", "--port", "1", "--db", f"sqlite:///{tmp_path / 'short.db'}",
                      env={"CONDUIX_CONTROL_ADMIN_PASSWORD": "admin123", "CONDUIX_STATE_DIR": str(tmp_path)},
                      timeout=60)
    assert started.returncode == 2
    assert "CONDUIX_CONTROL_ADMIN_PASSWORD has 8 characters; use at least 12" in started.stderr
    assert "admin123" not in started.stderr + started.stdout


def test_the_audit_log_says_who_changed_what_and_only_admins_read_it(stack: Any) -> None:
    cp = stack.control()
    editor = {"Authorization": f"Bearer {cp.token('editor')}"}
    viewer = {"Authorization": f"Bearer {cp.token('viewer')}"}
    assert httpx.put(f"{cp.url}/pipelines/orders", json={"yaml": GOOD}, headers=editor).status_code == 201
    assert httpx.post(f"{cp.url}/pipelines/orders/start", headers=editor).status_code in (200, 202)
    assert httpx.put(f"{cp.url}/pipelines/orders", json={"yaml": GOOD}, headers=viewer).status_code == 403
    assert httpx.post(f"{cp.url}/pipelines/orders/validate", json={"yaml": GOOD}, headers=viewer).status_code == 200
    assert httpx.get(f"{cp.url}/audit", headers=viewer).status_code == 403
    assert httpx.get(f"{cp.url}/audit", headers=editor).status_code == 403

    events = cp.get("/audit")
    seen = [(e["actor"], e["action"], e["target"], e["status"]) for e in reversed(events)]
    assert seen == [
        ("admin", "login", None, 200),
        ("admin", "POST /auth/tokens", "/auth/tokens", 201),
        ("admin", "POST /auth/tokens", "/auth/tokens", 201),
        ("token:test-editor", "PUT /pipelines/{name}", "/pipelines/orders", 201),
        ("token:test-editor", "POST /pipelines/{name}/start", "/pipelines/orders/start", seen[4][3]),
        ("token:test-viewer", "PUT /pipelines/{name}", "/pipelines/orders", 403),
    ]
    assert events[0]["detail"] == {"name": "orders"} and events[0]["via"] == "token"
    assert events[-2]["detail"] == {"token_id": 1, "name": "test-editor", "role": "editor"}
    assert "blackhole" not in str(events)  # request bodies (pipelines, credentials) are not copied
    assert [e["id"] for e in cp.get("/audit", before=events[1]["id"])] == [e["id"] for e in events[2:]]
    assert [e["action"] for e in cp.get("/audit", actor="token:test-viewer")] == ["PUT /pipelines/{name}"]
