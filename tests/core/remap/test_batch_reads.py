"""The batch loops read fields optimistically: a subscript before the program's first effect, the record
started over with ``.get`` reads when one is missing. Whatever the record lacks, the batch forms must give
what the per-record forms give, and never run an effect twice."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conduix.errors import RemapError
from conduix.remap import compile, compile_condition
from conduix.remap.compiler import compile_program

PROGRAMS = [
    # effect-free up to the root's write (the benchmark's realistic program)
    'm = object!(parse_json!(.message))\n. = {"host": .host, "level": upcase!(.level), "user": m.user,\n'
    '  "status": m.status, "ok": int(m.status) ?? 0 < 400}',
    # the first statement is the effect; its value is read first
    ". = object!(parse_json!(.message))\n.user_name = del(.user)\n.pipeline = .host",
    # field writes one after another: reads before the first write only
    ".a = .host\n.b = .level\n.c = .missing",
    # variables, branches and coalescing before the first effect
    'x = .host\ny = if .level == "debug" { "d" } else { string(.level) ?? "none" }\n.out = [x, y, .n]',
    # an error assignment and a merge
    'parsed, err = parse_json(.message)\n. |= {"parsed": parsed, "failed": err != null, "n": .n}',
    # a closure: the loop stops reading optimistically before it
    '.levels = map_values({"a": .level, "b": .host}) -> |v| { upcase(string(v) ?? "") }\n.n2 = .n',
    # metadata
    '.source = %source\n%seen = .host\n.k = .n',
    # fails on some records
    '.n = int!(.n) + 1\n.host = .host',
    # the root may end up something else than an object (a failure), or the program returns early
    ". = parse_json!(.message)",
    'if .level == "debug" { return 1 }\n.x = .host',
    'if .level == "debug" { . = [.host] }\n.n = .n',
]

FIELDS = {
    "host": st.sampled_from(["web-1", "web-2"]),
    "level": st.sampled_from(["info", "debug", "warn"]),
    "message": st.sampled_from(['{"user": "u1", "status": 200}', '{"user": "u2"}', '{}', 'not json', '[1]']),
    "n": st.one_of(st.integers(-5, 5), st.just("7"), st.none()),
    "user": st.just("someone"),
}
records = st.lists(st.fixed_dictionaries({}, optional=FIELDS), min_size=1, max_size=6)


def one_by_one(source: str, batch: list[dict[str, Any]], metas: list[dict[str, Any]]
               ) -> tuple[list[Any], list[tuple[int, str]]]:
    program = compile(source)
    events: list[Any] = []
    failures: list[tuple[int, str]] = []
    for i, (record, meta) in enumerate(zip(batch, metas)):
        try:
            events.append(program.run(record, meta))
        except RemapError as exc:
            events.append(None)
            failures.append((i, str(exc)))
    return events, failures


@settings(max_examples=60, deadline=None)
@given(records)
@pytest.mark.parametrize("source", PROGRAMS)
def test_the_batch_loop_gives_what_one_record_at_a_time_gives(source: str, batch: list[dict[str, Any]]) -> None:
    metas = [{"source": "s"} if i % 2 else {} for i in range(len(batch))]
    expected = one_by_one(source, copy.deepcopy(batch), copy.deepcopy(metas))
    batch_metas = copy.deepcopy(metas)
    events, failures = compile(source).run_batch(copy.deepcopy(batch), batch_metas)
    assert (events, [(i, str(exc)) for i, exc in failures or []]) == expected
    assert batch_metas == expected_metas(source, batch, metas)
    kept = copy.deepcopy(batch)  # as the remap stage runs it when a failed record passes on unchanged
    events, failures = compile(source).run_batch(kept, copy.deepcopy(metas), keep_input=True)
    assert (events, [(i, str(exc)) for i, exc in failures or []]) == expected
    assert kept == batch


def expected_metas(source: str, batch: list[dict[str, Any]], metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    program, metas = compile(source), copy.deepcopy(metas)
    for record, meta in zip(copy.deepcopy(batch), metas):
        try:
            program.run(record, meta)
        except RemapError:
            pass
    return metas


CONDITIONS = ['.level != "debug"', '.level == "info" && .host == "web-1"', 'exists(.n) || .user == "someone"',
              'm = parse_json(.message) ?? {}\nis_object(m) && m.user == "u1"', '.n > 0',
              'if .level == "info" { true } else { .n }']  # a value that is not a boolean: a failure


@settings(max_examples=60, deadline=None)
@given(records)
@pytest.mark.parametrize("source", CONDITIONS)
def test_a_condition_selects_what_it_holds_for_one_record_at_a_time(source: str, batch: list[dict[str, Any]]
                                                                     ) -> None:
    condition = compile_condition(source)
    expected: list[int] = []
    errors = 0
    for i, record in enumerate(batch):
        try:
            if condition.test(record):
                expected.append(i)
        except RemapError:
            errors += 1
    kept, failed, _ = condition.select(batch)
    assert (kept, failed) == (expected, errors)


def test_a_missing_field_never_runs_an_effect_twice(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="conduix.remap")
    program = compile('x = .host\nlog(x, rate_limit_secs: 0)\n.y = .missing')
    events, failures = program.run_batch([{"host": "a"}, {"host": "b"}, {}])
    assert failures is None and [e["y"] for e in events if e is not None] == [None, None, None]
    assert [r.getMessage() for r in caplog.records] == ["a", "b", "null"]
    # del hands over what it removes: run twice, the second would hand over null
    events, _ = compile(".taken = del(.a)\n.y = .missing").run_batch([{"a": 1}, {"a": 2, "missing": 3}])
    assert events == [{"taken": 1, "y": None}, {"missing": 3, "taken": 2, "y": 3}]


@pytest.mark.parametrize(("source", "optimistic"), [
    ('. = {"a": .a, "b": .b}', True),
    ("m = object!(.o)\n.x = m.k", True),
    (".a = .b\n.c = .d", True),  # .b only: .d comes after the first write
    ('.level != "debug"', True),
    ('log("hi")\n.a = .b', False),  # the first statement is an effect
    ("del(.x)\n.a = .b", False),
    ('.a = 1\n.b = .c', False),  # the value of the first write reads nothing
])
def test_which_programs_read_optimistically(source: str, optimistic: bool) -> None:
    assert compile_program(source).batched.optimistic is optimistic  # type: ignore[union-attr]


def test_after_a_batch_of_records_lacking_a_field_the_loop_reads_plainly_for_a_while() -> None:
    # a program of this test alone: compiled programs, and their loops, are shared by source text
    runner = compile_program('. = {"a": .guess_a, "b": .guess_b}').batched.run(None)  # type: ignore[union-attr]
    assert runner.rest == 0
    full = {"guess_a": 1, "guess_b": 2}
    assert runner([full] * 8, None) == ([{"a": 1, "b": 2}] * 8, None)
    assert runner.rest == 0  # every record had its fields
    assert runner([{"guess_a": 1}] * 7 + [full], None) == ([{"a": 1, "b": None}] * 7 + [{"a": 1, "b": 2}], None)
    assert runner.rest == runner.PATIENCE
    assert runner([{"guess_b": 2}], None) == ([{"a": None, "b": 2}], None)  # the plain loop's turn
    assert runner.rest == runner.PATIENCE - 1
