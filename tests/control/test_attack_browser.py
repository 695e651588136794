"""Attacks through a signed-in browser (issue 17, item 9), against a real control plane process.

Another site (another port of the same host is the same *site*, so SameSite cookies go along) sends changes
with the admin's session cookie: refused by their Origin or Referer. Bearer-token clients are not browsers and
pass; the control plane's own pages pass. No answer may be framed (clickjacking).
"""

from __future__ import annotations

from typing import Any

import httpx

GOOD = """version: 1
name: orders
sources:
  numbers: {type: generate, count: 10}
sinks:
  out: {type: blackhole, inputs: [numbers]}
"""
EVIL = "http://127.0.0.1:1"  # same site as the control plane (ports do not count), another origin


def test_cross_site_changes_with_the_session_cookie_are_refused(stack: Any) -> None:
    cp = stack.control()  # cp.http holds the admin's session cookie, as a browser would
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Referer": f"{EVIL}/attack.html"},
                    {"Origin": "https://evil.example"}):
        refused = cp.http.put("/pipelines/orders", json={"yaml": GOOD}, headers=headers)
        assert refused.status_code == 403, (headers, refused.text)
        assert "cross-site request refused" in refused.json()["detail"]
        assert cp.http.post("/auth/tokens", json={"name": "x", "role": "admin"}, headers=headers).status_code == 403
        assert cp.http.post("/auth/logout", headers=headers).status_code == 403
    assert cp.http.get("/pipelines/orders").status_code == 404  # nothing was saved
    assert cp.get("/auth/tokens") == [] and cp.get("/auth/me")["user"] == "admin"
    assert cp.http.get("/pipelines", headers={"Origin": EVIL}).status_code == 200  # reading changes nothing

    # login CSRF: signing the victim's browser in to the attacker's account
    with httpx.Client(base_url=cp.url, timeout=30) as victim:
        forced = victim.post("/auth/login", json={"username": "admin", "password": "test-admin-password"},
                             headers={"Origin": EVIL})
        assert forced.status_code == 403 and "conduix_session" not in victim.cookies

    # the control plane's own pages, and clients with a token (no cookie involved) go through
    assert cp.http.put("/pipelines/orders", json={"yaml": GOOD}, headers={"Origin": cp.url}).status_code == 201
    assert cp.http.post("/pipelines/orders/stop", headers={"Referer": f"{cp.url}/#/pipelines"}).status_code < 300
    token = {"Authorization": f"Bearer {cp.token('editor')}", "Origin": EVIL}
    assert httpx.post(f"{cp.url}/pipelines/orders/stop", headers=token).status_code < 300


def test_no_answer_may_be_framed(stack: Any) -> None:
    cp = stack.control()
    for path in ("/", "/auth/config", "/pipelines", "/docs", "/nope"):
        answer = cp.http.get(path)
        assert answer.headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"], path
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    refused = cp.http.post("/pipelines/x/start", headers={"Origin": EVIL})
    assert refused.status_code == 403 and refused.headers["X-Frame-Options"] == "DENY"
