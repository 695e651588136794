"""Expression tests: one group per language feature of the remap subset."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conduix.errors import RemapAbort, RemapCompileError, RemapError
from conduix.remap import compile, compile_condition


def run(source: str, event: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None
        ) -> dict[str, Any]:
    return compile(source).run(event if event is not None else {}, metadata)


def value(source: str, event: dict[str, Any] | None = None) -> Any:
    return compile(source).evaluate(event if event is not None else {})[0]


# -- paths ------------------------------------------------------------------------

def test_paths_read() -> None:
    event = {"a": {"b": [10, 20, {"c": "deep"}]}, "quoted key": 1, "x": None}
    assert value(".a.b[0]", event) == 10
    assert value(".a.b[-1].c", event) == "deep"
    assert value('."quoted key"', event) == 1
    assert value(".a.b[7]", event) is None
    assert value(".missing.deeper", event) is None
    assert value(".a.b.c", event) is None  # a field of an array is null, not an error
    assert value(".", {"k": 1}) == {"k": 1}


def test_assignment_creates_intermediate_objects_and_pads_arrays() -> None:
    assert run(".a.b.c = 1") == {"a": {"b": {"c": 1}}}
    assert run(".a[2] = 1") == {"a": [None, None, 1]}
    assert run(".a.b = 1", {"a": "scalar"}) == {"a": {"b": 1}}  # a scalar in the way is replaced
    with pytest.raises(RemapCompileError, match=r"parent path segment rejects this mutation: \.a is string"):
        compile('.a = "scalar"\n.a.b = 1')  # known to be a string: VRL refuses it
    assert run('."with space".x = true') == {"with space": {"x": True}}
    assert run(".list = [1, 2, 3]\n.list[-1] = 9") == {"list": [1, 2, 9]}


def test_assignment_to_root_replaces_the_event() -> None:
    assert run('. = {"new": true}', {"old": 1}) == {"new": True}
    assert run('. = parse_json!(.message)', {"message": '{"a": 1}'}) == {"a": 1}
    with pytest.raises(RemapError, match="root must be an object"):
        run(". = [1, 2]")
    # with and without closures the generated code calls (which read the event from the per-record state)
    for source in ('. = {"new": .old}\n.b = 2', 'if .old == 1 { . = {"new": 1} }\n.b = 2',
                   '. = {"new": 1}\nif .new == 1 { .b = 2 }', '. = {"new": 1}\n%m = .new\n.b = 2'):
        program = compile(source)
        assert program.run({"old": 1}) == {"new": 1, "b": 2}, source
        assert program.evaluate({"old": 1}) == (2, {"new": 1, "b": 2}), source
        assert program.run_batch([{"old": 1}, {"old": 1}], [{}, {}]) == ([{"new": 1, "b": 2}] * 2, None), source
        assert compile_condition(source + "\n.new == 1").select([{"old": 1}]) == ([0], 0, None), source


def test_merge_assignment() -> None:
    assert run('. |= {"b": 2}', {"a": 1, "b": 1}) == {"a": 1, "b": 2}
    assert run('.o |= {"y": 2}', {"o": {"x": 1}}) == {"o": {"x": 1, "y": 2}}
    assert value('{"a": 1, "b": {"c": 1}} | {"b": 2}') == {"a": 1, "b": 2}
    with pytest.raises(RemapError, match="can't merge"):
        run('.s |= {"a": 1}', {"s": "text"})


def test_metadata_paths_use_the_metadata_dict() -> None:
    meta: dict[str, Any] = {"source": "kafka"}
    out = compile('.from = %source\n%seen = true\n%nested.k = 1').run({}, meta)
    assert out == {"from": "kafka"}
    assert meta == {"source": "kafka", "seen": True, "nested": {"k": 1}}
    assert value("%") == {}


def test_variables() -> None:
    assert value('x = 1\ny = x + 1\ny') == 2
    assert value('obj = {"a": {"b": [1, 2]}}\nobj.a.b[1]') == 2
    assert value('obj = {}\nobj.a.b = 3\nobj') == {"a": {"b": 3}}
    with pytest.raises(RemapCompileError, match='undefined variable "nope"') as info:
        compile("nope + 1")
    assert (info.value.line, info.value.column) == (1, 1)


def test_variables_that_closures_touch_keep_their_values() -> None:
    # the generated code keeps a variable in a Python local unless a closure it calls reads or writes it:
    # each shape below mixes the two, and must see one variable
    assert value("x = 0\nfor_each([1, 2, 3]) -> |_i, v| { x = x + v }\nx") == 6  # assigned inside a closure
    assert value("x = 1\nfor_each([5]) -> |_i, v| { .seen = x + v }\n.seen") == 6  # read inside a closure
    assert value('v = "outer"\ny = map_values([1]) -> |v| { v + 1 }\n[v, y]') == ["outer", [2]]  # shadowed
    assert value("x = 1\nif .a == true { x = 2 }\nx", {"a": True}) == 2  # assigned in a branch
    assert value("x = 1\nif .a == true { x = 2 }\nx", {"a": False}) == 1
    assert value("x = true\ny = x || false\nx = false\n[x, y]") == [False, True]  # read by ||'s closure
    assert value("x = 1\ny = x + (x = 2)\n[x, y]") == [2, 3]  # the left side is read before the right runs
    assert value("x.a = 1\nx.b = x.a + 1\nx") == {"a": 1, "b": 2}  # a path into a new variable starts at null


def test_variables_do_not_leak_between_the_records_of_a_batch() -> None:
    program = compile("x.n = .n\nx.k = int!(.k)\n.x = x")
    records = [{"n": 1, "k": 1}, {"n": 2, "k": "no"}, {"n": 3, "k": 3}]
    events, failures = program.run_batch(records)
    assert events == [{"n": 1, "k": 1, "x": {"n": 1, "k": 1}}, None, {"n": 3, "k": 3, "x": {"n": 3, "k": 3}}]
    assert failures is not None and [index for index, _ in failures] == [1]
    assert events[0] is not None and events[2] is not None and events[0]["x"] is not events[2]["x"]


def test_values_are_copied_on_assignment() -> None:
    out = run(".b = .a\n.b.x = 2", {"a": {"x": 1}})
    assert out == {"a": {"x": 1}, "b": {"x": 2}}
    out = run("v = .a\nv.x = 3\n.c = v", {"a": {"x": 1}})
    assert out["a"] == {"x": 1}
    assert out["c"] == {"x": 3}
    out = run("for_each(array!(.items)) -> |_i, item| { item.x = 1 }", {"items": [{"a": 1}]})
    assert out == {"items": [{"a": 1}]}  # closure parameters are copies too
    out = run(".b = .a || {}\n.b.x = 2\n.c = object!(.a) | {}\n.c.x = 3", {"a": {"x": 1}})
    assert out == {"a": {"x": 1}, "b": {"x": 2}, "c": {"x": 3}}
    # literals copy the values they take, checked values are the value itself
    out = run('m = object!(.a)\n.b = {"t": m.t, "u": [.a.t]}\n.b.t[0] = 2\n.b.u[0][0] = 3\n.m = m',
              {"a": {"t": [1]}})
    assert out == {"a": {"t": [1]}, "b": {"t": [2], "u": [[3]]}, "m": {"t": [1]}}
    out = run("m = object!(.a)\nm.t[0] = 2\n.c = array!(.a.t)\n.c[0] = 3\n.m = m", {"a": {"t": [1]}})
    assert out == {"a": {"t": [1]}, "m": {"t": [2]}, "c": [3]}


def test_values_taken_without_a_copy_are_never_shared() -> None:
    # a top-level assignment takes a value read from a place that dies with it without copying it
    # (ownership.moved_reads); everywhere else a value held in two places would change with the other
    out = run('. = {"a": .x, "b": .x}', {"x": {"k": 1}})  # the same value twice: at least one copy
    assert out == {"a": {"k": 1}, "b": {"k": 1}} and out["a"] is not out["b"]
    out = run('. = {"a": .l[0], "b": .l[-1]}', {"l": [{"k": 1}]})  # indexes that may meet
    assert out["a"] is not out["b"]
    out = run('. = {"a": .l[0], "c": .l}', {"l": [{"k": 1}]})  # a value and the array holding it
    assert out["c"][0] is not out["a"]
    out = run('. = {"a": .l[0], "v": values!(.o)}', {"l": [{"k": 1}], "o": {"x": {"k": 2}}})
    assert out == {"a": {"k": 1}, "v": [{"k": 2}]}
    out = run('. = {"a": .o.x, "v": values!(.o)}', {"o": {"x": {"k": 2}}})  # values() holds .o's items
    assert out["a"] is not out["v"][0]
    out = run('m = {"u": {"k": 1}}\n.a = m.u\n.b = m.u\n.b.k = 2')  # m lives on after the first assignment
    assert out == {"a": {"k": 1}, "b": {"k": 2}}
    out = run('m = {"u": [1]}\nn = {"v": m.u}\nn.v[0] = 2\n.m = m\n.n = n')  # m is read again later
    assert out == {"m": {"u": [1]}, "n": {"v": [2]}}
    out = run('m = {"u": [1]}\n.a = {"v": m.u, "w": m}')  # a value and the object holding it
    assert out["a"]["v"] is not out["a"]["w"]["u"]
    out = run('m = {"u": [1]}\n.a = [m.u, length(m.u)]\n.a[0][0] = 2')  # a read whose value is not kept
    assert out == {"a": [[2], 1]}


def test_del_hands_over_what_it_removes_from_the_event_or_a_variable() -> None:
    assert run(".b = del(.a)\n.c = .b\n.c.k = 2", {"a": {"k": 1}}) == {"b": {"k": 1}, "c": {"k": 2}}
    assert run('x = {"a": [1]}\n.b = del(x.a)\n.b[0] = 2\n.x = x') == {"b": [2], "x": {}}
    inner = {"k": 1}  # metadata may hold what other records' metadata holds too: a copy
    events, _ = compile(".m = del(%m)\n.m.k = 2").run_batch([{}, {}], [{"m": inner}, {"m": inner}])
    assert events == [{"m": {"k": 2}}, {"m": {"k": 2}}] and inner == {"k": 1}


def test_a_failed_record_passes_on_unchanged_after_values_were_taken_over() -> None:
    # the new root holds the original's nested values; a program that may write below a top-level field
    # afterwards copies them, so the record passed on when it fails later is the original
    for source in ('. = {"a": .a}\n.a.x = 2\n.n = int!(.n)', '. = {"a": .a}\ndel(.a.x)\n.n = int!(.n)',
                   '. = {"a": .a}\n.b = 1\n.n = int!(.n)',
                   # the new root is the original's own value: even a top-level write would change it
                   '. = .a\n.b = 1\n.n = int!(.n)', '. = object!(.a)\n.b = 1\n.n = int!(.n)',
                   '. = {"k": .a}.k\n.b = 1\n.n = int!(.n)'):
        program = compile(source)
        records = [{"a": {"x": 1}}]
        events, failures = program.run_batch(records, keep_input=True)
        assert events == [None] and failures is not None
        assert records == [{"a": {"x": 1}}], source


def test_error_assignment() -> None:
    assert value('x, err = parse_json("{}")\n[x, err]') == [{}, None]
    result = value('x, err = parse_json("nope")\n[x, err]')
    assert result[0] is None
    assert result[1].startswith('function call error for "parse_json" at (9:27): unable to parse json')
    # the ok target gets the return type's default
    assert value('n, err = to_int("x")\nn') == 0
    assert value('kv, err = parse_key_value("a=\\"b")\nkv') == {}
    assert run('., err = parse_json(.message)', {"message": '{"a": 1}'}) == {"a": 1}
    assert run('.x, .e = to_int(.v)', {"v": "z"})["e"].startswith('function call error for "to_int"')
    assert value('_, err = to_int("3")\nerr') is None


# -- literals -----------------------------------------------------------------------

def test_literals() -> None:
    assert value('"tab\\tnew\\nline \\"q\\" \\\\ \\u{1F600}"') == 'tab\tnew\nline "q" \\ \U0001F600'
    assert value("s'raw \\n {{ stays'") == "raw \\n {{ stays"
    assert value("r'^a+$'") == "^a+$"
    assert value("t'2021-02-10T23:32:00.5+01:00'") == "2021-02-10T22:32:00.500Z"
    assert value("t'2021-02-10T23:32:00.123456Z'") == "2021-02-10T23:32:00.123456Z"
    assert value("[1, -2, 1_000, 2.5, 1e3, true, false, null]") == [1, -2, 1000, 2.5, 1000.0, True, False, None]
    assert value('{"a": [1, {"b": null}], "c": {}}') == {"a": [1, {"b": None}], "c": {}}
    assert value("[]") == []
    assert value("{}") == {}


def test_multiline_containers_and_trailing_commas() -> None:
    source = """
    .obj = {
        "a": 1,
        "b": [
            1,
            2,
        ],
    }
    .n = upcase(
        "x"
    )
    """
    assert run(source) == {"obj": {"a": 1, "b": [1, 2]}, "n": "X"}


# -- operators ------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "expected"), [
    ("1 + 2", 3),
    ("1 + 2.5", 3.5),
    ('"foo" + "bar"', "foobar"),
    ("7 - 10", -3),
    ("3 * 4", 12),
    ('"ab" * 2', "abab"),
    ("10 / 4", 2.5),
    ("10 / 5", 2.0),
    ("7 % 3", 1),
    ("-7 % 3", -1),
    ("2 + 3 * 4", 14),
    ("(2 + 3) * 4", 20),
    ("1 == 1.0", True),
    ("1 == true", False),
    ('"a" != "b"', True),
    ("[1, {\"a\": 2}] == [1, {\"a\": 2}]", True),
    ("1 < 2", True),
    ("2.5 >= 2", True),
    ('"abc" < "abd"', True),
    ("t'2020-01-01T00:00:00Z' < t'2021-01-01T00:00:00Z'", True),
    ("true && false", False),
    ("true && true", True),
    ("null && true", False),
    ("false || true", True),
    ('null || "default"', "default"),
    ('"set" || "default"', "set"),
    ("!true", False),
    ("!!true", True),
    ("true || false && false", False),  # || and && share one level, left to right, as in VRL
    ('to_int("x") ?? 42', 42),
    ('to_int("7") ?? 42', 7),
    ('parse_json("x") ?? parse_json("y") ?? "last"', "last"),
    ("1 + 1 == 2 && 3 > 2", True),
])
def test_operators(source: str, expected: Any) -> None:
    result = value(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(("source", "message"), [
    ('1 + "a"', "can't add type string to integer"),
    ("zero = 0\n1 / zero", "can't divide by zero"),
    ("zero = 0\n1 % zero", "can't divide by zero"),
    ('1 < "a"', "can't compare integer < string"),
    ("null < 1", "can't compare null < integer"),
    ('1 && true', "can't apply an AND to types integer and boolean"),
    ('x = 1\nif .a == 1 { x = {} }\nx | {}', "can't merge type object into integer"),
    ("9223372036854775807 + 1 < 0", None),
])
def test_operator_type_errors(source: str, message: str | None) -> None:
    if message is None:  # integers wrap around as 64-bit, as in VRL: no error
        assert value(source) is True
        return
    with pytest.raises(RemapError, match=message) as info:
        value(source)
    assert info.value.line == source.count("\n") + 1


@pytest.mark.parametrize(("source", "message"), [
    ("1 / 0", "unhandled error"),
    ("1 % 0", "unhandled error"),
    ("!1", "non-boolean negation"),
    ("{} | 1", "only objects can be merged"),
    ("1 < 2 < 3", "comparison operators can't be chained together"),
    ("x, err = 1 + 1", "unnecessary error assignment"),
    ("1 ?? 2", "unnecessary error coalescing operation"),
    ("abort 1", "non-string abort message"),
    ("array = [1]", "reserved keyword"),
])
def test_what_cannot_work_is_refused_when_compiling(source: str, message: str) -> None:
    with pytest.raises(RemapCompileError, match=message):
        compile(source)
    compile("(1 < 2) == true")  # parentheses make it one comparison of a boolean


def test_coalesce_does_not_hide_abort() -> None:
    with pytest.raises(RemapAbort):
        value('to_int({ if true { abort } else { "1" } }) ?? 1')


# -- control flow ------------------------------------------------------------------------

def test_if_else_chains() -> None:
    source = """
    if .status >= 500 {
        .class = "server"
    } else if .status >= 400 {
        .class = "client"
    } else {
        .class = "ok"
    }
    """
    program = compile(source)
    assert program.run({"status": 503})["class"] == "server"
    assert program.run({"status": 404})["class"] == "client"
    assert program.run({"status": 200})["class"] == "ok"
    assert value("if false { 1 }") is None
    assert value('if true { "yes" } else { "no" }') == "yes"
    assert value("if true {}") is None


def test_if_condition_must_be_boolean() -> None:
    with pytest.raises(RemapError, match="condition must be a boolean, got string") as info:
        run("\nif .x { .y = 1 }", {"x": "text"})
    assert (info.value.line, info.value.column) == (2, 4)
    with pytest.raises(RemapCompileError, match="must be a boolean"):
        compile('if "text" { 1 }')


def test_blocks_comments_and_separators() -> None:
    source = """
    # a comment line
    .a = 1 # trailing comment
    .b = 2; .c = 3
    .d = {
        x = .a + .b
        x * 10
    }
    """
    assert run(source) == {"a": 1, "b": 2, "c": 3, "d": 30}


def test_abort() -> None:
    with pytest.raises(RemapAbort, match="aborted") as info:
        run('.a = 1\nif .a == 1 { abort }')
    assert info.value.line == 2
    with pytest.raises(RemapAbort, match="custom reason"):
        run('abort "custom " + "reason"')


def test_evaluate_reports_last_value_and_event() -> None:
    result, event = compile('.a = 1\n.t = t\'2020-10-21T16:00:00Z\'\n.t').evaluate({})
    assert result == "2020-10-21T16:00:00Z"
    assert event["a"] == 1
    assert event["t"].year == 2020  # the event keeps a real timestamp


def test_program_is_reusable_and_independent_per_record() -> None:
    program = compile('x = .n * 2\n.double = x')
    assert program.run({"n": 1}) == {"n": 1, "double": 2}
    assert program.run({"n": 5}) == {"n": 5, "double": 10}


def test_programs_and_conditions_pickle() -> None:
    import pickle

    program = pickle.loads(pickle.dumps(compile(".a = upcase!(.a)")))
    assert program.run({"a": "x"}) == {"a": "X"}
    condition = pickle.loads(pickle.dumps(compile_condition(".a == 1")))
    assert condition.test({"a": 1}) is True


def test_compile_condition() -> None:
    condition = compile_condition('.level == "error" && %source == "app"')
    assert condition.test({"level": "error"}, {"source": "app"}) is True
    assert condition.test({"level": "info"}, {"source": "app"}) is False
    assert compile_condition("exists(.x)").test({"x": None}) is True
    with pytest.raises(RemapError, match="must return a boolean, got string") as info:
        compile_condition("x = 1\n  .level").test({"level": "x"})
    assert (info.value.line, info.value.column) == (2, 3)
    with pytest.raises(RemapCompileError, match="must return a boolean"):
        compile_condition('"text"')


# -- realistic programs and properties -----------------------------------------------------------

def test_realistic_vector_style_program() -> None:
    source = """
    # parse a syslog line, normalise it and tag it
    structured, err = parse_syslog(.message)
    if err != null {
        .parse_error = err
    } else {
        . = merge(., structured)
        .timestamp = format_timestamp!(.timestamp, format: "%Y-%m-%d %H:%M:%S")
        .severity = upcase!(.severity)
        .tags = push(["syslog"], .facility)
        del(.message)
    }
    .env = %env || "dev"
    """
    program = compile(source)
    out = program.run({"message": "<13>1 2020-03-13T20:45:38.119Z host app 2426 ID931 - hello"}, {"env": "prod"})
    assert out == {"facility": "user", "severity": "NOTICE", "version": 1, "timestamp": "2020-03-13 20:45:38",
                   "hostname": "host", "appname": "app", "procid": 2426, "msgid": "ID931", "tags": ["syslog", "user"],
                   "env": "prod"}
    bad = program.run({"message": "nonsense"})
    assert bad["parse_error"].startswith('function call error for "parse_syslog"')
    assert bad["env"] == "dev"  # a missing metadata field is null, and || takes the default


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@given(json_values)
@settings(max_examples=150, deadline=None)
def test_encode_json_then_parse_json_round_trips(data: Any) -> None:
    result = compile("parse_json!(encode_json(.data))").evaluate({"data": data})[0]
    assert result == data


@given(st.dictionaries(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8),
                       st.text(st.characters(categories=["L", "N", "Zs"]), max_size=12), max_size=5))
@settings(max_examples=150, deadline=None)
def test_encode_key_value_then_parse_key_value_round_trips(data: dict[str, str]) -> None:
    result = compile("parse_key_value!(encode_key_value!(.data))").evaluate({"data": data})[0]
    assert result == {k: v for k, v in data.items()}
