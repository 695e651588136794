"""Run VRL's own behaviour tests against Conduix remap; print the pass rate and the failures by kind.

A development tool, not a test: it reads a checkout of https://github.com/vectordotdev/vrl (a work tree
or a bare git directory) and copies nothing of it into this repository. Our own tests state each
behaviour in their own words (tests/core/remap).

    python tools/vrl_conformance.py PATH               # summary: pass rate, failures by kind
    python tools/vrl_conformance.py PATH --failures    # and every failing test with what we got
    python tools/vrl_conformance.py PATH -k closure    # only tests whose name contains "closure"
    nox -s vrl -- PATH                                 # the same through nox

What runs: the behaviour tests ``lib/tests/**/*.vrl`` and the ``example!`` blocks of
``src/stdlib/**/*.rs``, restricted to the tests whose every function call is a function remap has
(the supported subset). Tests that configure VRL's host rather than the language (read-only paths)
are counted apart as not applicable.

How a test passes, as VRL's own runner decides (lib/tests and src/test in VRL), with one relaxation:
  - a value: the program's result, as JSON, equals the expected JSON (1 and 1.0 differ, as in serde);
    examples VRL marks non-deterministic need the same JSON type only;
  - a runtime error: the message equals VRL's (``function call error for "f" at (s:e): ...``);
    ``result: ~`` tests need only contain it;
  - ``abort``: the event afterwards equals the expected JSON;
  - a compile-time diagnostic: remap refuses the program at the same line (VRL compares its whole
    rendered diagnostic; our messages are worded like VRL's but not drawn the same way);
  - ``# SKIP`` tests and ``skip: true`` examples only need to compile.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -- reading a VRL checkout ------------------------------------------------------------------------------


class Checkout:
    """Files of a VRL work tree or bare git directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bare = not (root / "lib").is_dir() and (root / "HEAD").is_file()

    def files(self, prefix: str, suffix: str) -> list[str]:
        if not self.bare:
            base = self.root / prefix
            return sorted(str(p.relative_to(self.root)) for p in base.rglob(f"*{suffix}"))
        names = subprocess.run(["git", "--git-dir", str(self.root), "ls-tree", "-r", "--name-only", "HEAD", prefix],
                               check=True, capture_output=True, text=True).stdout.split("\n")
        return sorted(n for n in names if n.endswith(suffix))

    def read(self, name: str) -> str:
        if not self.bare:
            return (self.root / name).read_text(encoding="utf-8")
        return subprocess.run(["git", "--git-dir", str(self.root), "show", f"HEAD:{name}"], check=True,
                              capture_output=True).stdout.decode("utf-8")


@dataclass
class Case:
    name: str
    origin: str  # file (and line for examples)
    source: str
    expected: str
    event: Any = field(default_factory=dict)
    approx: bool = False
    compile_only: bool = False
    type_only: bool = False
    expect_error: bool = False  # examples: ``result: Err(...)``
    not_applicable: str = ""


def read_vrl_test(name: str, text: str) -> Case:
    """A ``.vrl`` behaviour test: ``# object:``, ``# result:`` header comments, then the program."""
    source: list[str] = []
    obj: list[str] = []
    result: list[str] = []
    mode = "none"
    approx = False
    read_only = False
    for line in text.splitlines():
        if line.startswith("#") and mode != "done":
            line = line[1:]
            line = line[1:] if line.startswith(" ") else line
            if line.startswith("object:"):
                mode, line = "object", line[len("object:"):].lstrip()
            elif line.startswith("result: ~"):
                mode, approx, line = "result", True, line[len("result: ~"):].lstrip()
            elif line.startswith("result:"):
                mode, line = "result", line[len("result:"):].lstrip()
            elif line.startswith("read_only"):
                read_only = True
                continue
            if mode == "result":
                result.append(line)
            elif mode == "object":
                obj.append(line)
        else:
            mode = "done"
            source.append(line)
    event: Any = json.loads("".join(obj)) if obj else {}
    return Case(name, name, "\n".join(source) + "\n", "\n".join(result).rstrip(), event, approx,
                compile_only=text.startswith("# SKIP"),
                not_applicable="sets read-only paths (a Vector host setting)" if read_only else "")


_RUST_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
        elif text.startswith("//", pos):
            pos = text.index("\n", pos)
        else:
            break
    return pos


