"""VRL syntax and arithmetic that remap follows: return, multi-expression conditions, queries on any
expression, templates, merge assignments, 64-bit integers, NaN, and VRL's error wording with spans."""

from __future__ import annotations

from typing import Any

import pytest

from conduix.errors import RemapCompileError, RemapError
from conduix.remap import compile


def value(source: str, event: dict[str, Any] | None = None) -> Any:
    return compile(source).evaluate(event if event is not None else {})[0]


def test_return_ends_the_program_or_the_closure_run() -> None:
    program = compile(".a = 1\nreturn .\n.a = 2")
    assert program.run({}) == {"a": 1}
    assert program.evaluate({})[0] == {"a": 1}
    # in a closure, return gives that run's value; the rest of the program goes on
    source = """
    n = 0
    out = map_values([1, 2, 3]) -> |v| {
        if v == 2 { return 20 }
        n = n + 1
        v
    }
    [out, n]
    """
    assert value(source) == [[1, 20, 3], 2]


def test_conditions_of_several_expressions() -> None:
    source = """
    if (n, err = to_int(.s); err == null) {
        .n = n
    } else if (
        x = .s + "!"
        x == "b!"
    ) {
        .n = x
    }
    """
    program = compile(source)
    assert program.run({"s": "12"})["n"] == 12
    assert program.run({"s": "b"})["n"] == "b!"
    assert "n" not in program.run({"s": "c"})
    # a condition on its own line before the block
    assert value("if true\n{\n  1\n} else\n{\n  2\n}") == 1


def test_any_expression_can_be_queried() -> None:
    assert value("[10, 20, 30][1]") == 20
    assert value('[0, {"bar": [1, 2]}][1].bar[-1]') == 2
    assert value('parse_json!("{\\"a\\": {\\"b\\": 3}}").a.b') == 3
    assert value("(.x).y", {"x": {"y": 4}}) == 4
    assert value('{"k": "v"}.k') == "v"
    assert value('{ x = {"k": 5}; x }.k') == 5
    assert value("[][0]") is None
    with pytest.raises(RemapCompileError, match="syntax error"):
        compile("1.foo")  # a literal number is not queryable, as in VRL
    with pytest.raises(RemapCompileError, match="syntax error"):
        compile('"text"[0]')


def test_string_templates_join_variables() -> None:
    assert value('name = "world"\n"Hello {{ name }}!"') == "Hello world!"
    assert value('"no \\{{ template \\}} here"') == "no {{ template }} here"
    assert value('"single { braces }"') == "single { braces }"
    with pytest.raises(RemapCompileError, match=r'undefined variable "\.field"'):
        compile('"{{ .field }}"')  # templates take variables only, as in VRL
    assert value('"line one \\\n      continues"') == "line one continues"


def test_merge_assignments() -> None:
    assert compile('.a |= {"y": 2}').run({"a": {"x": 1}}) == {"a": {"x": 1, "y": 2}}
    out = compile('.a, err |= parse_json(.m)').run({"a": {"x": 1}, "m": '{"z": 3}'})
    assert out["a"] == {"x": 1, "z": 3} and "err" not in out
    assert compile("x = {}\nx, err |= parse_json(.m)\nerr").evaluate({"m": "nope"})[0].startswith(
        'function call error for "parse_json"')


def test_flatten_can_keep_some_objects() -> None:
    data = {"a": {"b": 1}, "keep": {"nested": 2}, "c": {"keep": {"deep": 3}}}
    assert value('flatten!(.d, except: ["keep"])', {"d": data}) == {
        "a.b": 1, "keep": {"nested": 2}, "c.keep": {"deep": 3}}


