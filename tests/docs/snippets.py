"""The fenced code blocks of README.md and docs/, with the marker written before each (see docs/contributing.md).

A marker is an HTML comment on the line before the opening fence (blank lines between are allowed):

- ``<!-- excerpt -->``: part of a pipeline (YAML) or of a program (Python), checked as such;
- ``<!-- not-a-pipeline -->``: YAML that is not a pipeline (compose, Helm values, alert rules, settings files).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKERS = ("excerpt", "not-a-pipeline")
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
_MARKER = re.compile(r"^\s*<!--\s*(?P<name>[\w-]+)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """A fenced block: ``line`` is the 1-based line of its first content line in ``path`` (relative to ROOT)."""

    path: str
    line: int
    lang: str
    text: str
    marker: str | None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def fence_line(self) -> int:
        return self.line - 1


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with its language and marker."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:end]]
        found.append(Block(str(path.relative_to(ROOT)), i + 2, opening.group("lang").lower(),
                           "\n".join(body) + "\n", _marker_before(lines, i)))
        i = end + 1
    return found


def _marker_before(lines: list[str], fence: int) -> str | None:
    j = fence - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    found = _MARKER.match(lines[j]) if j >= 0 else None
    return found.group("name") if found else None


def all_blocks(*langs: str) -> list[Block]:
    return [b for path in markdown_files() for b in blocks(path) if b.lang in langs]