def _rust_string(text: str, pos: int) -> tuple[str, int]:
    """A Rust string literal (``"..."``, ``r"..."``, ``r#"..."#``), ``indoc!``/``concat!`` of them."""
    pos = _skip_space(text, pos)
    for macro in ("indoc!", "concat!"):
        if text.startswith(macro, pos):
            pos = _skip_space(text, pos + len(macro))
            closer = {"{": "}", "(": ")"}[text[pos]]
            parts = []
            pos += 1
            while True:
                pos = _skip_space(text, pos)
                if text[pos] == closer:
                    joined = "".join(parts)
                    if macro == "indoc!":
                        joined = textwrap.dedent(joined[1:] if joined.startswith("\n") else joined)
                    return joined, pos + 1
                if text[pos] == ",":
                    pos += 1
                    continue
                part, pos = _rust_string(text, pos)
                parts.append(part)
    if text[pos] == "r":
        hashes = len(text[pos + 1:]) - len(text[pos + 1:].lstrip("#"))
        start = pos + 1 + hashes
        close = '"' + "#" * hashes
        end = text.index(close, start + 1)
        return text[start + 1:end], end + len(close)
    if text[pos] != '"':
        raise ValueError(f"not a string literal: {text[pos:pos + 30]!r}")
    out: list[str] = []
    i = pos + 1
    while text[i] != '"':
        if text[i] != "\\":
            out.append(text[i])
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "\n":
            i = _skip_space(text, i + 2)
        elif nxt == "u":
            close = text.index("}", i)
            out.append(chr(int(text[i + 3:close], 16)))
            i = close + 1
        elif nxt == "x":
            out.append(chr(int(text[i + 2:i + 4], 16)))
            i += 4
        else:
            out.append(_RUST_ESCAPES[nxt])
            i += 2
    return "".join(out), i + 1


_KEY = re.compile(r"([a-z_]+)\s*:")
_RESULT = re.compile(r"(Ok|Err)\s*\(")
_FLAG = re.compile(r"(true|false)")


def read_examples(name: str, text: str) -> tuple[list[Case], list[str]]:
    """The ``example! { title, source, [input], result, [deterministic], [skip] }`` blocks of a stdlib file."""
    cases: list[Case] = []
    problems: list[str] = []
    for match in re.finditer(r"\bexample!\s*\{", text):
        line = text.count("\n", 0, match.end()) + 1
        fields: dict[str, Any] = {}
        pos = match.end()
        try:
            while True:
                pos = _skip_space(text, pos)
                if text[pos] == "}":
                    break
                key = _KEY.match(text, pos)
                if key is None:
                    raise ValueError(f"unexpected {text[pos:pos + 30]!r}")
                pos = _skip_space(text, key.end())
                if key.group(1) == "result":
                    kind = _RESULT.match(text, pos)
                    if kind is None:
                        raise ValueError("result is not Ok(...) or Err(...)")
                    value, pos = _rust_string(text, kind.end())
                    pos = _skip_space(text, pos)
                    pos = _skip_space(text, pos + 1) if text[pos] == "," else pos
                    if text[pos] != ")":
                        raise ValueError("unclosed result")
                    fields["result"] = (kind.group(1), value)
                    pos += 1
                elif key.group(1) in ("deterministic", "skip"):
                    flag = _FLAG.match(text, pos)
                    if flag is None:
                        raise ValueError(f"{key.group(1)} is not a literal")
                    fields[key.group(1)], pos = flag.group(1) == "true", flag.end()
                else:
                    fields[key.group(1)], pos = _rust_string(text, pos)
                pos = _skip_space(text, pos)
                pos += text[pos] == ","
            kind, expected = fields["result"]
            cases.append(Case(f"{Path(name).stem}: {fields['title']}", f"{name}:{line}", fields["source"], expected,
                              json.loads(fields["input"]) if "input" in fields else {},
                              compile_only=fields.get("skip", False),
                              type_only=not fields.get("deterministic", True), expect_error=kind == "Err"))
        except (ValueError, KeyError, IndexError) as exc:
            problems.append(f"{name}:{line}: example not read ({exc})")
    return cases, problems


# -- the supported subset ------------------------------------------------------------------------------

_LITERALS = re.compile(r'"(?:[^"\\]|\\.)*"|[srt]\'(?:[^\'\\]|\\.)*\'|#[^\n]*', re.S)
_CALL = re.compile(r"(?<![\w.%@])([A-Za-z_][A-Za-z0-9_]*)\s*!?\s*\(")
_KEYWORDS = {"if", "else", "abort", "return", "null", "true", "false", "for", "loop", "while", "let", "fn"}


def functions_called(source: str) -> set[str]:
    return {m.group(1) for m in _CALL.finditer(_LITERALS.sub('""', source))} - _KEYWORDS


# -- running one test ----------------------------------------------------------------------------------


