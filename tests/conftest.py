"""Shared fixtures: isolated state directories and running the real ``conduix`` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.running import conduix_process  # noqa: F401 (fixture)
from tests.servers import broker, es, es_url, s3, s3_url  # noqa: F401 (fixtures: the session's servers)

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--images", action="store_true",
                     help="also collect tests/images: they run a built image ($CONDUIX_TEST_IMAGE); `nox -s images` "
                          "builds it and runs them")


def pytest_configure(config: pytest.Config) -> None:
    # agents started by tests take a free port for their /metrics: 9599 is one per machine, and tests (of
    # several checkouts) run side by side; a test that needs a known port passes --metrics-port
    os.environ.setdefault("CONDUIX_AGENT_METRICS_PORT", "0")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/images is collected only with --images (``nox -s images``, which CI runs): building the image
    takes minutes, so the default run leaves those tests out instead of skipping them."""
    if collection_path == ROOT / "tests" / "images" and not config.getoption("--images"):
        return True
    return None


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUIX_STATE_DIR", str(tmp_path / "state"))


def conduix(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``conduix`` CLI as a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "conduix", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout, input=stdin)


#: a parent of its own measures the run's peak memory (ru_maxrss of its only child, in KiB, on stderr's last line)
_MEASURE = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(done.returncode)")


def conduix_peak_memory(*args: str, cwd: Path, env: dict[str, str] | None = None,
                        timeout: float = 300) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``conduix ARGS`` as :func:`conduix` does; also returns its peak resident memory in bytes."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "conduix", *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    *stderr, peak = done.stderr.strip().splitlines() or ["0"]
    done.stderr = "\n".join(stderr)
    return done, int(peak) * 1024


@pytest.fixture
def cli():
    return conduix
