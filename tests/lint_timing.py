"""Flags tests that depend on the clock (run by ``nox -s lint``; ``tests/test_lint_timing.py`` runs it too).

A test that sleeps a fixed time and then asserts that something happened fails on a loaded machine; a wall-clock
upper bound fails on a slow one. Wait for what must happen with ``conduix.testing.eventually`` (it polls with a
deadline and returns as soon as it holds) or with a gate the test controls (an event a fake component sets).

Rules (``python tests/lint_timing.py [PATH ...]``, default ``tests/``):

- ``sleep-then-assert``: ``time.sleep``/``asyncio.sleep``/``page.wait_for_timeout`` followed, in the same block,
  by an ``assert``. A sleep that must last, such as "nothing may arrive for 1 s" before asserting that nothing did,
  says so on its line: ``time.sleep(1.5)  # sleep-ok: <why>``.
- ``deadline-loop``: a hand-written ``while`` loop that sleeps and reads the clock: use ``eventually``.
- ``clock-upper-bound``: an ``assert`` that a clock reading (``time.monotonic()``, ``time.time()``,
  ``time.perf_counter()`` or a variable computed from one) is below a bound. Lower bounds ("it waited at least as
  long as Retry-After said") are fine.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SLEEPS = {"sleep", "wait_for_timeout"}  # time.sleep, asyncio.sleep, sleep, page.wait_for_timeout
CLOCKS = {"monotonic", "time", "perf_counter", "monotonic_ns", "time_ns", "perf_counter_ns"}
SLEEP_OK = re.compile(r"#\s*sleep-ok:\s*\S")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Await):
        node = node.value
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _is_sleep(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and _call_name(stmt.value) in SLEEPS


def _is_clock_call(node: ast.AST) -> bool:
    """``time.monotonic()`` and friends (``time.time()``; not ``record.time`` nor ``t.time(x)``)."""
    return (isinstance(node, ast.Call) and not node.args and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCKS and isinstance(node.func.value, ast.Name) and node.func.value.id == "time")


def _walk_local(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under ``node``, not descending into nested functions, classes or lambdas."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        yield child
        yield from _walk_local(child)


def _asserts_in(stmts: list[ast.stmt]) -> Iterator[ast.Assert]:
    for stmt in stmts:
        if isinstance(stmt, ast.Assert):
            yield stmt
        elif not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield from (n for n in _walk_local(stmt) if isinstance(n, ast.Assert))


def _blocks(tree: ast.AST) -> Iterator[list[ast.stmt]]:
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield block
        for handler in getattr(node, "handlers", ()):
            yield handler.body


def _clock_names(function: ast.AST) -> set[str]:
    """Variables of ``function`` assigned from an expression that reads the clock (``elapsed = monotonic() - t``)."""
    names: set[str] = set()
    for node in _walk_local(function):
        if isinstance(node, ast.Assign) and any(_is_clock_call(n) for n in ast.walk(node.value)):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _reads_clock(node: ast.AST, clock_names: set[str]) -> bool:
    return any(_is_clock_call(n) or (isinstance(n, ast.Name) and n.id in clock_names) for n in ast.walk(node))


def check_source(text: str, path: str = "<test>") -> list[Finding]:
    tree = ast.parse(text, path)
    lines = text.splitlines()
    found: list[Finding] = []

    for block in _blocks(tree):
        for i, stmt in enumerate(block):
            if not _is_sleep(stmt) or SLEEP_OK.search(lines[stmt.lineno - 1]):
                continue
            assertion = next(_asserts_in(block[i + 1:]), None)
            if assertion is not None:
                found.append(Finding(path, stmt.lineno, "sleep-then-assert",
                                     f"a fixed sleep, then an assert (line {assertion.lineno}): wait for what must "
                                     "happen with conduix.testing.eventually(...) or a gate the test controls; if "
                                     "the sleep must last (nothing may happen meanwhile), end its line with "
                                     "'# sleep-ok: <why>'"))

    for node in ast.walk(tree):
        if isinstance(node, ast.While):
            sleeps = any(isinstance(n, ast.Expr) and _call_name(n.value) in SLEEPS for n in _walk_local(node))
            clock = any(_is_clock_call(n) or (isinstance(n, ast.Name) and n.id == "deadline")
                        for n in _walk_local(node))
            if sleeps and clock:
                found.append(Finding(path, node.lineno, "deadline-loop",
                                     "a hand-written wait loop: use conduix.testing.eventually(check, timeout, what)"))

    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module))]
    for function in functions:
        clock_names = _clock_names(function)
        for node in _walk_local(function):
            if not isinstance(node, ast.Assert):
                continue
            for compare in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
                sides = [compare.left, *compare.comparators]
                for left, op, right in zip(sides, compare.ops, sides[1:]):
                    bounded = (left if isinstance(op, (ast.Lt, ast.LtE)) else
                               right if isinstance(op, (ast.Gt, ast.GtE)) else None)
                    if bounded is not None and _reads_clock(bounded, clock_names):
                        found.append(Finding(path, node.lineno, "clock-upper-bound",
                                             "asserts that something took less than a time: on a loaded machine "
                                             "it takes longer; assert what happened instead (a count, a state, "
                                             "what was called)"))
    return sorted(set(found), key=lambda f: (f.line, f.rule))


def check_paths(paths: list[Path]) -> list[Finding]:
    found: list[Finding] = []
    for root in paths:
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for file in files:
            if "node_modules" in file.parts or file.name == Path(__file__).name:
                continue
            found += check_source(file.read_text(), str(file))
    return found


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or [Path(__file__).resolve().parent]
    found = check_paths(paths)
    for finding in found:
        print(finding)
    if found:
        print(f"{len(found)} test(s) depend on the clock; see tests/lint_timing.py for why and how to fix them",
              file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
