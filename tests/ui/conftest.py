"""Fixtures for the web UI tests: a real Chromium driven by Playwright, control planes and agents as real
``conduix`` processes, and a real OpenID Connect provider (panva's ``oidc-provider``, run with Node.js).

Needs, on the machine: Debian's ``chromium`` (``apt-get install chromium``; Playwright's own browser download is
not used), Node.js with npm (``npm ci`` in tests/ui/oidc runs once, by the ``oidc_node_modules`` fixture), and the
``playwright`` Python package. Nothing here is skipped: a missing piece fails with what to install.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.control.conftest import FAST_CONTROL, Proc, eventually, free_port
from tests.servers import exclusive

HERE = Path(__file__).resolve().parent
OIDC_DIR = HERE / "oidc"
CHROMIUM = os.environ.get("CONDUIX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 900}
ADMIN_PASSWORD = "conduix-ui-test-admin"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item, so the ``page`` fixture knows at teardown whether the test failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


# -- the browser --

@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: the UI tests drive Debian's chromium "
                    "(`sudo apt-get install chromium chromium-driver`), or set CONDUIX_CHROMIUM to another binary")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """One headless Chromium per test module (Playwright, with the system's binary).

    Not one per session: between its calls Playwright's sync API marks its event loop as running in the
    main thread, so a later module's ``asyncio.run`` (the messaging tests' clients) would fail in the same
    pytest-xdist worker. Closing it at the end of the module clears that mark."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("the UI tests need Playwright's Python package: pip install 'playwright>=1.45,<2' "
                    "(its browsers are not needed: the system's Chromium is used)")
    expect.set_options(timeout=15_000)  # the machines are shared: 5 s is short for a busy control plane
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageLog:
    """What the page said: console errors and uncaught exceptions, shown when a test fails."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.lines.append(f"pageerror: {error}"))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.lines.append(f"console.{message.type}: {message.text}")


@pytest.fixture
def new_context(browser: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Factory of fresh browser contexts (separate cookies: one per signed-in user); all closed afterwards.

    When the test failed, a screenshot of every open page is saved into ``tmp_path`` and console errors printed.
    """
    contexts: list[tuple[Any, PageLog]] = []

    def make() -> Any:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(15_000)
        log = PageLog()
        context.on("page", log.attach)
        contexts.append((context, log))
        return context

    yield make
    report = getattr(request.node, "rep_call", None)
    failed = report is not None and report.failed
    for n, (context, log) in enumerate(contexts):
        if failed:
            for m, page in enumerate(context.pages):
                shot = tmp_path / f"failure-context{n}-page{m}.png"
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(shot), full_page=True)
                    sys.stderr.write(f"screenshot of {page.url}: {shot}\n")
            for line in log.lines:
                sys.stderr.write(f"context {n}: {line}\n")
        context.close()


@pytest.fixture
def page(new_context: Any) -> Any:
    """A page in a fresh browser context (1400x900)."""
    return new_context().new_page()


# -- the OpenID Connect provider --

@pytest.fixture(scope="session")
def oidc_node_modules() -> Path:
    return install_oidc_provider()


def install_oidc_provider() -> Path:
    """tests/ui/oidc with its node_modules, installed from the lock file by ``npm ci`` when missing."""
    modules = OIDC_DIR / "node_modules" / "oidc-provider"
    with exclusive(OIDC_DIR / ".install.lock"):
        if not modules.is_dir():
            npm = shutil.which("npm")
            if npm is None or shutil.which("node") is None:
                pytest.fail("the SSO tests run a local OIDC provider with Node.js: install node and npm "
                            "(Node 20.19+ or 22+)")
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=OIDC_DIR, capture_output=True,
                                  text=True, timeout=300)
            if done.returncode != 0:
                pytest.fail(f"npm ci in {OIDC_DIR} failed:\n{done.stdout}\n{done.stderr}")
    return OIDC_DIR


