"""Every Python block of README.md and docs/ runs, so the documented API cannot drift from the code.

- A block with no marker runs as a script (a fresh interpreter) in an empty directory that holds what the docs
  take for granted: ``pipeline.yaml`` (a ``generate`` source ``numbers`` and a ``blackhole`` sink ``out``),
  ``mymod.py`` (``double(record)``) and ``examples/`` (the repository's). Test functions it defines
  (``def test_...``) are called. It must exit 0.
- ``<!-- excerpt -->``: part of a program (names defined elsewhere, ``...`` placeholders): it must compile, and
  what it imports must exist.

The convention: docs/contributing.md.
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.docs.snippets import MARKERS, ROOT, Block, all_blocks

BLOCKS = all_blocks("python", "py")

PIPELINE = """\
name: orders
sources:
  numbers: {type: generate, count: 100}
sinks:
  out: {type: blackhole, inputs: [numbers]}
"""
MYMOD = """\
def double(record):
    record["seq"] *= 2
    return record
"""
CALL_TESTS = """

for _name, _value in list(globals().items()):
    if _name.startswith("test_") and callable(_value):
        _value()
"""


def imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in the block."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_python_block(block: Block, tmp_path: Path) -> None:
    if block.marker is not None and block.marker != "excerpt":
        pytest.fail(f"{block.where}: a Python block takes no marker but <!-- excerpt --> (got <!-- {block.marker} "
                    f"-->; markers: {', '.join(MARKERS)}; docs/contributing.md)")
    source = "\n" * (block.line - 1) + block.text  # errors name the Markdown file's own lines
    try:
        tree = ast.parse(source, block.path)
    except SyntaxError as exc:
        pytest.fail(f"{block.where}: not valid Python: {exc}", pytrace=False)
    missing = []
    for module, names in imports(tree):
        try:
            imported = importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"import {module}: {exc}")
            continue
        missing += [f"from {module} import {name}: no such name" for name in names
                    if name != "*" and not hasattr(imported, name)
                    and importlib.util.find_spec(f"{module}.{name}") is None]
    if missing:
        pytest.fail(f"{block.where}: the block imports what does not exist:\n" + "\n".join(missing), pytrace=False)
    if block.marker == "excerpt":
        return

    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    (tmp_path / "mymod.py").write_text(MYMOD)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    script = tmp_path / "snippet.py"
    script.write_text(source + CALL_TESTS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
           "CONDUIX_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    output = (done.stdout + done.stderr)[-3000:].replace(str(script), block.path)
    if done.returncode != 0:
        pytest.fail(
        f"{block.where}: the block failed when run as a script (in a directory with pipeline.yaml, mymod.py and "
        f"examples/):\n{textwrap.indent(output, '    ')}\nFix the block; if it is part of a program (names "
        "defined elsewhere, placeholders), put <!-- excerpt --> on the line before its ``` fence "
        "(docs/contributing.md).", pytrace=False)


def test_the_docs_have_python_blocks_that_run() -> None:
    runnable = [b for b in BLOCKS if b.marker is None]
    assert len(runnable) >= 5 and {b.path for b in runnable} >= {"docs/python-api.md", "docs/writing-a-plugin.md"}
