"""Parse remap source text into the syntax tree of :mod:`conduix.remap.nodes`.

The grammar follows the layout of VRL's own LALR grammar (operator levels,
newline rules); lark builds its LALR tables, which :mod:`conduix.remap._lalr` runs (without importing lark,
which costs every start of a process more than the parsing). A small post-lexer drops the newlines that cannot
end an expression (after an operator, an opening bracket or a comma, before a
closing bracket, between an ``if`` condition and its block), which keeps the
grammar free of newline noise, and turns ``[1]`` written right after a closing
bracket into an index (``[1, 2][0]``, ``f(x)[0]``), not an array.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypedDict

from conduix.errors import RemapCompileError
from conduix.remap import nodes as n
from conduix.remap._lalr import Parser, Token, Tree, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from conduix.remap.regex import Regex, RegexError, compile_regex
from conduix.remap.values import parse_rfc3339

if TYPE_CHECKING:
    from lark import Lark

__all__ = ["RESERVED", "parse"]

_FIELD = r'(?:[\w@]+|"(?:[^"\\\n]|\\.)*")'
_TAIL = rf"(?:\.{_FIELD}|\[-?\d+\])"

GRAMMAR = rf"""
start: (expr (_sep expr)* _sep?)?
_sep: _NL | _SEMI

?expr: arith _EQ expr                        -> assign
     | arith _MERGE_EQ expr                  -> merge_assign
     | arith _COMMA arith _EQ expr           -> assign_err
     | arith _COMMA arith _MERGE_EQ expr     -> merge_assign_err
     | if_expr
     | ABORT arith?                          -> abort
     | RETURN expr                           -> return_
     | arith
if_expr: IF predicate body (ELSE (if_expr | body))?
?predicate: arith
          | _LPAR _statements _RPAR          -> predicate_block
_statements: expr (_sep expr)+ _sep? | expr _sep
body: _LBRACE (expr (_sep expr)* _sep?)? _RBRACE
block: _LBRACE expr (_sep expr)* _sep? _RBRACE

?arith: arith COALESCE logical -> binop | logical
?logical: logical (OROR | ANDAND) equality -> binop | equality
?equality: equality (EQEQ | NEQ) comparison -> binop | comparison
?comparison: comparison (LT | LE | GT | GE) merge -> binop | merge
?merge: merge VBAR additive -> binop | additive
?additive: additive (PLUS | MINUS) factor -> binop | factor
?factor: factor (STAR | SLASH | PERCENT) unary -> binop | unary
?unary: BANG unary -> not_op | MINUS unary -> neg_op | term

?term: literal | array | object | block | group | query | call
     | UNDERSCORE -> underscore
group: _LPAR expr _RPAR
query: EVENT_PATH          -> event_query
     | META_PATH           -> meta_query
     | PERCENT             -> meta_root
     | VAR_PATH            -> var_query
     | IDENT               -> variable
     | _queryable (EVENT_PATH | INDEX_PATH)+ -> expr_query
_queryable: call | group | object | array | block

call: IDENT BANG? _LPAR (arg (_COMMA arg)* _COMMA?)? _RPAR closure?
arg: arg_name _COLON arith -> named_arg
   | arith                 -> pos_arg
arg_name: IDENT | NULL | TRUE | FALSE | IF | ELSE | ABORT | RETURN
closure: _ARROW (OROR | VBAR param (_COMMA param)* _COMMA? VBAR) block
param: IDENT | UNDERSCORE

array: _LSQB (arith (_COMMA arith)* _COMMA?)? _RSQB
object: _LBRACE (pair (_COMMA pair)* _COMMA?)? _RBRACE
pair: STRING _COLON arith

literal: STRING | RAW_STRING | REGEX | TIMESTAMP | NUMBER | TRUE | FALSE | NULL

IF: "if"
ELSE: "else"
ABORT: "abort"
RETURN: "return"
NULL: "null"
TRUE: "true"
FALSE: "false"
UNDERSCORE: "_"

