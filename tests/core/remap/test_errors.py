"""Error tests: every kind of compile error and runtime error, with positions and hints."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conduix.errors import ConfigError, RemapAbort, RemapCompileError, RemapError
from conduix.remap import compile


def compile_error(source: str) -> RemapCompileError:
    with pytest.raises(RemapCompileError) as info:
        compile(source)
    return info.value


def test_syntax_error_has_line_column_and_caret() -> None:
    err = compile_error('.a = 1\n.b = 2 + * 3\n.c = 3')
    assert err.line == 2
    assert err.column == 10
    text = str(err)
    assert text.startswith("line 2, column 10: syntax error: unexpected '*'")
    assert "\n  .b = 2 + * 3\n           ^" in text
    assert isinstance(err, ConfigError)  # the CLI reports it as a usage/config error (exit 2)
    assert err.exit_code == 2


@pytest.mark.parametrize(("source", "line", "column"), [
    (".a = ", 1, 6),
    ("upcase(.a", 1, 10),
    ("if .a { .b = 1", 1, 15),
    ('.a = "unterminated', 1, 6),
    ("{ 1: 2 }", 1, 4),
    ('.x = "bad \\q escape"', 1, 6),
    ("t'not a time'", 1, 1),
    ("r'(unclosed'", 1, 1),
])
def test_syntax_error_positions(source: str, line: int, column: int) -> None:
    err = compile_error(source)
    assert (err.line, err.column) == (line, column), str(err)


def test_unknown_function_hints_close_names() -> None:
    err = compile_error('.x = 1\n.y = parse_jsn!(.message)')
    assert err.message == 'call to undefined function "parse_jsn"'
    assert (err.line, err.column) == (2, 6)
    assert err.hint is not None and "parse_json" in err.hint
    assert "hint: did you mean parse_json" in str(err)
    assert "upcase" in (compile_error("upcse(.a)").hint or "")


def test_unhandled_fallible_call_is_a_compile_error() -> None:
    err = compile_error(".level = upcase(.level)")
    assert "unhandled fallible function call" in err.message
    assert (err.line, err.column) == (1, 10)
    assert err.hint is not None and "upcase!(...)" in err.hint
    # handled: with !, with ??, with an error assignment, or when the kind is known
    compile(".level = upcase!(.level)")
    compile('.level = upcase(.level) ?? "none"')
    compile("x, err = upcase(.level)")
    compile('.level = "info"\n.level = upcase(.level)')
    compile('x = to_string(.n) ?? ""\n.y = upcase(x)')
    # a known kind that cannot fit is an argument type error
    err = compile_error('x = 1\nupcase!(x)')
    assert err.message == 'invalid argument type for "value" of "upcase": expected string, got integer'
    assert (err.line, err.column) == (2, 9)
    # after an if with different kinds on each branch, the kind is unknown again
    assert "unhandled" in compile_error('if .a == 1 { .v = "s" } else { .v = 1 }\nupcase(.v)').message
    # deleting a path on one branch makes its kind unknown again
    assert "unhandled" in compile_error('.v = "s"\nif .a == 1 { del(.v) }\nupcase(.v)').message
    compile('.v = "s"\nif .a == 1 { .w = 1 }\nupcase(.v)')
    # a closure that may not run keeps what was known before it, joined with what it assigns
    assert "unhandled" in compile_error('.v = "s"\nfor_each([1]) -> |_i, x| { .v = x }\nupcase(.v)').message
    # functions that always can fail need handling even with literal arguments
    assert "unhandled" in compile_error('parse_json("{}")').message


@pytest.mark.parametrize(("source", "message"), [
    ('upcase!(value: "a", value: "b")', 'argument "value" given twice'),
    ('upcase!(valu: "a")', 'unknown argument "valu" for "upcase"'),
    ('upcase!("a", "b")', 'too many arguments for "upcase"'),
    ("parse_regex!(.a)", 'missing required argument "pattern" for "parse_regex"'),
    ("del(1)", '"del" takes a path'),
    ("exists(upcase!(.a))", '"exists" takes a path'),
    ("1 = 2", "can only assign to a path"),
    ("upcase!(.a) = 2", "can only assign to a path"),
    ("_ + 1", '"_" can only be assigned to'),
    (".[0] = 1", "parent path segment rejects this mutation"),
])
def test_other_compile_errors(source: str, message: str) -> None:
    err = compile_error(source)
    assert message in err.message
    assert err.line == 1


def test_runtime_errors_carry_program_position() -> None:
    program = compile('.a = 1\n.b = parse_json!(.message)\n.c = 2')
    with pytest.raises(RemapError) as info:
        program.run({"message": "{not json"})
    err = info.value
    assert not isinstance(err, RemapCompileError)
    assert (err.line, err.column) == (2, 6)
    assert err.message.startswith('function call error for "parse_json" at (12:33): unable to parse json')
    assert str(err).endswith("at line 2, column 6")


def test_runtime_type_error_of_a_bang_call() -> None:
    program = compile("\n  .n = int!(.status) + 1")
    with pytest.raises(RemapError, match=r'function call error for "int" at \(8:21\): expected integer, got string'
                       ) as info:
        program.run({"status": "200"})
    assert (info.value.line, info.value.column) == (2, 8)


def test_nested_errors_keep_the_innermost_position() -> None:
    program = compile('.x = upcase!(string!(.a))')
    with pytest.raises(RemapError, match=r'"string" at \(13:24\): expected string, got integer') as info:
        program.run({"a": 1})
    assert info.value.column == 14


def test_abort_is_not_a_runtime_error() -> None:
    with pytest.raises(RemapAbort) as info:
        compile('if .drop == true { abort "dropped on purpose" }').run({"drop": True})
    assert not isinstance(info.value, RemapError)
    assert str(info.value) == "dropped on purpose"
    assert (info.value.line, info.value.column) == (1, 20)


def test_error_in_closure_body_points_into_the_closure() -> None:
    program = compile('map_values(.) -> |v| {\n    upcase!(v)\n}')
    with pytest.raises(RemapError) as info:
        program.run({"a": "x", "b": 1})
    assert (info.value.line, info.value.column) == (2, 5)


def test_pathologically_deep_programs_are_compile_errors_not_crashes() -> None:
    err = compile_error(" + ".join(["1"] * 3000))
    assert "nests too deeply" in err.message


def test_pathologically_deep_values_are_runtime_errors() -> None:
    deep: dict[str, object] = {}
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(RemapError, match="nests too deeply"):
        compile("flatten!(.d)").run({"d": deep})


_PIECES = st.sampled_from([
    ".", ".a", ".b[0]", '."q k"', "%m", "x", "=", "|=", ",", "(", ")", "[", "]", "{", "}", '"s"', "s'r'",
    "r'[a-z]+'", "t'2020-01-01T00:00:00Z'", "1", "2.5", "true", "null", "+", "-", "*", "/", "%", "==", "<",
    "&&", "||", "!", "??", "|", ":", ";", "\n", "if", "else", "abort", "upcase", "upcase!", "parse_json",
    "map_values", "->", "|v|", "_", "#c\n", "del", "exists",
])


@given(st.lists(_PIECES, max_size=14))
@settings(max_examples=400, deadline=None)
def test_any_token_soup_compiles_or_reports_a_compile_error(pieces: list[str]) -> None:
    source = " ".join(pieces)
    try:
        program = compile(source)
    except RemapCompileError as err:
        assert err.line is None or err.line >= 1
        return
    try:
        program.run({"a": "x", "b": [1]}, {"m": 1})
    except (RemapError, RemapAbort):
        pass
