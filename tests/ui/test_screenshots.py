"""The screenshots in docs/images/ui/: every page of the web UI, on a control plane with something to show.

Every run walks all the pages on a filled control plane (a test like the others); the PNGs go to the test's
temporary folder, and into docs/images/ui only with ``CONDUIX_SCREENSHOTS=1`` (``nox -s screenshots``), which
overwrites the committed ones.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.control.conftest import eventually
from tests.ui.conftest import ADMIN_PASSWORD, UiControl, local_control

pytestmark = [
    pytest.mark.browser,
    pytest.mark.screenshots,
    pytest.mark.timeout(300),
]

expect: Any
try:
    from playwright.sync_api import expect
except ImportError:  # the ``browser`` fixture fails with what to install
    expect = None

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images" / "ui"

ORDERS = """version: 1
name: orders
sources:
  orders:
    type: generate
    rate: {rate}
    records:
      - {{customer: acme, amount: 120.5, country: FR}}
      - {{customer: globex, amount: 42.0, country: US}}
      - {{customer: initech, amount: 980.0, country: DE}}
transforms:
  normalize:
    type: remap
    inputs: [orders]
    source: |
      .amount_cents = to_int!(.amount * 100)
      .country = downcase!(.country)
  large:
    type: filter
    inputs: [normalize]
    condition: .amount > 100
sinks:
  archive:
    type: file
    inputs: [normalize]
    path: {archive}
  alerts:
    type: blackhole
    inputs: [large]
"""

# A pipeline of pipelines: one export-day run per partition, each a child of the partitions run.
PARTITIONS = """version: 1
name: partitions
sources:
  days:
    type: generate
    count: 3
    rate: 10
    records:
      - {day: "2026-11-24"}
      - {day: "2026-11-25"}
      - {day: "2026-11-26"}
transforms:
  export_each:
    type: trigger
    inputs: [days]
    pipeline: export-day
    parameters: {day: .day}
sinks:
  done: {type: blackhole, inputs: [export_each]}
"""

EXPORT_DAY = """version: 1
name: export-day
sources:
  rows:
    type: generate
    count: 200
    rate: 100
    record: {{day: "${{params.day}}"}}
transforms:
  check:
    type: python
    inputs: [rows]
    function: export_rules:check
    python_path: [{rules}]
    options: {{day: "${{params.day}}", state: {rules}}}
sinks:
  out: {{type: blackhole, inputs: [check]}}
"""

EXPORT_RULES = '''from pathlib import Path


def check(record, day, state):
    """Fails once for 2026-11-25, the way a flaky upstream API does; the retry succeeds."""
    marker = Path(state) / f"failed-once-{day}"
    if day == "2026-11-25" and record["seq"] >= 120 and not marker.exists():
        marker.touch()
        raise TimeoutError(f"export of {day}: upstream API timed out after 30 s")
    return record
'''

REPORT = """version: 1
name: nightly-report
sources:
  events:
    type: generate
    count: 5000
    records:
      - {country: FR, amount: 12.5}
      - {country: DE, amount: 30}
transforms:
  by_country:
    type: aggregate
    inputs: [events]
    window: {type: tumbling, size: 1m}
    group_by: [.country]
    aggregations: {events: count, amount: sum(.amount)}
sinks:
  report: {type: stdout, inputs: [by_country]}
"""

# Typed into the editor for the "error" screenshot: `batch_sise` is not a setting.
BROKEN = """version: 1
name: clickstream
settings:
  batch_sise: 500
sources:
  clicks:
    type: http_server
    port: 8088
sinks:
  out:
    type: stdout
    inputs: [clicks]
