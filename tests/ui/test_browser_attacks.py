"""A page of another origin attacks a signed-in admin's Chromium (issue 17, item 9), against a real control plane.

The attacker's page is served from another port of 127.0.0.1: the same *site* as the control plane, so the
SameSite=Lax session cookie goes along with its requests. Its request to start a pipeline is refused by its
Origin, and its frame of the control plane stays empty (frame-ancestors 'none', X-Frame-Options DENY); the same
request from the control plane's own page goes through.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.control.conftest import eventually
from tests.ui.conftest import UiControl
from tests.ui.test_browser import V1_YAML, by_id, expect, login_local

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

START = "fetch('{url}/pipelines/orders/start', {{method: 'POST', credentials: 'include', mode: 'no-cors'}})"
ATTACK = """<!doctype html><html><head><title>cute cats</title></head><body>
<iframe id="victim" src="{url}/" width="800" height="600"></iframe>
<script>""" + START + """.then(() => {{ document.title = 'sent'; }}, () => {{ document.title = 'sent'; }});</script>
</body></html>"""


@pytest.fixture
def attacker(control: UiControl) -> Iterator[str]:
    """The attacker's site: http://127.0.0.1:OTHER_PORT/ serves the page above."""
    page = ATTACK.format(url=control.url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_another_origin_can_neither_act_nor_frame(control: UiControl, page: Any, attacker: str) -> None:
    control.put_pipeline("orders", V1_YAML)
    login_local(page, control)
    expect(by_id(page, "current-role")).to_contain_text("admin")
    refusals: list[str] = []
    page.on("console", lambda message: refusals.append(message.text))

    page.goto(attacker)
    expect(page).to_have_title("sent")
    eventually(lambda: any("frame-ancestors 'none'" in text for text in refusals), timeout=20,
               what=f"Chromium refused to frame the control plane (console: {refusals})")
    assert control.get("/pipelines/orders")["desired"] == "stopped"  # the cross-site start was refused
    assert not by_id(page.frame_locator("#victim"), "current-role").count()

    # the very same request from the control plane's own page: the session cookie is good, the origin too
    page.goto(control.url + "/#/pipelines")
    expect(by_id(page, "current-role")).to_contain_text("admin")
    page.evaluate(f"() => {START.format(url=control.url)}")
    eventually(lambda: control.get("/pipelines/orders")["desired"] == "running", timeout=20,
               what="the same-origin start went through")