@dataclass
class OidcProvider:
    """A running ``oidc-provider`` (tests/ui/oidc/server.mjs) with the client ``conduix``."""

    issuer: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    client_id: str = "conduix"
    client_secret: str = "conduix-secret"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_oidc_provider(directory: Path, redirect_uris: list[str], log: Path,
                        env: dict[str, str] | None = None) -> OidcProvider:
    """Start tests/ui/oidc/server.mjs; ``env`` adds its options (OIDC_USERS_FILE, OIDC_CONFORM_ID_TOKEN_CLAIMS)."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    node = shutil.which("node")
    if node is None:
        pytest.fail("the SSO tests run a local OIDC provider with Node.js: install node (20.19+ or 22+)")
    with open(log, "wb") as out:
        proc = subprocess.Popen([node, "server.mjs", str(port), issuer], cwd=directory,
                                env={**os.environ, **(env or {}), "OIDC_REDIRECT_URIS": ",".join(redirect_uris)},
                                stdout=out, stderr=subprocess.STDOUT)
    provider = OidcProvider(issuer=issuer, proc=proc, log_path=log)

    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"the OIDC provider exited with {proc.returncode}:\n{provider.log()}")
        response = httpx.get(provider.discovery_url, timeout=2)
        return response.status_code == 200 and response.json()["issuer"] == issuer

    eventually(ready, timeout=30, what=f"OIDC provider up (log: {log})")
    return provider


@pytest.fixture
def control_port() -> int:
    """The port of the test's control plane, known before it starts (the OIDC client's redirect URI needs it)."""
    return free_port()


@pytest.fixture
def oidc_provider(oidc_node_modules: Path, control_port: int, tmp_path: Path) -> Iterator[OidcProvider]:
    """A real OpenID Connect provider on a free port, whose client ``conduix`` redirects to this test's control
    plane. Users: alice (roles [conduix-admins]), victor ([viewer]), nobody ([]); any password."""
    redirect_uris = [f"http://{host}:{control_port}/auth/callback" for host in ("127.0.0.1", "localhost")]
    provider = start_oidc_provider(oidc_node_modules, redirect_uris, tmp_path / "oidc-provider.log")
    yield provider
    provider.stop()


# -- control planes and agents --

class UiControl:
    """A ``conduix control serve`` process on a fresh SQLite database, with an admin HTTP client when local."""

    def __init__(self, root: Path, port: int, env: dict[str, str], name: str = "control") -> None:
        self.root = root
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = env
        self.procs: list[Proc] = []
        self.agents: list[str] = []
        self.admin_password = env.get("CONDUIX_CONTROL_ADMIN_PASSWORD", "")
        self.server = Proc(["control", "serve", "--port", str(port), "--db", f"sqlite:///{root / (name + '.db')}"],
                           root / f"{name}.log", env)
        self.procs.append(self.server)
        self.http = httpx.Client(base_url=self.url, timeout=10)  # signed in by login_admin()

        def up() -> bool:
            if self.server.proc.poll() is not None:
                pytest.fail(f"the control plane exited with {self.server.proc.returncode}:\n{self.server.log()}")
            return self.http.get("/health").status_code == 200

        eventually(up, timeout=30, what=f"control plane up (log: {self.server.log_path})")

    def login_admin(self) -> None:
        """Sign the HTTP client in as the local admin (session cookie)."""
        response = self.http.post("/auth/login", json={"username": "admin", "password": self.admin_password})
        assert response.status_code == 200, f"POST /auth/login as admin: {response.status_code} {response.text}"

    def create_token(self, name: str, role: str, agent_id: str | None = None) -> str:
        body = {"name": name, "role": role, **({"agent_id": agent_id} if agent_id else {})}
        response = self.http.post("/auth/tokens", json=body)
        assert response.status_code in (200, 201), f"POST /auth/tokens: {response.status_code} {response.text}"
        return str(response.json()["token"])

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def put_pipeline(self, name: str, yaml_text: str, **extra: Any) -> Any:
        response = self.http.put(f"/pipelines/{name}", json={"yaml": yaml_text, **extra})
        assert response.status_code in (200, 201), response.text
        return response.json()

    def start_agent(self, agent_id: str, *extra: str) -> Proc:
        """An agent process with a token of role ``agent`` (created through the API), online before returning."""
        token = self.create_token(f"agent {agent_id}", "agent", agent_id)
        env = {**self.env, "CONDUIX_CONTROL_TOKEN": token}
        proc = Proc(["agent", "start", "--control-url", self.url, "--agent-id", agent_id,
                     "--state-dir", str(self.root / f"agent-{agent_id}"), "--allow-path", str(self.root), *extra],
                    self.root / f"agent-{agent_id}.log", env)
        self.procs.append(proc)
        self.agents.append(agent_id)

        def online() -> bool:
            if proc.proc.poll() is not None:
                pytest.fail(f"agent {agent_id} exited with {proc.proc.returncode}:\n{proc.log()}")
            return any(a["id"] == agent_id and a["status"] == "online" for a in self.get("/agents"))

        eventually(online, timeout=30, what=f"agent {agent_id} online (log: {proc.log_path})")
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {p.log_path.name}\n{p.log()[-4000:]}" for p in self.procs)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.http.close()


@contextlib.contextmanager
def _logs_on_failure(request: pytest.FixtureRequest, cp: UiControl,
                     provider: OidcProvider | None = None) -> Iterator[None]:
    """Stop the control plane's processes afterwards; print their logs when the setup or the test failed."""
    failed = True
    try:
        yield
        report = getattr(request.node, "rep_call", None)
        failed = report is not None and report.failed
    finally:
        if failed:
            sys.stderr.write(cp.logs())
            if provider is not None:
                sys.stderr.write(f"\n--- {provider.log_path.name}\n{provider.log()[-4000:]}\n")
        cp.stop()


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, **FAST_CONTROL, "CONDUIX_STATE_DIR": str(root / "state"), "PYTHONUNBUFFERED": "1"}
    for key in [k for k in env if k.startswith(("CONDUIX_CONTROL_OIDC_", "CONDUIX_CONTROL_TOKEN"))]:
        del env[key]  # whatever the developer's shell has set, the test says what it wants
    env.update(extra)
    return env