RAW_STRING.3: /s'(?:[^'\\]|\\.)*'/s
REGEX.3: /r'(?:[^'\\]|\\.)*'/s
TIMESTAMP.3: /t'(?:[^'\\]|\\.)*'/s
STRING: /"(?:[^"\\]|\\.)*"/s
EVENT_PATH.2: /\.{_FIELD}?{_TAIL}*|\.\[-?\d+\]{_TAIL}*/
%declare INDEX_PATH
META_PATH.2: /%{_FIELD}{_TAIL}*/
VAR_PATH.2: /[A-Za-z_][A-Za-z0-9_]*{_TAIL}+/
IDENT: /[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?/

COALESCE: "??"
OROR: "||"
ANDAND: "&&"
EQEQ: "=="
NEQ: "!="
LE: "<="
GE: ">="
LT: "<"
GT: ">"
VBAR: "|"
PLUS: "+"
MINUS: "-"
STAR: "*"
SLASH: "/"
PERCENT: "%"
BANG: "!"
_MERGE_EQ: "|="
_EQ: "="
_ARROW: "->"
_COMMA: ","
_COLON: ":"
_SEMI: ";"
_LPAR: "("
_RPAR: ")"
_LSQB: "["
_RSQB: "]"
_LBRACE: "{{"
_RBRACE: "}}"
_NL: /\n/
COMMENT: /#[^\n]*/

%ignore /[ \t\f\r]+/
%ignore COMMENT
"""

RESERVED = frozenset({
    "array", "bool", "boolean", "break", "continue", "do", "emit", "float", "for", "forall", "foreach", "all",
    "each", "any", "try", "undefined", "int", "integer", "iter", "object", "regex", "string", "traverse",
    "timestamp", "duration", "unless", "walk", "while", "loop",
})
"""Names VRL reserves for future use: not allowed as variable names (function names and fields are fine)."""

# A newline after these tokens never ends an expression.
_CONTINUES = frozenset({
    "_LPAR", "_LSQB", "_LBRACE", "_COMMA", "_COLON", "_SEMI", "_EQ", "_MERGE_EQ", "_ARROW",
    "COALESCE", "OROR", "ANDAND", "EQEQ", "NEQ", "LE", "GE", "LT", "GT", "VBAR", "PLUS", "MINUS",
    "STAR", "SLASH", "PERCENT", "BANG", "ELSE",
})
# A newline before these tokens never ends an expression.
_CLOSES = frozenset({"_RPAR", "_RSQB", "_RBRACE", "_COMMA", "_SEMI", "ELSE"})
_OPENERS = frozenset({"_LPAR", "_LSQB", "_LBRACE"})
_CLOSERS = frozenset({"_RPAR", "_RSQB", "_RBRACE"})


class _Newlines:
    """Post-lexer: keep only the newlines that separate expressions, one per run; make indexes."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        prev: str | None = None
        pending: Token | None = None
        depth = 0
        predicates: list[int] = []  # bracket depths at which an ``if`` condition is being read
        for tok in _indexes(stream):
            kind = tok.type
            if kind == "_NL":
                if prev is not None and prev not in _CONTINUES:
                    pending = pending or tok
                continue
            body_starts = kind == "_LBRACE" and bool(predicates) and predicates[-1] == depth
            if pending is not None:
                if kind not in _CLOSES and not body_starts:
                    yield pending
                pending = None
            if body_starts:
                predicates.pop()
            if kind == "IF":
                predicates.append(depth)
            elif kind in _OPENERS:
                depth += 1
            elif kind in _CLOSERS:
                depth -= 1
            yield tok
            prev = kind


_INDEXABLE = frozenset({"_RPAR", "_RSQB", "_RBRACE", "INDEX_PATH"})
_INDEX_SHAPES = (["_LSQB", "NUMBER", "_RSQB"], ["_LSQB", "MINUS", "NUMBER", "_RSQB"])


def _indexes(stream: Iterator[Token]) -> Iterator[Token]:
    """``[n]`` written right after ``)``, ``]``, ``}`` (or another index) becomes an INDEX_PATH token."""
    prev: Token | None = None
    held: list[Token] = []
    for tok in stream:
        if held:
            held.append(tok)
            shape = [t.type for t in held]
            if any(shape == full[:len(shape)] for full in _INDEX_SHAPES) and shape not in _INDEX_SHAPES:
                continue
            if shape in _INDEX_SHAPES and str(held[-2]).isdigit():
                # the class of the tokens it is given: lark's too when lark runs this post-lexer (tables, tests)
                index = type(held[0]).new_borrow_pos("INDEX_PATH", "[" + "".join(map(str, held[1:-1])) + "]", held[0])
                index.end_pos, index.end_line, index.end_column = tok.end_pos, tok.end_line, tok.end_column
                held = []
                prev = index
                yield index
                continue
            *head, tok = held  # not an index after all: the tokens go on as they were
            held = []
            yield from head
        if tok.type == "_LSQB" and prev is not None and prev.type in _INDEXABLE and prev.end_pos == tok.start_pos:
            held = [tok]
            continue
        prev = tok
        yield tok
    yield from held


def _build_parser() -> Lark:
    """lark's own parser of the grammar (builds the tables: about 0.3 s)."""
    from lark import Lark

    return Lark(GRAMMAR, parser="lalr", lexer="basic", postlex=_Newlines(), propagate_positions=True,
                maybe_placeholders=False)


def _grammar_hash() -> str:
    return hashlib.sha256(GRAMMAR.encode()).hexdigest()


def _grammar_id() -> str:
    """What the parser tables were made from: the grammar and the lark version."""
    import lark

    return f"{_grammar_hash()} lark {lark.__version__}"


@functools.lru_cache(maxsize=1)
def _parser() -> Parser:
    """The LALR parser, from the tables generated into :mod:`conduix.remap._parser_tables` (building them from
    the grammar takes lark about 0.3 s, at every start of a process) unless the grammar changed since."""
    try:
        from conduix.remap import _parser_tables as tables
    except ImportError:  # pragma: no cover - the module ships with the package
        return Parser(tables_data(), postlex=_Newlines())
    if tables.GRAMMAR_ID.split(" lark ")[0] != _grammar_hash():
        return Parser(tables_data(), postlex=_Newlines())
    return Parser(tables.TABLES, postlex=_Newlines())


def tables_data(built: Lark | None = None) -> dict[str, Any]:
    """What :class:`conduix.remap._lalr.Parser` runs, taken from lark's parser of the grammar: the terminals in
    the order lark's lexer tries them, the names that are keywords, the LALR states (``n >= 0``: shift to or go
    to state ``n``; ``n < 0``: reduce rule ``~n``) and, per rule, how lark builds its node."""
    built = built or _build_parser()
    lexer = built.parser.lexer.lexer
    scanner = lexer.scanner
    keywords: dict[str, dict[str, str]] = {}
    for kind, callback in lexer.callback.items():
        for term in callback.scanner.terminals:  # lark's UnlessCallback: a name that is a keyword
            assert not term.pattern.flags and term.pattern.type == "str", term
            keywords.setdefault(str(kind), {})[str(term.pattern.value)] = str(term.name)
    table = built.parser.parser._parse_table
    rules = list(built.rules)
    number = {rule: i for i, rule in enumerate(rules)}
    states: list[dict[str, int]] = []
    for state in range(len(table.states)):
        actions = {}
        for symbol, (action, arg) in table.states[state].items():
            actions[str(symbol)] = arg if action.name == "Shift" else ~number[arg]
        states.append(actions)
    plans = []
    for rule in rules:
        expansion = rule.expansion
        include = tuple((i, not sym.is_term and sym.name.startswith("_")) for i, sym in enumerate(expansion)
                        if rule.options.keep_all_tokens or not (sym.is_term and getattr(sym, "filter_out", False)))
        filtered = len(include) < len(expansion) or any(expand for _, expand in include)
        plans.append((str(rule.origin.name), len(expansion), str(rule.alias or rule.origin.name),
                      bool(rule.options.expand1 and not rule.alias), include if filtered else None))
    return {"terminals": [(str(t.name), str(t.pattern.to_regexp())) for t in scanner.terminals],
            "keywords": keywords, "newline_types": sorted(map(str, lexer.newline_types)),
            "ignore": sorted(map(str, lexer.ignore_types)), "states": states,
            "start": table.start_states["start"], "end": table.end_states["start"], "rules": plans}


def tables_source() -> str:
    """The text of :mod:`conduix.remap._parser_tables` for the current grammar (``tools/remap_parser_tables.py``
    writes it; a test checks that the shipped one was made from this grammar). Plain Python literals: nothing
    is unpickled."""
    import pprint

    return ('"""The remap grammar\'s LALR tables, generated by tools/remap_parser_tables.py: do not edit."""\n'
            "# ruff: noqa: E501\n\n"
            "from typing import Any\n\n"
            f"GRAMMAR_ID = {_grammar_id()!r}\n\n"
            f"TABLES: dict[str, Any] = {pprint.pformat(tables_data(), width=120, compact=True, sort_dicts=False)}\n")


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "\\": "\\", '"': '"', "'": "'", "{": "{", "}": "}"}
_ESCAPE_RE = re.compile(r"\\(u\{[0-9A-Fa-f]{1,6}\}|\n[ \t]*|.)", re.S)


