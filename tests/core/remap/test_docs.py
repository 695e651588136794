"""docs/remap.md documents every remap function, generated from the function table."""

from __future__ import annotations

from pathlib import Path

from conduix.remap import compile, function_names
from conduix.remap.functions import function_reference, function_table, vrl_status
from conduix.remap.functions.vrl import LEFT_OUT, VECTOR_FUNCTIONS, VRL_FUNCTIONS

DOC = Path(__file__).resolve().parents[3] / "docs" / "remap.md"


def test_function_reference_in_docs_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("-->\n", text.index("<!-- functions:")) + len("-->\n")
    end = text.index("<!-- end of functions -->")
    assert text[start:end] == function_reference(), (
        "docs/remap.md is out of date: regenerate the block between the markers with "
        "conduix.remap.functions.function_reference()")


def test_every_function_is_documented_with_an_example() -> None:
    reference = function_reference()
    for name in function_names():
        assert f"`{name}(" in reference, name
        assert function_table()[name].example, f"{name} has no example"


def test_documented_examples_hold() -> None:
    for name, spec in function_table().items():
        value = compile(spec.example).evaluate({})[0]
        if " == " in spec.example:
            assert value is True, f"the example of {name} does not hold: {spec.example}"


def test_vrl_function_table_in_docs_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("-->\n", text.index("<!-- vrl functions:")) + len("-->\n")
    end = text.index("<!-- end of vrl functions -->")
    assert text[start:end] == vrl_status(), (
        "docs/remap.md is out of date: regenerate the VRL table with conduix.remap.functions.vrl_status()")


def test_every_vrl_function_is_here_or_left_out_with_a_reason() -> None:
    shipped = set(function_names())
    for name in (*VRL_FUNCTIONS, *VECTOR_FUNCTIONS):
        assert name in shipped or LEFT_OUT.get(name), f"{name}: ship it or say in LEFT_OUT why not"
    assert not shipped & set(LEFT_OUT), "a function is both shipped and left out"