@contextlib.contextmanager
def local_control(tmp_path: Path, control_port: int, request: pytest.FixtureRequest,
                  *agent_args: str) -> Iterator[UiControl]:
    """A control plane in local-auth mode (admin password ``ADMIN_PASSWORD``) and one agent, ``agent-1``,
    running with a token of role agent created through the API, allowed to run python stages, started with
    ``agent_args`` besides."""
    cp = UiControl(tmp_path, control_port, _env(tmp_path, CONDUIX_CONTROL_ADMIN_PASSWORD=ADMIN_PASSWORD))
    with _logs_on_failure(request, cp):
        cp.login_admin()
        cp.start_agent("agent-1", "--allow-code", *agent_args)
        yield cp


@pytest.fixture
def control(tmp_path: Path, control_port: int, request: pytest.FixtureRequest) -> Iterator[UiControl]:
    """:func:`local_control`, its agent with no further options."""
    with local_control(tmp_path, control_port, request) as cp:
        yield cp


@pytest.fixture
def control_oidc(tmp_path: Path, control_port: int, oidc_provider: OidcProvider,
                 request: pytest.FixtureRequest) -> Iterator[UiControl]:
    """A control plane signing users in through ``oidc_provider``; the provider's group ``conduix-admins`` is the
    role admin, ``viewer`` is viewer (the default mapping), and a user with neither is refused."""
    env = _env(tmp_path,
               CONDUIX_CONTROL_OIDC_DISCOVERY_URL=oidc_provider.discovery_url,
               CONDUIX_CONTROL_OIDC_CLIENT_ID=oidc_provider.client_id,
               CONDUIX_CONTROL_OIDC_CLIENT_SECRET=oidc_provider.client_secret,
               CONDUIX_CONTROL_OIDC_ROLE_MAP="conduix-admins=admin,viewer=viewer",
               CONDUIX_CONTROL_PUBLIC_URL=f"http://127.0.0.1:{control_port}")
    cp = UiControl(tmp_path, control_port, env)
    with _logs_on_failure(request, cp, oidc_provider):
        yield cp