def same_json(got: Any, want: Any) -> bool:
    """JSON equality as serde_json sees it: 1 and 1.0 differ, and so do true and 1."""
    if type(got) is not type(want):
        return False
    if type(got) is dict:
        return got.keys() == want.keys() and all(same_json(got[k], want[k]) for k in got)
    if type(got) is list:
        return len(got) == len(want) and all(same_json(a, b) for a, b in zip(got, want))
    if type(got) is float and math.isnan(got):
        return math.isnan(want)
    return bool(got == want)


def expected_value(text: str) -> Any:
    text = text.strip()
    if len(text) > 2 and text[0] in "rts" and text[1] == "'" and text.endswith("'"):
        body = text[2:-1]
        if text[0] == "t":
            from conduix.remap.values import format_rfc3339, parse_rfc3339

            try:
                return format_rfc3339(parse_rfc3339(body))
            except ValueError:
                return text
        return body.replace("\\'", "'") if text[0] == "r" else body
    try:
        return json.loads(text)
    except ValueError:
        return text


_DIAGNOSTIC_AT = re.compile(r"┌─ :(\d+):(\d+)")


@dataclass
class Outcome:
    passed: bool
    kind: str = ""
    detail: str = ""


class _Timeout(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def run_case(case: Case) -> Outcome:
    from conduix.errors import RemapAbort, RemapCompileError, RemapError
    from conduix.remap import compile as compile_remap

    want_text = case.expected.strip()
    want_warning = want_text.startswith("warning[E")
    want_diagnostic = not case.expect_error and not want_warning and (
        "error[E" in want_text or (case.approx and not _looks_like_value(want_text)))
    event = json.loads(json.dumps(case.event))
    try:
        program = compile_remap(case.source)
    except RemapCompileError as exc:
        if want_diagnostic:
            if case.approx:  # VRL checks only that its first diagnostics' titles contain these lines
                first = want_text.split("\n")[0].strip().lower()
                if first in exc.message.lower():
                    return Outcome(True)
                return Outcome(False, "refused for another reason", f"VRL: {first}; ours: {exc.message}")
            at = _DIAGNOSTIC_AT.search(want_text)
            if at is None or int(at.group(1)) == exc.line:
                return Outcome(True)
            return Outcome(False, "refused at another line", f"VRL line {at.group(1)}, ours: {exc}")
        return Outcome(False, f"refuses valid VRL: {_message_kind(exc.message)}", str(exc))
    except Exception as exc:  # a bug of ours: report it and go on
        return Outcome(False, "crash at compile time", f"{type(exc).__name__}: {exc}")
    if want_diagnostic:
        return Outcome(False, f"accepts what VRL refuses: {_diagnostic_title(want_text)}", want_text.split("\n")[0])
    if want_warning:  # the first warning's title (up to any quoted name) and line
        title = _diagnostic_title(want_text).split("`")[0].strip().lower()
        at = _DIAGNOSTIC_AT.search(want_text)
        first = program.warnings[0] if program.warnings else ""
        if title in first.lower() and (at is None or first.startswith(f"line {at.group(1)},")):
            return Outcome(True)
        return Outcome(False, f"no compile-time warning: {_diagnostic_title(want_text)}",
                       f"want: {want_text.splitlines()[0]}\n      ours: {program.warnings}")
    if case.compile_only:
        return Outcome(True)
    signal.alarm(10)
    try:
        value, _ = program.evaluate(event)
    except RemapAbort:
        after = _export(event)
        if same_json(after, expected_value(want_text)):
            return Outcome(True)
        return Outcome(False, "abort", f"want event {want_text[:300]}, got {json.dumps(after)[:300]}")
    except RemapError as exc:
        got = exc.message
        if got == want_text or case.approx:  # VRL's partial check passes any runtime error
            return Outcome(True)
        if case.expect_error or not _looks_like_value(want_text):
            kind = "error message differs" if _core(got) != _core(want_text) else "error position differs"
            return Outcome(False, kind, f"want: {want_text}\n      got:  {got}")
        return Outcome(False, "runtime error where VRL succeeds", f"{got}\n      want: {want_text[:300]}")
    except _Timeout:
        return Outcome(False, "timeout")
    except Exception as exc:
        return Outcome(False, "crash at run time", f"{type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
    if case.expect_error:
        return Outcome(False, "no error where VRL fails", f"want: {want_text}\n      got:  {json.dumps(value)[:300]}")
    want = expected_value(want_text)
    if case.type_only:
        ok = type(value) is type(want)
        return Outcome(ok, "" if ok else "wrong kind of value", f"want {want_text[:100]}, got {json.dumps(value)}")
    if same_json(value, want):
        return Outcome(True)
    if isinstance(want, str) and not _looks_like_value(want_text) and "error" in want_text:
        return Outcome(False, "no error where VRL fails", f"want: {want_text}\n      got:  {json.dumps(value)[:300]}")
    return Outcome(False, "wrong value", f"want: {json.dumps(want, sort_keys=True)[:400]}\n"
                                         f"      got:  {json.dumps(value, sort_keys=True)[:400]}")


def _export(value: Any) -> Any:
    from conduix.remap.values import export

    return export(value)


def _looks_like_value(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return len(text) > 2 and text[0] in "rts" and text[1] == "'"


_SPAN = re.compile(r" at \(\d+:\d+\)")


def _core(message: str) -> str:
    return _SPAN.sub("", message).strip()


def _message_kind(message: str) -> str:
    for prefix in ("unhandled fallible", "syntax error", "invalid argument type", "call to undefined function",
                   "undefined variable", "invalid regular expression", "unknown argument"):
        if message.startswith(prefix):
            return prefix
    return re.sub(r'"[^"]*"', '"…"', message)[:60]


def _diagnostic_title(text: str) -> str:
    match = re.search(r"(?:error|warning)\[E\d+\]: ([^\n]+)", text)
    return match.group(1) if match else text.split("\n")[0][:60]


# -- the report ----------------------------------------------------------------------------------------


def collect(checkout: Checkout) -> tuple[list[Case], list[str]]:
    cases: list[Case] = []
    problems: list[str] = []
    for name in checkout.files("lib/tests", ".vrl"):
        if "/fixme/" in name:
            continue
        try:
            cases.append(read_vrl_test(name, checkout.read(name)))
        except ValueError as exc:
            problems.append(f"{name}: test not read ({exc})")
    for name in checkout.files("src/stdlib", ".rs"):
        found, unread = read_examples(name, checkout.read(name))
        cases += found
        problems += unread
    return cases, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("vrl", type=Path, help="a checkout (work tree or bare git directory) of vectordotdev/vrl")
    parser.add_argument("-k", dest="pattern", help="only tests whose name or file contains this")
    parser.add_argument("--failures", action="store_true", help="list every failing test")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    args = parser.parse_args(argv)

    from conduix.remap import function_names

    signal.signal(signal.SIGALRM, _on_alarm)
    supported = set(function_names())
    checkout = Checkout(args.vrl.resolve())
    cases, problems = collect(checkout)
    if not checkout.bare:  # tests name data files relative to the checkout, as VRL's runner sees them
        os.chdir(checkout.root)
    if args.pattern:
        cases = [c for c in cases if args.pattern in c.name or args.pattern in c.origin]
    outside: Counter[str] = Counter()
    not_applicable = 0
    results: list[tuple[Case, Outcome]] = []
    for case in cases:
        missing = functions_called(case.source) - supported
        if missing:
            outside.update(missing)
            continue
        if case.not_applicable:
            not_applicable += 1
            continue
        results.append((case, run_case(case)))

    by_kind: dict[str, list[tuple[Case, Outcome]]] = defaultdict(list)
    for case, outcome in results:
        if not outcome.passed:
            by_kind[outcome.kind].append((case, outcome))
    passed = sum(o.passed for _, o in results)
    groups = {"behaviour tests": [r for r in results if r[0].origin.endswith(".vrl")],
              "stdlib examples": [r for r in results if not r[0].origin.endswith(".vrl")]}
    summary = {
        "total": len(cases), "outside_subset": len(cases) - len(results) - not_applicable,
        "not_applicable": not_applicable, "run": len(results), "passed": passed,
        "pass_rate": round(passed / len(results), 4) if results else None,
        **{f"{g} passed": f"{sum(o.passed for _, o in rs)}/{len(rs)}" for g, rs in groups.items()},
        "failures": {k: len(v) for k, v in sorted(by_kind.items(), key=lambda kv: -len(kv[1]))},
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    if args.failures:
        for kind, items in sorted(by_kind.items()):
            print(f"\n== {kind} ({len(items)})")
            for case, outcome in items:
                print(f"  - {case.name} ({case.origin})\n      {outcome.detail}")
    print(f"\nVRL tests read: {len(cases)}; outside the supported subset: {summary['outside_subset']} "
          f"(most wanted functions: {', '.join(f'{n} {c}' for n, c in outside.most_common(8))}); "
          f"not applicable: {not_applicable}")
    for group, rows in groups.items():
        ok = sum(o.passed for _, o in rows)
        print(f"{group}: {ok}/{len(rows)} pass" + (f" ({100 * ok / len(rows):.1f}%)" if rows else ""))
    if results:
        print(f"supported subset: {passed}/{len(results)} pass ({100 * passed / len(results):.1f}%)")
    print("failures by kind:")
    for kind, count in summary["failures"].items():
        print(f"  {count:4d}  {kind}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
