"""The remap parser runs tables generated from its grammar by lark (start-up time) with a small LALR runtime of
its own (:mod:`conduix.remap._lalr`): the tables are kept current, and the runtime parses as lark does."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lark import Token as LarkToken
from lark import Tree as LarkTree
from lark.exceptions import UnexpectedCharacters as LarkUnexpectedCharacters
from lark.exceptions import UnexpectedToken as LarkUnexpectedToken

from conduix.remap import _lalr, _parser_tables, parser

ROOT = Path(__file__).resolve().parents[3]

PROGRAM = """\
m = object!(parse_json!(.message))
if m.level == "debug" { abort } else if exists(.a[0]) { .b = [1, 2][0] }
.tags = map_values(array!(.tags)) -> |v| { upcase!(v) } ?? []
. = {"user": m.user, "n": -1.5e3, "s": "x{{ .y }}"}
"""

POSITIONS = ("line", "column", "start_pos", "end_line", "end_column", "end_pos")


def test_the_shipped_parser_tables_are_those_of_the_grammar() -> None:
    # lark numbers its states in a different order in every process: the tables are compared by what they
    # were made from, and by what they parse.
    assert _parser_tables.GRAMMAR_ID.split(" lark ")[0] == parser._grammar_hash(), \
        "the remap grammar changed: run python tools/remap_parser_tables.py"


def corpus() -> list[str]:
    """Every string constant of the remap tests and every code block of docs/remap.md: programs, broken
    programs and text that is no program at all (each must end as lark ends it)."""
    texts = {PROGRAM, "", "\n\n", "# only a comment", ".a = 1;;", "if true {", "f(", ".a = 1 @", "[1, 2][0]",
             "x = 1\n\n  .a = x # c\n", "t'2021-01-01T00:00:00Z'", "r'a+' ", "s'raw'", "abort", "return 1"}
    for path in sorted((ROOT / "tests" / "core" / "remap").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 5000:
                texts.add(node.value)
    texts.update(re.findall(r"```(?:coffee|vrl|remap)?\n(.*?)```", (ROOT / "docs" / "remap.md").read_text(), re.S))
    return sorted(texts)


def outcome(parse: Any, text: str) -> Any:
    try:
        return ("tree", shape(parse(text)))
    except (LarkUnexpectedToken, _lalr.UnexpectedToken) as exc:
        return ("token", exc.token.type, str(exc.token), exc.line, exc.column, sorted(exc.expected))
    except (LarkUnexpectedCharacters, _lalr.UnexpectedCharacters) as exc:
        return ("characters", exc.pos_in_stream, exc.line, exc.column)


def shape(node: Any) -> Any:
    """A tree as plain data: rule, positions (those lark's meta has), children; tokens with their positions."""
    if isinstance(node, (LarkTree, _lalr.Tree)):
        meta = {name: getattr(node.meta, name) for name in POSITIONS if hasattr(node.meta, name)}
        return (node.data, meta, [shape(child) for child in node.children])
    assert isinstance(node, (LarkToken, _lalr.Token)), node
    return (node.type, str(node), *(getattr(node, name) for name in POSITIONS))


def test_the_runtime_parses_every_text_of_the_corpus_as_lark_does() -> None:
    lark_parser, ours = parser._build_parser(), parser._parser()
    texts = corpus()
    assert len(texts) > 1000
    different = [text for text in texts if outcome(ours.parse, text) != outcome(lark_parser.parse, text)]
    assert not different, different[:5]
    trees = sum(outcome(ours.parse, text)[0] == "tree" for text in texts)
    assert trees > 500  # the corpus holds real programs, not only errors


def test_parsing_with_tables_built_from_the_grammar_gives_the_same_tree() -> None:
    built = _lalr.Parser(parser.tables_data(), postlex=parser._Newlines())
    assert shape(built.parse(PROGRAM)) == shape(parser._parser().parse(PROGRAM))


@pytest.mark.parametrize("source", ["if true {", ".a = 1 @", 'x = "\\q"'])
def test_syntax_errors_name_line_and_column(source: str) -> None:
    with pytest.raises(Exception) as info:
        parser.parse(source)
    assert type(info.value).__name__ == "RemapCompileError" and info.value.line == 1


def test_compiling_a_program_imports_neither_lark_nor_regex() -> None:
    code = ("import sys; from conduix.remap import compile; compile('.a = upcase!(.b) # x'); "
            "print(sorted(m for m in ('lark', 'regex') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