def unescape(body: str, tok: Any) -> str:
    def repl(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("u{"):
            return chr(int(code[2:-1], 16))
        if code.startswith("\n"):  # a line continuation: the newline and the next line's indentation go
            return ""
        if code in _ESCAPES:
            return _ESCAPES[code]
        raise _SyntaxProblem(f"invalid escape sequence \\{code}", tok)

    return _ESCAPE_RE.sub(repl, body)


class _SyntaxProblem(Exception):
    def __init__(self, message: str, tok: Any, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = getattr(tok, "line", None)
        self.column = getattr(tok, "column", None)
        self.hint = hint


def _field(text: str, tok: Token) -> str:
    return unescape(text[1:-1], tok) if text.startswith('"') else text


_SEG_RE = re.compile(rf'\.({_FIELD})|\[(-?\d+)\]')


def _segments(text: str, tok: Token) -> list[n.Segment]:
    out: list[n.Segment] = []
    pos = 0
    while pos < len(text):
        match = _SEG_RE.match(text, pos)
        if match is None:
            raise _SyntaxProblem(f"invalid path {text!r}", tok)
        if match.group(1) is not None:
            out.append(_field(match.group(1), tok))
        else:
            out.append(int(match.group(2)))
        pos = match.end()
    return out


def _regex(body: str, tok: Any) -> Regex:
    """A regex literal, compiled once (RE2: linear-time matching, as VRL's engine)."""
    try:
        return compile_regex(body)
    except RegexError as exc:
        raise _SyntaxProblem(f"invalid regular expression: {exc}", tok,
                             "see docs/remap.md, section Regular expressions") from None


def _template_parts(body: str) -> list[tuple[bool, str]] | None:
    """A string literal's text split into literal text and ``{{ variable }}`` parts (``None``: no template).

    As in VRL: ``\\{{`` and ``\\}}`` are literal braces; the literal parts keep their escapes for
    :func:`unescape`.
    """
    if "{{" not in body:
        return None
    parts: list[tuple[bool, str]] = []
    current: list[str] = []
    i, size = 0, len(body)
    while i < size:
        if body.startswith("\\{{", i) or body.startswith("\\}}", i):
            current.append(body[i:i + 3])
            i += 3
        elif body[i] == "\\" and i + 1 < size:
            current.append(body[i:i + 2])
            i += 2
        elif body.startswith("{{", i):
            end = body.find("}}", i + 2)
            if end < 0:
                break
            if current:
                parts.append((False, "".join(current)))
                current = []
            parts.append((True, body[i + 2:end].strip()))
            i = end + 2
        else:
            current.append(body[i])
            i += 1
    current.append(body[i:])
    if "".join(current):
        parts.append((False, "".join(current)))
    return parts if any(is_var for is_var, _ in parts) else None


def _template(parts: list[tuple[bool, str]], tok: Token) -> n.Node:
    """``"a {{ x }} b"`` is ``"a " + x + " b"``, as VRL rewrites it."""
    at = _at(tok)
    nodes: list[n.Node] = [n.Query(**at, target="var", segments=[], name=text) if is_var
                           else n.Literal(**at, value=unescape(text, tok)) for is_var, text in parts]
    out = nodes[0]
    for node in nodes[1:]:
        out = n.Binary(**at, op="+", left=out, right=node)
    return out


class Position(TypedDict):
    """Where a node is: line and column (1-based), start and end character offsets."""

    line: int
    column: int
    start: int
    end: int


def _at(where: Any) -> Position:
    """Position keywords of a node from a token or a rule's meta (or from another node)."""
    if isinstance(where, n.Node):
        return {"line": where.line, "column": where.column, "start": where.start, "end": where.end}
    return {"line": getattr(where, "line", 0) or 0, "column": getattr(where, "column", 0) or 0,
            "start": getattr(where, "start_pos", 0) or 0, "end": getattr(where, "end_pos", 0) or 0}


def _spanning(first: Any, meta: Any) -> Position:
    """Line and column of ``first``, the span of the whole rule."""
    at = _at(first)
    at["end"] = getattr(meta, "end_pos", at["end"]) or at["end"]
    return at


class _Build:
    """Turn the parse tree into :mod:`nodes`: a method per rule (or alias), called with the rule's meta and
    its children, built bottom-up."""

    def transform(self, tree: Tree) -> Any:
        children = [self.transform(c) if isinstance(c, Tree) else c for c in tree.children]
        method = getattr(self, tree.data, None)
        if method is None:  # a rule with no method stays a tree, as with lark's Transformer
            new = Tree(tree.data, children)
            new.meta = tree.meta
            return new
        return method(tree.meta, *children)

    # literals
    def literal(self, meta: Any, tok: Token) -> n.Node:
        kind = tok.type
        text = str(tok)
        value: Any
        if kind == "STRING":
            parts = _template_parts(text[1:-1])
            if parts is not None:
                return _template(parts, tok)
            value = unescape(text[1:-1], tok)
        elif kind == "RAW_STRING":
            value = text[2:-1].replace("\\'", "'")
        elif kind == "REGEX":
            value = _regex(text[2:-1].replace("\\'", "'"), tok)
        elif kind == "TIMESTAMP":
            try:
                value = parse_rfc3339(text[2:-1])
            except ValueError:
                raise _SyntaxProblem(f"invalid timestamp literal {text}", tok,
                                     "use RFC 3339, e.g. t'2021-02-10T23:32:00Z'") from None
        elif kind == "NUMBER":
            clean = text.replace("_", "")
            value = float(clean) if ("." in clean or "e" in clean or "E" in clean) else int(clean)
            if type(value) is int and value > 2**63:  # 2**63 itself is -9223372036854775808 with its minus
                raise _SyntaxProblem(f"integer literal {text} does not fit in 64 bits", tok)
        else:
            value = {"TRUE": True, "FALSE": False, "NULL": None}[kind]
        return n.Literal(**_at(tok), value=value)

    def array(self, meta: Any, *items: n.Node) -> n.Array:
        return n.Array(**_at(meta), items=list(items))

    def pair(self, meta: Any, key: Token, value: n.Node) -> tuple[str, n.Node]:
        return (unescape(key[1:-1], key), value)

    def object(self, meta: Any, *pairs: tuple[str, n.Node]) -> n.Object:
        return n.Object(**_at(meta), pairs=list(pairs))

    def block(self, meta: Any, *exprs: n.Node) -> n.Block:
        return n.Block(**_at(meta), exprs=list(exprs))

    body = block

    def predicate_block(self, meta: Any, *exprs: n.Node) -> n.Block:
        block = n.Block(**_at(meta), exprs=list(exprs))
        block.grouped = True
        return block

    def group(self, meta: Any, expr: n.Node) -> n.Node:
        expr.grouped = True
        return expr

    # queries
    def event_query(self, meta: Any, tok: Token) -> n.Query:
        text = str(tok)
        segs: list[n.Segment] = [] if text == "." else _segments(text if not text.startswith(".[") else text[1:],
                                                                  tok)
        return n.Query(**_at(tok), target="event", segments=segs)

    def meta_query(self, meta: Any, tok: Token) -> n.Query:
        return n.Query(**_at(tok), target="meta", segments=_segments("." + str(tok)[1:], tok))

    def meta_root(self, meta: Any, tok: Token) -> n.Query:
        return n.Query(**_at(tok), target="meta", segments=[])

    def var_query(self, meta: Any, tok: Token) -> n.Query:
        text = str(tok)
        match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text)
        assert match is not None
        return n.Query(**_at(tok), target="var", segments=_segments(text[match.end():], tok), name=match.group(0))

    def variable(self, meta: Any, tok: Token) -> n.Query:
        return n.Query(**_at(tok), target="var", segments=[], name=str(tok))

    def expr_query(self, meta: Any, base: n.Node, *tails: Token) -> n.Query:
        segments = [seg for tok in tails for seg in _segments(str(tok), tok)]
        return n.Query(**_spanning(base, meta), target="expr", segments=segments, base=base)

    def underscore(self, meta: Any, tok: Token) -> n.Underscore:
        return n.Underscore(**_at(tok))

    # operators
    def binop(self, meta: Any, left: n.Node, op: Token, right: n.Node) -> n.Binary:
        return n.Binary(**_spanning(left, meta), op=str(op), left=left, right=right)

    def not_op(self, meta: Any, bang: Token, operand: n.Node) -> n.Unary:
        return n.Unary(**_spanning(bang, meta), op="!", operand=operand)

    def neg_op(self, meta: Any, minus: Token, operand: n.Node) -> n.Node:
        if isinstance(operand, n.Literal) and type(operand.value) in (int, float) and not operand.grouped:
            return n.Literal(**_spanning(minus, meta), value=-operand.value)
        return n.Unary(**_spanning(minus, meta), op="-", operand=operand)

    # statements
    def assign(self, meta: Any, target: n.Node, value: n.Node) -> n.Assign:
        return n.Assign(**_spanning(target, meta), op="=", target=target, value=value)

    def merge_assign(self, meta: Any, target: n.Node, value: n.Node) -> n.Assign:
        return n.Assign(**_spanning(target, meta), op="|=", target=target, value=value)

    def assign_err(self, meta: Any, target: n.Node, err: n.Node, value: n.Node) -> n.Assign:
        return n.Assign(**_spanning(target, meta), op="=", target=target, value=value, err_target=err)

    def merge_assign_err(self, meta: Any, target: n.Node, err: n.Node, value: n.Node) -> n.Assign:
        return n.Assign(**_spanning(target, meta), op="|=", target=target, value=value, err_target=err)

    def if_expr(self, meta: Any, kw: Token, cond: n.Node, then: n.Block, *rest: Any) -> n.If:
        otherwise = rest[1] if rest else None
        return n.If(**_spanning(kw, meta), condition=cond, then=then, otherwise=otherwise)

    def abort(self, meta: Any, kw: Token, message: n.Node | None = None) -> n.Abort:
        return n.Abort(**_spanning(kw, meta), message=message)

    def return_(self, meta: Any, kw: Token, value: n.Node) -> n.Return:
        return n.Return(**_spanning(kw, meta), value=value)

    # calls
    def arg_name(self, meta: Any, tok: Token) -> Token:
        return tok

    def named_arg(self, meta: Any, name: Token, value: n.Node) -> tuple[str | None, n.Node]:
        return (str(name), value)

    def pos_arg(self, meta: Any, value: n.Node) -> tuple[str | None, n.Node]:
        return (None, value)

    def param(self, meta: Any, tok: Token) -> tuple[str | None, Token]:
        return (None if tok.type == "UNDERSCORE" else str(tok), tok)

    def closure(self, meta: Any, *parts: Any) -> n.Closure:
        body = parts[-1]
        params = [p for p in parts[:-1] if isinstance(p, tuple)]
        for name, tok in params:
            if name in RESERVED:
                raise _SyntaxProblem("reserved keyword", tok, "use a different name instead")
        return n.Closure(**_at(meta), params=[name for name, _ in params], body=body)

    def call(self, meta: Any, name: Token, *parts: Any) -> n.Call:
        bang = bool(parts) and isinstance(parts[0], Token) and parts[0].type == "BANG"
        rest = parts[1:] if bang else parts
        closure = rest[-1] if rest and isinstance(rest[-1], n.Closure) else None
        args = [a for a in rest if isinstance(a, tuple)]
        at = _spanning(name, meta)
        return n.Call(**at, name=str(name), bang=bang, args=args, closure=closure)

    def start(self, meta: Any, *exprs: n.Node) -> n.Block:
        return n.Block(line=1, column=1, start=0, end=getattr(meta, "end_pos", 0) or 0, exprs=list(exprs))


_TOKEN_NAMES = {
    "_NL": "a newline", "$END": "the end of the program", "_RPAR": '")"', "_LPAR": '"("',
    "_RBRACE": '"}"', "_LBRACE": '"{"', "_RSQB": '"]"', "_LSQB": '"["', "_COMMA": '","', "_COLON": '":"',
    "_EQ": '"="', "_SEMI": '";"', "IDENT": "a name", "STRING": "a string", "NUMBER": "a number",
    "EVENT_PATH": "a path", "INDEX_PATH": "an index", "_ARROW": '"->"', "BANG": '"!"', "MINUS": '"-"',
    "PERCENT": '"%"', "RAW_STRING": "a raw string", "REGEX": "a regex", "TIMESTAMP": "a timestamp",
    "META_PATH": "a metadata path", "VAR_PATH": "a variable path", "IF": '"if"', "ELSE": '"else"',
    "ABORT": '"abort"', "RETURN": '"return"', "NULL": "null", "TRUE": "true", "FALSE": "false",
    "UNDERSCORE": '"_"', "COALESCE": '"??"', "OROR": '"||"', "ANDAND": '"&&"', "EQEQ": '"=="', "NEQ": '"!="',
    "LE": '"<="', "GE": '">="', "LT": '"<"', "GT": '">"', "VBAR": '"|"', "PLUS": '"+"', "STAR": '"*"',
    "SLASH": '"/"', "_MERGE_EQ": '"|="',
}


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "end of program"
    if tok.type == "_NL":
        return "newline"
    return repr(str(tok))


def parse(source: str) -> n.Block:
    """Parse a whole program; raises :class:`RemapCompileError` with line, column and caret."""
    try:
        tree = _parser().parse(source)
        result: n.Block = _Build().transform(tree)
        return result
    except _SyntaxProblem as problem:
        raise RemapCompileError(problem.message, line=problem.line, column=problem.column, source=source,
                                hint=problem.hint) from None
    except UnexpectedToken as exc:
        tok = exc.token
        expected = sorted({_TOKEN_NAMES.get(t, t.lower()) for t in exc.expected if not t.startswith("__")})
        hint = f"expected one of: {', '.join(expected[:10])}" if expected else None
        line, column = exc.line, exc.column
        if tok.type == "$END" or line in (None, -1):
            lines = source.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
        if tok.type == "IDENT" and str(tok) in RESERVED:
            raise RemapCompileError("reserved keyword", line=line, column=column, source=source,
                                    hint="this name is reserved for future use in VRL: use a different name") from None
        raise RemapCompileError(f"syntax error: unexpected {_describe(tok)}", line=line, column=column,
                                source=source, hint=hint) from None
    except UnexpectedCharacters as exc:
        char = source[exc.pos_in_stream] if exc.pos_in_stream is not None else "?"
        raise RemapCompileError(f"syntax error: unexpected character {char!r}",
                                line=exc.line, column=exc.column, source=source) from None
    except UnexpectedInput as exc:  # pragma: no cover - other input errors
        raise RemapCompileError(f"syntax error: {exc}", line=getattr(exc, "line", None),
                                column=getattr(exc, "column", None), source=source) from None
