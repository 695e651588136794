"""The web UI in a real Chromium, against real control plane and agent processes (and a real OIDC provider).

What a user does: sign in, write a pipeline with a mistake and see it at its line, fix and save it, start it,
watch its counters move, change it, roll it back; and, with single sign-on, get the role their groups give.
Elements are found by their data-testid attributes, which the UI keeps stable for these tests.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.control.conftest import eventually
from tests.ui.conftest import ADMIN_PASSWORD, OidcProvider, UiControl

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

expect: Any
try:
    from playwright.sync_api import expect
except ImportError:  # the ``browser`` fixture fails with what to install
    expect = None

# Line 6 has a typo: `cuont` for `count`.
BAD_YAML = """version: 1
name: orders
sources:
  numbers:
    type: generate
    cuont: 1000000
    rate: 200
sinks:
  out:
    type: blackhole
    inputs: [numbers]
"""
V1_YAML = BAD_YAML.replace("cuont:", "count:")
V2_YAML = V1_YAML.replace("rate: 200", "rate: 300")


def by_id(page: Any, test_id: str) -> Any:
    return page.get_by_test_id(test_id)


def set_editor_text(page: Any, text: str) -> None:
    """Replace the CodeMirror document as a user pasting text would (no auto-indent, unlike typing)."""
    content = by_id(page, "yaml-editor").locator(".cm-content")
    content.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def editor_text(page: Any) -> str:
    content = by_id(page, "yaml-editor").locator(".cm-content")
    lines: list[str] = content.evaluate("el => Array.from(el.querySelectorAll('.cm-line')).map(l => l.textContent)")
    return "\n".join(lines)


def count(text: str) -> int:
    """A counter as shown ("12,345", "12 345"): its digits."""
    digits = re.sub(r"[^\d]", "", text)
    assert digits, f"not a number: {text!r}"
    return int(digits)


def same_yaml(a: str, b: str) -> bool:
    return [line.rstrip() for line in a.strip().splitlines()] == [line.rstrip() for line in b.strip().splitlines()]


def login_local(page: Any, control: UiControl, password: str = ADMIN_PASSWORD) -> None:
    page.goto(control.url + "/")
    expect(by_id(page, "login-username")).to_be_visible()  # not signed in: the UI shows its login page
    by_id(page, "login-username").fill("admin")
    by_id(page, "login-password").fill(password)
    by_id(page, "login-submit").click()


def test_edit_start_watch_and_roll_back_a_pipeline(control: UiControl, page: Any) -> None:
    # A wrong password is refused on the page; the right one signs the admin in.
    login_local(page, control, password="not-the-password")
    expect(by_id(page, "login-error")).to_be_visible()
    by_id(page, "login-password").fill(ADMIN_PASSWORD)
    by_id(page, "login-submit").click()
    expect(by_id(page, "current-user")).to_contain_text("admin")
    expect(by_id(page, "current-role")).to_contain_text("admin")

    # A new pipeline with a misspelled option: the error is listed with its line and marked in the gutter.
    by_id(page, "nav-pipelines").click()
    by_id(page, "new-pipeline").click()
    by_id(page, "pipeline-name").fill("orders")
    set_editor_text(page, BAD_YAML)
    error = by_id(page, "validation-error")
    expect(error).to_have_count(1)
    expect(error).to_have_attribute("data-line", "6")
    expect(error).to_contain_text("line 6")
    expect(error).to_contain_text("cuont")
    marker = by_id(page, "yaml-editor").locator(".cm-lint-marker-error").first
    expect(marker).to_be_visible()
    line6 = by_id(page, "yaml-editor").locator(".cm-line").nth(5)
    expect(line6).to_contain_text("cuont")
    m, line = marker.bounding_box(), line6.bounding_box()
    assert line["y"] <= m["y"] + m["height"] / 2 <= line["y"] + line["height"], (m, line)

    # Fixed, the error goes away; saved, it is version 1.
    set_editor_text(page, V1_YAML)
    expect(by_id(page, "validation-error")).to_have_count(0)
    by_id(page, "save-pipeline").click()
    expect(by_id(page, "save-status")).to_contain_text("Saved version 1")
    assert same_yaml(control.get("/pipelines/orders")["yaml"], V1_YAML)

    # Started, the agent runs it, and the live view's counters move.
    by_id(page, "action-start").click()
    expect(by_id(page, "pipeline-desired")).to_contain_text("running")
    by_id(page, "tab-live").click()
    expect(by_id(page, "live-connection")).to_have_text("live")
    written = by_id(page, "live-out-out")
    first = eventually(lambda: count(written.inner_text()), timeout=30, what="records written, on the live tab")
    eventually(lambda: count(written.inner_text()) > first, timeout=20, what=f"live-out-out past {first}")
    expect(by_id(page, "live-out-numbers")).not_to_have_text("0")

    # The pipelines list shows it running.
    by_id(page, "nav-pipelines").click()
    expect(by_id(page, "pipeline-status-orders")).to_contain_text("running")
    by_id(page, "pipeline-link-orders").click()

    # A change is version 2.
    by_id(page, "tab-editor").click()
    set_editor_text(page, V2_YAML)
    expect(by_id(page, "validation-error")).to_have_count(0)
    by_id(page, "save-pipeline").click()
    expect(by_id(page, "save-status")).to_contain_text("Saved version 2")

    # Versions: the diff of version 1 against the current one, then a rollback to 1, which is version 3.
    by_id(page, "tab-versions").click()
    expect(by_id(page, "version-row-1")).to_be_visible()
    expect(by_id(page, "version-row-2")).to_be_visible()
    by_id(page, "version-diff-1").click()
    expect(by_id(page, "diff-view")).to_contain_text("rate: 200")
    expect(by_id(page, "diff-view")).to_contain_text("rate: 300")
    by_id(page, "rollback-1").click()
    by_id(page, "confirm-rollback").click()
    expect(by_id(page, "version-row-3")).to_be_visible()
    versions = {v["version"]: v["yaml"] for v in control.get("/pipelines/orders/versions")}
    assert sorted(versions) == [1, 2, 3]
    assert versions[3] == versions[1]
    by_id(page, "tab-editor").click()
    eventually(lambda: same_yaml(editor_text(page), V1_YAML), timeout=10, what="the editor shows version 1 again")

    # The admin replaces the password set at first start, on the account page.
    by_id(page, "current-user").click()
    by_id(page, "password-current").fill(ADMIN_PASSWORD)
    by_id(page, "password-new").fill("a-new-password")
    by_id(page, "password-again").fill("a-new-password")
    by_id(page, "password-change").click()
    expect(by_id(page, "password-status")).to_contain_text("Password changed")

    # Signing out ends the session; the new password signs in again.
    by_id(page, "logout").click()
    expect(by_id(page, "login-username")).to_be_visible()
    assert page.context.request.get(control.url + "/auth/me").status == 401
    login_local(page, control, password="a-new-password")
    expect(by_id(page, "current-role")).to_contain_text("admin")


# -- single sign-on --

def sso_login(page: Any, control: UiControl, provider: OidcProvider, user: str) -> None:
    """Sign in through the provider's own login form (any password: it is the provider's development form)."""
    page.goto(control.url + "/")
    by_id(page, "login-sso").click()
    page.wait_for_url(re.compile(re.escape(provider.issuer) + r"/interaction/"))
    page.locator("input[name=login]").fill(user)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(control.url) + r"/"))


def test_sso_roles_come_from_the_providers_groups(control_oidc: UiControl, oidc_provider: OidcProvider,
                                                 new_context: Any) -> None:
    assert control_oidc.get("/auth/config")["mode"] == "oidc"

    # alice is in conduix-admins: admin.
    alice = new_context().new_page()
    sso_login(alice, control_oidc, oidc_provider, "alice")
    expect(by_id(alice, "current-role")).to_have_text("admin")
    expect(by_id(alice, "current-user")).to_contain_text("alice")
    created = alice.context.request.put(control_oidc.url + "/pipelines/orders", data={"yaml": V1_YAML})
    assert created.status == 201, created.text()

    # victor's group is viewer: he sees the pipeline, cannot start it, and the API itself refuses his changes.
    victor = new_context().new_page()
    sso_login(victor, control_oidc, oidc_provider, "victor")
    expect(by_id(victor, "current-role")).to_have_text("viewer")
    victor.goto(control_oidc.url + "/#/pipelines/orders")
    expect(by_id(victor, "action-start")).to_be_disabled()
    api = victor.context.request
    assert api.get(control_oidc.url + "/pipelines/orders").status == 200
    refused = api.put(control_oidc.url + "/pipelines/orders", data={"yaml": V2_YAML})
    assert refused.status == 403, refused.text()
    assert "viewer" in refused.json()["detail"]
    started = api.post(control_oidc.url + "/pipelines/orders/start", data={})
    assert started.status == 403, started.text()
    versions = alice.context.request.get(control_oidc.url + "/pipelines/orders/versions").json()
    assert [v["version"] for v in versions] == [1]

    # nobody has no group the control plane knows: refused, with a message saying why, and not signed in.
    nobody = new_context().new_page()
    sso_login(nobody, control_oidc, oidc_provider, "nobody")
    expect(nobody.locator("body")).to_contain_text(re.compile(r"\bno\b.*\brole", re.IGNORECASE))
    assert nobody.context.request.get(control_oidc.url + "/auth/me").status == 401


@pytest.mark.timeout(240)  # two supervision cycles on a loaded machine besides the browser
def test_a_paused_pipeline_shows_why_and_runs_again_by_itself(control: UiControl, page: Any, tmp_path: Any) -> None:
    """Supervision on the agent gives up while a dependency is down: the pipeline and its run show `paused` and
    the reason; once the dependency is back, the run resumes by itself and shows `running` again."""
    down = tmp_path / "downstream-is-down"
    down.write_text("")
    (tmp_path / "flaky.py").write_text(
        "import os\n"
        f"def check(record):\n    if os.path.exists({str(down)!r}):\n"
        "        raise RuntimeError('downstream is down')\n    return record\n")
    control.put_pipeline("flaky", f"""version: 1
