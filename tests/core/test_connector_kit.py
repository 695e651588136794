"""The connector kit (conduix.connector): one documented surface, and connectors that use nothing else."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import threading

import pytest

import conduix
import conduix.connector
import conduix.testing
from conduix.config.model import RetrySettings
from conduix.connector import RetryableError
from conduix.runtime.policy import Retrier
from tests.conftest import ROOT

#: what a connector may import from core: the exported names of these modules
EXPORTED = {"conduix": set(conduix.__all__), "conduix.connector": set(conduix.connector.__all__),
            "conduix.testing": set(conduix.testing.__all__)}
CONNECTOR_SOURCES = sorted([*ROOT.glob("conduix-connectors-*/src"), *ROOT.glob("examples/*/src")])


def core_imports(source: str) -> list[tuple[int, str, str | None]]:
    """(line, module, name) of every import of a core module (``conduix`` or ``conduix.*``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and (
                node.module == "conduix" or node.module.startswith("conduix.")):
            found.extend((node.lineno, node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, None) for alias in node.names
                         if alias.name == "conduix" or alias.name.startswith("conduix."))
    return found


def offences(source: str, where: str) -> list[str]:
    return [f"{where}:{line}: {module}{'' if name is None else '.' + name}"
            for line, module, name in core_imports(source)
            if name is None or name not in EXPORTED.get(module, set())]


def test_connectors_import_nothing_of_core_but_the_exported_surface():
    assert len(CONNECTOR_SOURCES) >= 5  # four connector packages and the example plugin
    found = []
    for src in CONNECTOR_SOURCES:
        for path in sorted(src.rglob("*.py")):
            found += offences(path.read_text(), str(path.relative_to(ROOT)))
    assert not found, "import these from conduix.connector (or export them there):\n" + "\n".join(found)


def test_the_check_catches_a_private_import():
    assert offences("from conduix.components import Rejected\nimport conduix.templates\n"
                    "from conduix.connector import Nope\nfrom conduix.connector import Rejected\n", "x.py") == [
        "x.py:1: conduix.components.Rejected", "x.py:2: conduix.templates", "x.py:3: conduix.connector.Nope"]


def test_a_plugin_written_as_the_guide_says_needs_only_the_kit():
    guide = (ROOT / "docs" / "writing-a-plugin.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, re.S)
    assert blocks and any("conduix.connector" in block for block in blocks)
    found = [problem for i, block in enumerate(blocks) for problem in offences(block, f"block {i + 1}")]
    assert not found, found


def test_every_name_of_the_kit_resolves_is_typed_and_documented():
    guide = (ROOT / "docs" / "writing-a-plugin.md").read_text()
    for name in conduix.connector.__all__:
        assert getattr(conduix.connector, name) is not None
        assert f"`{name}`" in guide, f"docs/writing-a-plugin.md does not describe conduix.connector.{name}"
    assert (ROOT / "conduix-core" / "src" / "conduix" / "py.typed").exists()


def test_taking_the_registration_names_from_the_kit_imports_no_heavy_module():
    code = ("import sys; from conduix.connector import hookimpl, ComponentRegistry; "
            "print(sorted(m for m in ('opentelemetry', 'conduix.runtime', 'conduix.testing') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class RecordingEvent(threading.Event):
    """An event that is never set and remembers how long it was waited on."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return False


@pytest.mark.parametrize("retry_after, expected", [(7.5, 7.5), (0.0, 0.0), (-3, 0.0)])
def test_retry_after_replaces_the_backoff_delay_of_that_retry(retry_after, expected):
    waited = RecordingEvent()
    retrier = Retrier(RetrySettings(initial=100.0, max=100.0, jitter=0), waited, "sink", "out")
    calls = iter([RetryableError("busy", retry_after=retry_after), RetryableError("busy again"), None])

    def flaky() -> str:
        error = next(calls)
        if error is not None:
            raise error
        return "written"

    assert retrier.call(flaky) == "written"
    assert waited.waits == [expected, 100.0]  # the next failure without retry_after backs off as configured


def test_core_imports_none_of_the_packages_built_on_it():
    """Arrows point one way: connectors and the control plane use core, core plugs them in by entry points."""
    found = []
    for path in sorted((ROOT / "conduix-core" / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in names
                      if name.split(".")[0] in ("conduix_control", "conduix_kafka", "conduix_es", "conduix_s3",
                                                "conduix_messaging")]
    assert not found, found