# -- arithmetic ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "expected"), [
    ("9223372036854775807 + 1", -9223372036854775808),
    ("-9223372036854775808 - 1", 9223372036854775807),
    ("444111111111 * 1111111111111111", 3578153274754795185),
    ("x = 9223372036854775807\n-x - 2", 9223372036854775807),
    ("mod(-9223372036854775808, -1)", 0),
    ('"foo" + null', "foo"),
    ('null + "bar"', "bar"),
    ('2 * "ab"', "abab"),
    ('"ab" * -1', ""),
    ("1.5e308 + 1.5e308", float("inf")),
])
def test_vrl_arithmetic(source: str, expected: Any) -> None:
    result = value(source)
    assert result == expected or (result is None and expected == float("inf"))  # inf exports as null
    assert type(result) is type(expected) or result is None


@pytest.mark.parametrize("source", [
    'large = to_float!("1.7976931348623157e+308")\ninf = large + large\ninf - inf',
    'large = to_float!("1.7976931348623157e+308")\ninf = large * 2\ninf * 0',
    'large = to_float!("1.7976931348623157e+308")\ninf = large * 2\nmod(inf, 1.0)',
])
def test_an_operation_giving_nan_is_an_error(source: str) -> None:
    with pytest.raises(RemapError, match="operation would produce NaN"):
        value(source)


@pytest.mark.parametrize(("source", "message"), [
    ('x, err = 1 - "a"\nerr', "can't subtract type string from integer"),
    ("x, err = 1.0 * true\nerr", "can't multiply type float by boolean"),
    ("x, err = 1 / null\nerr", "can't divide type integer by null"),
    ("x, err = [] + 1\nerr", "can't add type integer to array"),
])
def test_operator_errors_are_worded_as_in_vrl(source: str, message: str) -> None:
    assert value(source) == message


# -- VRL's error wording and spans -----------------------------------------------------------------------

def test_function_call_errors_carry_the_byte_span_of_the_call() -> None:
    source = "\n.y = 1\nupcase!(.x)"
    with pytest.raises(RemapError) as info:
        value(source, {"x": None})
    assert info.value.message == 'function call error for "upcase" at (8:19): expected string, got null'
    assert (info.value.line, info.value.column) == (3, 1)
    # the span counts bytes, as VRL's
    err = compile('.s = "é"\nparse_json!(.s)').evaluate
    with pytest.raises(RemapError, match=r'"parse_json" at \(10:25\)'):
        err({})


@pytest.mark.parametrize(("source", "message"), [
    ('parse_json!("{ INVALID }")', "unable to parse json: key must be a string at line 1 column 3"),
    ('to_int!("foo bar")', 'Invalid integer "foo bar": invalid digit found in string'),
    ('to_float!("x")', 'Invalid floating point number "x": invalid float literal'),
    ('to_bool!("maybe")', 'Invalid boolean value "maybe"'),
    ("to_string!([])", "unable to coerce array into string"),
])
def test_function_errors_are_worded_as_in_vrl(source: str, message: str) -> None:
    with pytest.raises(RemapError) as info:
        value(source)
    assert info.value.message.endswith(message)


def test_an_error_inside_a_closure_is_reported_through_the_call() -> None:
    source = 'replace_with("a test", r\'test\') -> |_m| {\n    assert!(false, "failed")\n    "TEST"\n}'
    with pytest.raises(RemapError) as info:
        value(source)
    assert info.value.message == ('function call error for "replace_with" at (0:83): '
                                  'function call error for "assert" at (46:70): failed')
    assert (info.value.line, info.value.column) == (2, 5)  # the position stays where it failed


def test_functions_check_their_constant_arguments_when_compiling() -> None:
    with pytest.raises(RemapCompileError, match='invalid argument for "chunks": "chunk_size" must be at least 1'):
        compile('chunks("abc", 0)')
    assert value('chunks("abcd", 2)') == ["ab", "cd"]
    with pytest.raises(RemapCompileError, match="unhandled fallible function call"):
        compile('x = 2\nchunks("abcd", x)')  # a size known only at run time can be wrong: the call can fail
    with pytest.raises(RemapCompileError, match="the filters must be written in the call"):
        compile('f = [r\'\\d\']\nredact("a1", f)')
    with pytest.raises(RemapCompileError, match="unknown filter name"):
        compile('redact("a1", [{"type": "nope"}])')
