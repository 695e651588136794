"""Issue 17, item 5: a small request cannot take the control plane's memory, nor a small file the CLI's.

Attacks against a real control plane process and the real ``conduix`` CLI: a "billion laughs" YAML of a few
hundred bytes (aliases of aliases), a recursive alias, a YAML document over the size limit, and request bodies
of 30 MB, declared and sent in chunks. Each is refused with a clear message and the server keeps answering.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from conduix.config.yamlsource import MAX_ALIAS_VALUES, MAX_YAML_BYTES


def laughs(levels: int = 9) -> str:
    """A pipeline whose generated record expands to 10**levels strings through aliases (~700 bytes of YAML)."""
    lines = ["version: 1", "name: probe", "sources:", "  numbers:", "    type: generate", "    count: 1",
             "    record:", "      x0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        lines.append(f"      x{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    lines += ["sinks:", "  out: {type: blackhole, inputs: [numbers]}"]
    return "\n".join(lines) + "\n"


RECURSIVE = "version: 1\nname: probe\nsources: &s\n  numbers: *s\nsinks: {}\n"


@pytest.fixture
def viewer(stack: Any) -> Iterator[tuple[Any, httpx.Client]]:
    cp = stack.control()
    with httpx.Client(base_url=cp.url, timeout=60, headers={"Authorization": f"Bearer {cp.token('viewer')}"}) as c:
        yield cp, c


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def test_yaml_alias_bombs_and_oversized_documents_are_refused_by_the_control_plane(
        viewer: tuple[Any, httpx.Client]) -> None:
    cp, client = viewer
    bomb = laughs()
    assert len(bomb) < 800
    before = rss(cp.pid)
    answer = client.post("/pipelines/probe/validate", json={"yaml": bomb})
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] is False
    [error] = answer.json()["errors"]
    assert f"YAML aliases repeat more than {MAX_ALIAS_VALUES} values" in error["message"]
    assert error["hint"] and error["line"] is not None
    saved = httpx.put(f"{cp.url}/pipelines/probe", json={"yaml": bomb}, timeout=60,
                      headers={"Authorization": f"Bearer {cp.token('admin')}"})
    assert saved.status_code == 422 and "aliases repeat" in saved.text, saved.text
    # the 10**9 strings were never built: the server grew by far less than one expansion level would take
    assert rss(cp.pid) - before < 64 * 1024 * 1024

    recursive = client.post("/pipelines/probe/validate", json={"yaml": RECURSIVE}).json()
    assert recursive["errors"][0]["message"] == "recursive YAML alias (a value that contains itself)"

    big = "version: 1\nname: probe\n# " + "x" * MAX_YAML_BYTES + "\nsources: {}\n"
    answer = client.post("/pipelines/probe/validate", json={"yaml": big})
    assert answer.status_code == 200, answer.text
    assert "YAML document too large" in answer.json()["errors"][0]["message"]
    assert client.get("/pipelines").status_code == 200


def test_request_bodies_over_the_limit_are_answered_413(viewer: tuple[Any, httpx.Client]) -> None:
    cp, client = viewer
    before = rss(cp.pid)
    huge = b'{"yaml": "' + b"x" * (30 * 1024 * 1024) + b'"}'
    declared = client.post("/pipelines/probe/validate", content=huge, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert "request body too large: the limit is 2097152 bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count
        yield b'{"yaml": "'
        for _ in range(30):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    chunked = client.post("/pipelines/probe/validate", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413, chunked.text
    assert "request body too large" in chunked.json()["detail"]
    assert rss(cp.pid) - before < 20 * 1024 * 1024  # never held the 30 MB
    assert client.post("/pipelines/probe/validate", json={"yaml": laughs(2)}).json()["valid"] is True


def test_conduix_validate_refuses_alias_bombs_and_oversized_files(tmp_path: Path) -> None:
    cases = {"bomb.yaml": (laughs(), f"YAML aliases repeat more than {MAX_ALIAS_VALUES} values"),
             "recursive.yaml": (RECURSIVE, "recursive YAML alias"),
             "big.yaml": ("version: 1\n# " + "x" * MAX_YAML_BYTES + "\n", "YAML document too large")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        done = subprocess.run([sys.executable, "-m", "conduix", "validate", str(tmp_path / name)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stdout + done.stderr
        assert message in done.stdout + done.stderr and "Traceback" not in done.stderr
