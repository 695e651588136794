"""Type inference: what remap knows of values when compiling, and what it accepts or refuses because of it."""

from __future__ import annotations

from typing import Any

import pytest

from conduix.errors import RemapCompileError, RemapError
from conduix.remap import compile


def value(source: str, event: dict[str, Any] | None = None) -> Any:
    return compile(source).evaluate(event if event is not None else {})[0]


def refused(source: str) -> RemapCompileError:
    with pytest.raises(RemapCompileError) as info:
        compile(source)
    return info.value


# -- calls that VRL knows cannot fail need no "!" -------------------------------------------------------

@pytest.mark.parametrize("source", [
    '.a = "x"\nupcase(.a)',                                        # an assigned field
    'x = "x"\nupcase(x)',                                         # a variable
    'x = {"a": {"b": "x"}}\nupcase(x.a.b)',                        # inside an object literal
    'upcase(["x"][0])',                                            # an item of an array literal
    'upcase({"k": "x"}.k)',                                        # a field of an object literal
    'x = {"a": "x"} | {"b": "y"}\nupcase(x.a) + upcase(x.b)',      # both sides of a merge
    'upcase(parse_regex!("ab", r\'(?P<first>a)\').first)',         # a named regex group is a string
    'upcase(parse_syslog!(s\'<13>1 2020-03-13T20:45:38.119Z h a 1 - - msg\').message)',
    'x = 1\nif .c == 1 { x = 2 }\nx + 1',                          # both branches agree
    'for_each({"a": "x"}) -> |key, value| { .out = upcase(key) + upcase(value) }',  # closure parameters
    'map_values(["x", "y"]) -> |v| { upcase(v) }',
    'if is_string(.a) { upcase(.a) } else { "none" }',             # a kind test narrows the path
    'if !is_string(.a) { "none" } else { upcase(.a) }',
    'if is_string(.a) && is_string(.b) { upcase(.a) + upcase(.b) } else { "" }',
    'if .a != null && is_integer(.a) { abs(.a) } else { 0 }',
    'x = to_string(.n) ?? ""\nupcase(x)',                          # ?? gives the right side's type too
    'unflatten(flatten({"a": {"b": 1}}))',                         # flatten of an object is an object
    '{ y = "x"; upcase(y) }',                                      # inside a block
])
def test_calls_on_values_of_known_kind_need_no_bang(source: str) -> None:
    compile(source)


@pytest.mark.parametrize(("source", "line"), [
    ("upcase(.a)", 1),                                             # an event field could be anything
    ('x = "s"\nif .c == 1 { x = 1 }\nupcase(x)', 3),               # the branches disagree
    ('.v = "s"\nif .c == 1 { del(.v) }\nupcase(.v)', 3),           # deleted on one branch
    ('for_each(.items) -> |_i, v| { .x = upcase(v) }', 1),         # items of an unknown collection
])
def test_calls_that_can_fail_must_be_handled(source: str, line: int) -> None:
    err = refused(source)
    assert "unhandled fallible function call" in err.message
    assert err.line == line


def test_a_call_on_a_kind_it_never_takes_is_refused() -> None:
    assert refused("upcase(1)").message == 'invalid argument type for "value" of "upcase": expected string, ' \
                                           "got integer"
    assert "expected array or object, got boolean" in refused("flatten(true)").message
    # in the else branch of a kind test, the path is known not to be of that kind
    assert "invalid argument type" in refused("if is_string(.a) { 1 } else { upcase(.a) }").message
    # the type assertions take anything: a wrong kind fails when it runs, as in VRL
    with pytest.raises(RemapError, match=r'function call error for "int" at \(0:10\): expected integer, got boolean'):
        value("int!(true)")
    assert value("int!(1)") == 1


def test_a_fallible_argument_must_be_handled_before_the_call() -> None:
    err = refused("upcase(parse_json(.a))")
    assert err.message.startswith("fallible argument")
    assert (err.line, err.column) == (1, 8)
    compile("upcase!(string!(parse_json!(.a)))")
    compile("x = parse_json(.a) ?? {}\n.y = x")


# -- what cannot work is refused when compiling, as VRL does -------------------------------------------

@pytest.mark.parametrize(("source", "message"), [
    ('x = "s"\nx.a = 1', "parent path segment rejects this mutation: x is string, not an object"),
    ('.a = true\n.a[0] = 1', "parent path segment rejects this mutation: .a is boolean, not an array"),
    ("x, err = 5", "unnecessary error assignment"),
    ("x = 1 ?? 2", "unnecessary error coalescing operation"),
    ('abort 42', "non-string abort message"),
    ("abort parse_json(.a)", "unhandled fallible expression"),
    ("1 == 1 == true", "comparison operators can't be chained together"),
    ('!"yes"', "non-boolean negation"),
    ('{"a": 1} | "b"', "only objects can be merged"),
    ('x = "s"\nx |= {}', "only objects can be merged"),
    ("string = 1", "reserved keyword"),
    ("for_each([1]) -> |object, _v| { object }", "reserved keyword"),
    ('if "yes" { 1 }', "if-statement condition must be a boolean, not string"),
    ("filter([1, 2]) -> |_i, v| { v + 1 }", "type mismatch in closure return type"),
    ("filter([1]) -> |_i, v| {\n  return 0\n  true\n}", "type mismatch in closure return type"),
    ("1 / 0", "unhandled error"),
    ("9223372036854775808", "does not fit in 64 bits"),
])
def test_what_cannot_work_is_refused(source: str, message: str) -> None:
    assert message in refused(source).message


