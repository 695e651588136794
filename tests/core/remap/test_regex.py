"""Regular expressions: linear-time matching (RE2), VRL's syntax, and clear errors for what RE2 lacks."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest

from conduix.errors import RemapCompileError
from conduix.remap import compile
from conduix.testing import eventually
from tests.conftest import ROOT

NESTED = r"r'^(a+)+$'"


def test_a_nested_quantifier_on_a_long_input_finishes():
    # Python's backtracking re needs ~2**n steps for this pattern on n a's followed by a non-match;
    # 32 a's froze a pipeline. RE2 takes time proportional to the input.
    program = compile(f".ok = match!(.m, {NESTED})")
    assert program.run({"m": "a" * 100_000 + "!"})["ok"] is False
    assert program.run({"m": "a" * 100_000})["ok"] is True


def test_every_function_that_takes_a_pattern_is_linear_time():
    evil = "a" * 50_000 + "!"
    source = f"""
        .m = string!(.m)
        .a = match(.m, {NESTED})
        .b = replace(.m, r'(a+)+b', "x")
        .c = length(split(.m, r'(a+)+b'))
        .d = parse_regex(.m, r'^(?P<x>(a+)+)$') ?? "no match"
        .e = parse_regex_all(.m, r'(?P<x>(a|aa)+)c') ?? "no match"
    """
    out = compile(source).run({"m": evil})
    assert out["a"] is False and out["b"] == evil and out["c"] == 1
    assert out["d"] == "no match" and out["e"] == "no match"


@pytest.mark.parametrize(("pattern", "words"), [
    ("(?=a)", "look-ahead"),
    ("a(?!b)", "look-ahead"),
    ("(?<=a)b", "look-behind"),
    ("(?<!a)b", "look-behind"),
    (r"(a)\1", "backreferences"),
    ("(?x) a b", "verbose"),
    ("[a-z&&[^aeiou]]", "set operations"),
    ("[a-z--aeiou]", "set operations"),
    (r"\b{start}word", "word-boundary"),
    ("a{2000}", "repetition"),
    ("[", "missing ]"),
])
def test_unsupported_constructs_are_compile_errors_at_the_literal(pattern, words):
    source = f'.x = 1\n.ok = match("", r\'{pattern}\')'
    with pytest.raises(RemapCompileError) as info:
        compile(source)
    err = info.value
    assert err.message.startswith("invalid regular expression: ")
    assert words in err.message, err.message
    assert (err.line, err.column) == (2, 17)  # where r'...' starts


def test_vrl_spellings_work():
    # named groups in both spellings, Rust's \u escapes, Unicode classes, flags
    assert compile(r".x = parse_regex!(.m, r'(?<a>\d+)-(?P<b>\d+)')").run({"m": "12-34"})["x"] == {"a": "12", "b": "34"}
    assert compile(r".x = match!(.m, r'^\u{48}\u0069$')").run({"m": "Hi"})["x"] is True
    assert compile(r".x = match!(.m, r'^\p{Greek}+$')").run({"m": "αβγ"})["x"] is True
    assert compile(r".x = match!(.m, r'(?i)^hello$')").run({"m": "HeLLo"})["x"] is True
    assert compile(r""".x = replace!(.m, r'(?P<w>\w+)@', "$w at ")""").run({"m": "bob@x"})["x"] == "bob at x"
    # a ] first in a class is a literal, and POSIX classes are fine
    assert compile(r".x = match!(.m, r'^[]a]+[[:digit:]]$')").run({"m": "]a]1"})["x"] is True


def test_regex_values_print_and_compare_as_vrl():
    value, _ = compile("r'a+b'").evaluate({})
    assert value == "a+b"
    assert compile("r'a+' == r'a+'").evaluate({})[0] is True
    assert compile("is_regex(r'x')").evaluate({})[0] is True


def test_a_running_pipeline_keeps_answering_health_while_matching(tmp_path):
    """The case that froze a pipeline: its /health kept answering and records kept flowing."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: regex\n"
        "sources:\n  gen: {type: generate, rate: 200, record: {m: x}}\n"
        "transforms:\n  check:\n    type: remap\n    inputs: [gen]\n    source: |\n"
        "      .m = \"a\" * 5000 + \"!\"\n"
        f"      .ok = match(.m, {NESTED})\n"
        "      del(.m)\n"
        "sinks:\n  out: {type: blackhole, inputs: [check]}\n")
    proc = subprocess.Popen([sys.executable, "-m", "conduix", "run", str(path), "--metrics-port", "0"], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "CONDUIX_STATE_DIR": str(tmp_path)})
    try:
        line = proc.stderr.readline()
        found = re.search(r"(http://\S+)/metrics", line)
        assert found, line + proc.stderr.read(2000)
        url = found.group(1)
        client = httpx.Client(timeout=10)

        def processed() -> bool:
            assert client.get(f"{url}/health").json() == {"status": "alive"}
            return client.get(f"{url}/status").json()["pipelines"][0]["components"]["check"]["records_out"] >= 50

        eventually(processed, 60, "50 records through the stage, /health alive meanwhile")
        assert client.get(f"{url}/health").json() == {"status": "alive"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0
