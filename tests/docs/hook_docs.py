"""The "Hooks" section of docs/plugins.md, generated from the hook specs' docstrings (conduix.hookspecs).

The page marks it with ``<!-- hooks -->`` ... ``<!-- /hooks -->``; ``python -m tests.docs.hook_docs`` rewrites
it, tests/docs/test_hook_docs.py fails when it is stale.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "plugins.md"
BLOCK = re.compile(r"<!-- hooks -->\n.*?<!-- /hooks -->\n", re.S)
_PARAM = re.compile(r"^:param (\w+):", re.M)


def hooks() -> list[tuple[str, Callable[..., Any]]]:
    """The hook specs, in the order they are written."""
    from conduix import hookspecs

    found = [(name, f) for name, f in vars(hookspecs).items() if name.startswith("conduix_") and callable(f)]
    return sorted(found, key=lambda item: inspect.getsourcelines(item[1])[1])


def parse(doc: str) -> tuple[str, dict[str, str]]:
    """The text of a docstring and its ``:param name:`` entries."""
    text = inspect.cleandoc(doc)
    first = _PARAM.search(text)
    body, rest = (text[:first.start()], text[first.start():]) if first else (text, "")
    params = {}
    for match in re.finditer(r"^:param (\w+):(.*?)(?=^:param |\Z)", rest, re.M | re.S):
        params[match[1]] = " ".join(match[2].split())
    return body.strip(), params


def markdown(text: str) -> str:
    """reST as Markdown: literals, roles, ``::`` code blocks."""
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([\w]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.endswith("::"):
            out.append(line[:-1])
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            code = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                code.append(lines[i][4:])
                i += 1
            while code and not code[-1].strip():
                code.pop()
            out += ["", "<!-- excerpt -->", "```python", *code, "```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out).strip()


def section() -> str:
    parts = ["<!-- hooks -->",
             "<!-- generated from the docstrings in conduix/hookspecs.py: python -m tests.docs.hook_docs -->"]
    for name, func in hooks():
        params = list(inspect.signature(func).parameters)
        body, documented = parse(func.__doc__ or "")
        parts += ["", f"### `{name}({', '.join(params)})`", "", markdown(body), ""]
        parts += [f"- `{p}`: {markdown(documented.get(p, '**not documented**'))}" for p in params]
    return "\n".join(parts) + "\n<!-- /hooks -->\n"


def render(text: str) -> str:
    return BLOCK.sub(lambda m: section(), text)


if __name__ == "__main__":
    PAGE.write_text(render(PAGE.read_text()))
    sys.exit(0)