def test_operators_on_kinds_unknown_when_compiling_are_checked_when_they_run() -> None:
    # VRL asks for these to be handled; remap runs them and reports the operator's position on a mismatch
    program = compile(".total = .a + 1\n.big = .b > 10")
    assert program.run({"a": 1, "b": 11}) == {"a": 1, "b": 11, "total": 2, "big": True}
    with pytest.raises(RemapError, match="can't add type integer to string") as info:
        program.run({"a": "x", "b": 1})
    assert (info.value.line, info.value.column) == (1, 10)
    # ... and they may still be handled, with ?? or an error assignment
    assert value("x, err = .a + 1\nerr", {"a": "x"}) == "can't add type integer to string"


def test_the_ok_target_gets_the_empty_value_of_the_expressions_kind() -> None:
    assert value("x, err = 1 / 0\n[x, err]") == [0.0, "can't divide by zero"]
    assert value('x, err = to_int("a")\nx') == 0
    assert value('x, err = parse_json("{")\nx') is None  # parse_json can give any kind
    assert value("_ok, _err = 1 / 0") == "can't divide by zero"  # the expression's value is the error


# -- scopes ----------------------------------------------------------------------------------------------

def test_blocks_and_branches_scope_new_variables() -> None:
    assert value('x = 1\n{ x = 2\n y = 3 }\nx') == 2  # an existing variable keeps the change
    assert 'undefined variable "y"' in refused("{ y = 3 }\ny").message
    assert 'undefined variable "y"' in refused("if true { y = 3 }\ny").message
    assert value("if (x = 1; x == 1) { x + 1 } else { 0 }") == 2  # a condition's variables stay


def test_closure_variables_are_scoped_as_in_vrl() -> None:
    source = """
    key = "outer key"
    seen = "nothing"
    for_each({"a": 1}) -> |key, _value| {
        seen = key          # an outer variable: the change stays
        inner = true        # a new one: gone after the closure
    }
    [key, seen]
    """
    assert value(source) == ["outer key", "a"]
    err = refused('for_each({"a": 1}) -> |k, _v| { inner = k }\ninner')
    assert 'undefined variable "inner"' in err.message
    err = refused('for_each({"a": 1}) -> |k, _v| { 1 }\nk')
    assert 'undefined variable "k"' in err.message


def test_closures_see_objects_in_key_order_as_vrl() -> None:
    source = """
    keys = []
    for_each(.) -> |key, _value| { keys = push(keys, key) }
    keys
    """
    assert value(source, {"b": 1, "c": 2, "a": 3}) == ["a", "b", "c"]


# -- warnings ------------------------------------------------------------------------------------------------

def test_useless_parts_are_warned_about_not_refused() -> None:
    program = compile('"unused"\nx = 1\nnow!()')
    assert program.warnings == [
        'line 1, column 1: unused literal `"unused"`: this expression has no side-effects; use its value or '
        "remove it",
        "line 2, column 1: unused variable `x`: its value is never read; use it, remove it, or name it _x",
        'line 3, column 1: can\'t abort infallible function: "now" can\'t fail here; remove the !',
    ]
    assert compile(".a = 1\n_x = 2\n.a").warnings == []


def test_a_root_that_may_not_be_an_object() -> None:
    # as VRL: `.` may be set to any value while the program runs; fields of a non-object read as null,
    # and writing a field makes the root an object again
    program = compile('. = parse_json!(.m)\n.seen = .kind\n.')
    assert program.run({"m": '{"kind": 1}'}) == {"kind": 1, "seen": 1}
    assert program.evaluate({"m": '"text"'})[0] == {"seen": None}
    assert value('. = parse_json!(.m)\nupcase(.x) ?? "none"', {"m": "[1]"}) == "none"
    with pytest.raises(RemapError, match="the event root must be an object at the end of the program, got array"):
        compile(". = parse_json!(.m)").run({"m": "[1]"})  # a stage's record must end up an object
    assert compile(". = parse_json!(.m)").evaluate({"m": "[1]"})[0] == [1]  # ... VRL's value is fine


def test_any_field_name_is_safe_in_the_generated_code() -> None:
    names = ['{v}', "a'b", 'x"y', "}{", "{e}", "\\n", "c[0]", "__import__('os')"]
    program = compile("\n".join(f'."{name.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}" = '
                                f'"{i}"' for i, name in enumerate(names)))
    assert program.run({}) == {name: str(i) for i, name in enumerate(names)}
    program = compile('. = parse_json!(.m)\n."{v}" = 1\ndel(."{v}x")\nx."{v}" = 2\n.y = x')
    assert program.run({"m": '{"{v}x": 0}'}) == {"{v}": 1, "y": {"{v}": 2}}
