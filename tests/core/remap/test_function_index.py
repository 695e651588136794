"""The remap function table loads a theme's module when one of its functions is first looked up (start-up
time), through an index generated from the modules and kept current by this test."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conduix.remap import functions
from conduix.remap.functions import FunctionTable, _index, function_table


def test_the_shipped_function_index_is_current() -> None:
    with open(_index.__file__, encoding="utf-8") as shipped:
        assert shipped.read() == functions.index_source(), \
            "a remap function was added, renamed or moved: run python tools/remap_function_index.py"


def test_compiling_a_program_loads_only_the_modules_of_the_functions_it_calls() -> None:
    code = ("import sys; from conduix.remap import compile; compile('.x = upcase!(.a)'); "
            "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('conduix.remap.functions.')"
            " and not m.rsplit('.', 1)[1].startswith('_') and m.rsplit('.', 1)[1] != 'spec'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str([_index.MODULES["upcase"]])


def test_a_name_the_index_does_not_know_is_still_found_and_an_unknown_one_is_a_key_error() -> None:
    table = FunctionTable({"upcase": "strings"})  # a stale index: knows only one name
    assert table["parse_json"] is function_table()["parse_json"]
    assert table.get("no_such_function") is None
    with pytest.raises(KeyError):
        table["no_such_function"]
    assert set(table) == set(function_table()) and "downcase" in table


def test_every_indexed_name_resolves_to_its_spec() -> None:
    table = function_table()
    assert sorted(table) == sorted(_index.MODULES)
    for name in _index.MODULES:
        assert table[name].name == name