"""


def shot(page: Any, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # transitions and charts settle
    page.screenshot(path=str(out / f"{name}.png"))


def fill_control_plane(control: UiControl, root: Path, archive: Path) -> None:
    """Four pipelines: orders (two versions) running on agent-1; partitions, whose run started three export-day
    child runs, one of which failed and was retried; nightly-report on a schedule. A second agent, an API token."""
    rules = root / "rules"
    rules.mkdir()
    (rules / "export_rules.py").write_text(EXPORT_RULES)
    control.put_pipeline("orders", ORDERS.format(rate=100, archive=archive), comment="first version")
    control.put_pipeline("orders", ORDERS.format(rate=150, archive=archive), comment="more orders per second")
    control.put_pipeline("export-day", EXPORT_DAY.format(rules=rules))
    control.put_pipeline("partitions", PARTITIONS)
    control.put_pipeline("nightly-report", REPORT)
    control.start_agent("agent-2", "--label", "zone=eu", "--allow-code")
    created = control.http.post("/schedules", json={"pipeline": "nightly-report", "cron": "0 2 * * *",
                                                     "timezone": "Europe/Paris"})
    assert created.status_code == 201, created.text
    control.create_token("ci deploys", "editor")

    assert control.http.post("/pipelines/orders/start").status_code in (200, 202)
    assert control.http.post("/pipelines/partitions/start").status_code in (200, 202)

    def children() -> list[dict[str, Any]]:
        return [r for r in control.get("/runs", pipeline="export-day") if r.get("parent_run_id")]

    def settled() -> list[dict[str, Any]]:
        for agent_log in control.root.glob("agent-*.log"):
            refused = [line for line in agent_log.read_text().splitlines() if "refused child run" in line]
            if refused:
                pytest.fail(f"the control plane refused the agent's child run: {refused[0]}")
        runs = children()
        done = len(runs) >= 3 and all(r["status"] in ("succeeded", "completed", "failed") for r in runs)
        return [r for r in runs if r["status"] == "failed"] if done else []

    failed = eventually(settled, timeout=90, what="three export-day child runs, one failed "
                                                   f"(log: {control.root / 'agent-agent-1.log'})")
    retried = control.http.post(f"/runs/{failed[0]['id']}/retry")
    assert retried.status_code == 202, retried.text
    retry_id = retried.json()["run"]["id"]
    eventually(lambda: any(r["id"] == retry_id and r["status"] in ("succeeded", "completed") for r in children()),
               timeout=60, what=f"the retried child run {retry_id} succeeded")
    eventually(lambda: any(r["status"] == "running" for r in control.get("/runs", pipeline="orders")),
               timeout=60, what="orders running")


@pytest.fixture
def archive() -> Iterator[Path]:
    """Where the orders pipeline writes: a short path, as it shows in the screenshots."""
    directory = Path(tempfile.gettempdir()) / "conduix-demo"
    directory.mkdir(exist_ok=True)
    yield directory / "orders.jsonl"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def control(tmp_path: Path, control_port: int, request: pytest.FixtureRequest, archive: Path) -> Iterator[UiControl]:
    """The UI tests' control plane, its agent also allowed to write the archive's short path."""
    with local_control(tmp_path, control_port, request, "--allow-path", str(archive.parent)) as cp:
        yield cp


def test_screenshots_of_every_page(control: UiControl, page: Any, tmp_path: Path, archive: Path) -> None:
    out = DOCS_IMAGES if os.environ.get("CONDUIX_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    fill_control_plane(control, tmp_path, archive)

    page.goto(control.url + "/#/login")
    expect(page.get_by_test_id("login-username")).to_be_visible()
    page.get_by_test_id("login-username").fill("admin")
    shot(page, out, "login")
    page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("current-role")).to_contain_text("admin")

    page.get_by_test_id("nav-pipelines").click()
    expect(page.get_by_test_id("pipeline-row-orders")).to_be_visible()
    expect(page.get_by_test_id("pipeline-status-orders")).to_contain_text("running")
    shot(page, out, "pipelines")

    page.get_by_test_id("new-pipeline").click()
    page.get_by_test_id("pipeline-name").fill("clickstream")
    page.get_by_test_id("yaml-editor").locator(".cm-content").click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(BROKEN)
    expect(page.get_by_test_id("validation-error").first).to_be_visible()
    shot(page, out, "editor-error")

    page.goto(control.url + "/#/pipelines/orders")
    page.get_by_test_id("tab-live").click()
    expect(page.get_by_test_id("live-connection")).to_have_text("live")
    expect(page.get_by_test_id("live-out-archive")).not_to_have_text("0")
    page.wait_for_timeout(8000)  # sleep-ok: the throughput chart gets a few points (for the picture only)
    shot(page, out, "live")

    page.get_by_test_id("tab-versions").click()
    page.get_by_test_id("version-diff-1").click()
    expect(page.get_by_test_id("diff-view")).to_be_visible()
    shot(page, out, "versions-diff")

    page.get_by_test_id("tab-graph").click()
    expect(page.get_by_test_id("dag-node-normalize")).to_be_visible()
    shot(page, out, "graph")

    page.get_by_test_id("nav-agents").click()
    expect(page.get_by_test_id("agent-row-agent-1")).to_be_visible()
    expect(page.get_by_test_id("agent-row-agent-2")).to_be_visible()
    shot(page, out, "agents")

    page.get_by_test_id("nav-schedules").click()
    page.get_by_test_id("schedule-pipeline").select_option("orders")
    page.get_by_test_id("schedule-timezone").fill("Europe/Berlin")
    with page.expect_response(lambda r: "/schedules/preview" in r.url and "8-18" in (r.request.post_data or "")):
        page.get_by_test_id("schedule-cron").fill("*/15 8-18 * * mon-fri")
    expect(page.get_by_test_id("schedule-next-runs")).to_be_visible()
    shot(page, out, "schedules")

    page.get_by_test_id("nav-runs").click()
    expect(page.locator("[data-testid^=run-row-]").first).to_be_visible()
    expect(page.get_by_text("upstream API timed out").first).to_be_visible()
    shot(page, out, "runs")

    page.get_by_test_id("nav-tokens").click()
    page.get_by_test_id("token-name").fill("grafana (read only)")
    page.get_by_test_id("token-role").select_option("viewer")
    page.get_by_test_id("token-create").click()
    expect(page.get_by_test_id("token-value")).to_be_visible()
    shot(page, out, "tokens")

    page.get_by_test_id("nav-audit").click()
    expect(page.locator("[data-testid^=audit-row-]").first).to_contain_text("POST /auth/tokens")
    expect(page.get_by_test_id("audit-table")).to_contain_text("PUT /pipelines/{name}")
    shot(page, out, "audit")

    written = sorted(p.name for p in out.glob("*.png"))
    assert written == sorted(f"{n}.png" for n in ("login", "pipelines", "editor-error", "live", "versions-diff",
                                                  "graph", "agents", "schedules", "runs", "tokens", "audit")), written
