"""Project sessions: tests, lint, typecheck, bench.

Packages are discovered, not listed: every top-level ``conduix-*`` folder with a
pyproject.toml is installed (core first), plus the example plugin packages.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox
import tomllib

ROOT = Path(__file__).parent
nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


def packages() -> list[str]:
    found = sorted(p.parent.name for p in ROOT.glob("conduix-*/pyproject.toml"))
    found.sort(key=lambda name: name != "conduix-core")  # the others depend on core
    return [f"./{name}" for name in found]


def example_plugins() -> list[str]:
    return [f"./{p.parent.relative_to(ROOT)}" for p in sorted(ROOT.glob("examples/*/pyproject.toml"))]


def with_test_extra(package: str) -> str:
    """``./pkg[test]`` when the package declares a ``test`` extra (test-only servers, clients)."""
    meta = tomllib.loads((ROOT / package / "pyproject.toml").read_text())
    extras = meta.get("project", {}).get("optional-dependencies", {})
    return f"{package}[test]" if "test" in extras else package


def install_project(session: nox.Session) -> None:
    editable: list[str] = []
    for package in packages():
        editable += ["-e", with_test_extra(package)]
    session.install(*editable)
    session.install(*example_plugins())  # after core: their dependency on it is then satisfied


#: command the tests need -> the Debian package that has it (PyPI has none of them)
SYSTEM_TOOLS = {"promtool": "prometheus", "chromium": "chromium", "npm": "npm"}


def install_system_tools(session: nox.Session) -> None:
    """Tools the tests need from the OS: promtool (Prometheus rules tests), Chromium (browser tests of the
    web UI, driven by Playwright with executable_path) and npm (the UI build, the tests' OIDC provider)."""
    missing = sorted({package for tool, package in SYSTEM_TOOLS.items() if not shutil.which(tool)})
    if not missing:
        return
    if not shutil.which("apt-get"):
        session.error(f"missing system packages: {', '.join(missing)} (Debian/Ubuntu: apt-get install ...)")
    session.run("bash", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                f"--no-install-recommends {' '.join(missing)} >/dev/null", external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite; fixtures start the servers each test needs."""
    install_system_tools(session)
    install_project(session)
    session.install("pytest-timeout>=2.3", "psutil>=5.9")
    session.run("pytest", "--timeout=300", *session.posargs)


@nox.session
def ui(session: nox.Session) -> None:
    """Build the web UI into conduix-control (the package build does the same when the files are stale)."""
    session.chdir("conduix-control/ui")
    session.run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", external=True)
    session.run("npm", "run", "build", external=True)


@nox.session
def screenshots(session: nox.Session) -> None:
    """Take the web UI screenshots in docs/images/ui again (a real control plane, agents and Chromium)."""
    install_system_tools(session)
    install_project(session)
    session.run("pytest", "-m", "screenshots", "tests/ui/test_screenshots.py", env={"CONDUIX_SCREENSHOTS": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    install_project(session)
    session.install("mypy>=1.11", "types-PyYAML")
    session.run("mypy", *[f"{p}/src" for p in packages()])


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: ratios of Conduix vs a plain Python loop, measured in one run."""
    install_project(session)
    session.run("python", "benchmarks/run.py", *session.posargs)