name: flaky
supervision: {{max_restarts: 1, within_seconds: 60, backoff: {{initial: 0.1, max: 0.2}},
               resume: {{initial: 1, max: 2, max_attempts: null}}}}
sources:
  numbers: {{type: generate, count: 1000000, rate: 20}}
transforms:
  check: {{type: python, inputs: [numbers], function: "flaky:check", python_path: ["{tmp_path}"]}}
sinks:
  out: {{type: blackhole, inputs: [check]}}
""")
    login_local(page, control)
    expect(by_id(page, "current-role")).to_contain_text("admin")
    by_id(page, "nav-pipelines").click()
    by_id(page, "pipeline-link-flaky").click()
    by_id(page, "action-start").click()

    by_id(page, "nav-pipelines").click()
    expect(by_id(page, "pipeline-status-flaky")).to_contain_text("paused", timeout=60_000)
    [run] = control.get("/runs", pipeline="flaky")
    by_id(page, "nav-runs").click()
    expect(by_id(page, f"run-status-{run['id']}")).to_contain_text("paused")
    reason = by_id(page, f"run-row-{run['id']}").locator(".run-error")
    expect(reason).to_contain_text("downstream is down")
    expect(reason).to_contain_text("resuming by itself at")

    down.unlink()  # the dependency is back
    expect(by_id(page, f"run-status-{run['id']}")).to_contain_text("running", timeout=60_000)
    expect(reason).to_have_count(0)
    by_id(page, "nav-pipelines").click()
    expect(by_id(page, "pipeline-status-flaky")).to_contain_text("running")
