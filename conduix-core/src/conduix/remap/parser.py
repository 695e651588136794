"""Parse remap source text into the syntax tree of :mod:`conduix.remap.nodes`.

The grammar follows the layout of VRL's own LALR grammar (operator levels,
newline rules) and runs on lark's LALR parser. Newlines separate expressions;
a small post-lexer drops the newlines that cannot end an expression (after an
operator, an opening bracket or a comma, before a closing bracket), which keeps
the grammar free of newline noise.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from conduix.errors import RemapCompileError
from conduix.remap import nodes as n
from conduix.remap.values import parse_rfc3339

__all__ = ["parse"]

_FIELD = r'(?:[\w@]+|"(?:[^"\\\n]|\\.)*")'
_TAIL = rf"(?:\.{_FIELD}|\[-?\d+\])"

GRAMMAR = rf"""
start: (expr (_sep expr)* _sep?)?
_sep: _NL | _SEMI

?expr: arith _EQ expr                        -> assign
     | arith _MERGE_EQ expr                  -> merge_assign
     | arith _COMMA arith _EQ expr           -> assign_err
     | if_expr
     | ABORT arith?                          -> abort
     | arith
if_expr: IF arith body (ELSE (if_expr | body))?
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
     | call EVENT_PATH     -> expr_query
     | group EVENT_PATH    -> expr_query
     | object EVENT_PATH   -> expr_query
     | array EVENT_PATH    -> expr_query

call: IDENT BANG? _LPAR (arg (_COMMA arg)* _COMMA?)? _RPAR closure?
arg: arg_name _COLON arith -> named_arg
   | arith                 -> pos_arg
arg_name: IDENT | NULL | TRUE | FALSE | IF | ELSE | ABORT
closure: _ARROW (OROR | VBAR param (_COMMA param)* VBAR) block
param: IDENT | UNDERSCORE

array: _LSQB (arith (_COMMA arith)* _COMMA?)? _RSQB
object: _LBRACE (pair (_COMMA pair)* _COMMA?)? _RBRACE
pair: STRING _COLON arith

literal: STRING | RAW_STRING | REGEX | TIMESTAMP | NUMBER | TRUE | FALSE | NULL

IF: "if"
ELSE: "else"
ABORT: "abort"
NULL: "null"
TRUE: "true"
FALSE: "false"
UNDERSCORE: "_"

RAW_STRING.3: /s'(?:[^'\\]|\\.)*'/s
REGEX.3: /r'(?:[^'\\]|\\.)*'/s
TIMESTAMP.3: /t'(?:[^'\\]|\\.)*'/s
STRING: /"(?:[^"\\]|\\.)*"/s
EVENT_PATH.2: /\.{_FIELD}?{_TAIL}*|\.\[-?\d+\]{_TAIL}*/
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

# A newline after these tokens never ends an expression.
_CONTINUES = frozenset({
    "_LPAR", "_LSQB", "_LBRACE", "_COMMA", "_COLON", "_SEMI", "_EQ", "_MERGE_EQ", "_ARROW",
    "COALESCE", "OROR", "ANDAND", "EQEQ", "NEQ", "LE", "GE", "LT", "GT", "VBAR", "PLUS", "MINUS",
    "STAR", "SLASH", "PERCENT", "BANG", "ELSE",
})
# A newline before these tokens never ends an expression.
_CLOSES = frozenset({"_RPAR", "_RSQB", "_RBRACE", "_COMMA", "_SEMI", "ELSE"})


class _Newlines:
    """Post-lexer: keep only the newlines that separate expressions, one per run."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        prev: str | None = None
        pending: Token | None = None
        for tok in stream:
            if tok.type == "_NL":
                if prev is not None and prev not in _CONTINUES:
                    pending = pending or tok
                continue
            if pending is not None:
                if tok.type not in _CLOSES:
                    yield pending
                pending = None
            yield tok
            prev = tok.type


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="basic", postlex=_Newlines(), propagate_positions=True,
                maybe_placeholders=False)


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "\\": "\\", '"': '"', "'": "'", "{": "{", "}": "}",
            "\n": ""}
_ESCAPE_RE = re.compile(r"\\(u\{[0-9A-Fa-f]{1,6}\}|.)", re.S)


def unescape(body: str, tok: Token) -> str:
    def repl(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("u{"):
            return chr(int(code[2:-1], 16))
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


_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def compile_regex(body: str, tok: Any) -> re.Pattern[str]:
    """A VRL (Rust ``regex`` syntax) pattern as a Python pattern; ``(?<name>`` becomes ``(?P<name>``."""
    try:
        return re.compile(_NAMED_GROUP.sub("(?P<", body))
    except re.error as exc:
        raise _SyntaxProblem(f"invalid regular expression: {exc}", tok) from None


@v_args(inline=True)
class _Build(Transformer[Token, Any]):
    """Turn lark's parse tree into :mod:`nodes`."""

    # literals
    def literal(self, tok: Token) -> n.Literal:
        kind = tok.type
        text = str(tok)
        value: Any
        if kind == "STRING":
            value = unescape(text[1:-1], tok)
        elif kind == "RAW_STRING":
            value = text[2:-1].replace("\\'", "'")
        elif kind == "REGEX":
            value = compile_regex(text[2:-1].replace("\\'", "'"), tok)
        elif kind == "TIMESTAMP":
            try:
                value = parse_rfc3339(text[2:-1])
            except ValueError:
                raise _SyntaxProblem(f"invalid timestamp literal {text}", tok,
                                     "use RFC 3339, e.g. t'2021-02-10T23:32:00Z'") from None
        elif kind == "NUMBER":
            clean = text.replace("_", "")
            value = float(clean) if ("." in clean or "e" in clean or "E" in clean) else int(clean)
        else:
            value = {"TRUE": True, "FALSE": False, "NULL": None}[kind]
        return n.Literal(*_pos(tok), value)

    @v_args(meta=True, inline=True)
    def array(self, meta: Any, *items: n.Node) -> n.Array:
        return n.Array(meta.line, meta.column, list(items))

    def pair(self, key: Token, value: n.Node) -> tuple[str, n.Node, Token]:
        return (unescape(key[1:-1], key), value, key)

    @v_args(meta=True, inline=True)
    def object(self, meta: Any, *pairs: tuple[str, n.Node, Token]) -> n.Object:
        return n.Object(meta.line, meta.column, [(k, v) for k, v, _ in pairs])

    @v_args(meta=True, inline=True)
    def block(self, meta: Any, *exprs: n.Node) -> n.Block:
        return n.Block(meta.line, meta.column, list(exprs))

    body = block

    def group(self, expr: n.Node) -> n.Node:
        return expr

    # queries
    def event_query(self, tok: Token) -> n.Query:
        text = str(tok)
        segs: list[n.Segment] = [] if text == "." else _segments(text if not text.startswith(".[") else text[1:],
                                                                  tok)
        return n.Query(*_pos(tok), "event", segs)

    def meta_query(self, tok: Token) -> n.Query:
        return n.Query(*_pos(tok), "meta", _segments("." + str(tok)[1:], tok))

    def meta_root(self, tok: Token) -> n.Query:
        return n.Query(*_pos(tok), "meta", [])

    def var_query(self, tok: Token) -> n.Query:
        text = str(tok)
        match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text)
        assert match is not None
        return n.Query(*_pos(tok), "var", _segments(text[match.end():], tok), name=match.group(0))

    def variable(self, tok: Token) -> n.Query:
        return n.Query(*_pos(tok), "var", [], name=str(tok))

    def expr_query(self, base: n.Node, tok: Token) -> n.Query:
        line, column = _pos(base)
        return n.Query(line, column, "expr", _segments(str(tok), tok), base=base)

    def underscore(self, tok: Token) -> n.Underscore:
        return n.Underscore(*_pos(tok))

    # operators
    def binop(self, left: n.Node, op: Token, right: n.Node) -> n.Binary:
        line, column = _pos(left)
        return n.Binary(line, column, str(op), left, right)

    def not_op(self, bang: Token, operand: n.Node) -> n.Unary:
        return n.Unary(*_pos(bang), "!", operand)

    def neg_op(self, minus: Token, operand: n.Node) -> n.Node:
        if isinstance(operand, n.Literal) and type(operand.value) in (int, float):
            return n.Literal(*_pos(minus), -operand.value)
        return n.Unary(*_pos(minus), "-", operand)

    # statements
    def assign(self, target: n.Node, value: n.Node) -> n.Assign:
        return n.Assign(*_pos(target), "=", target, value)

    def merge_assign(self, target: n.Node, value: n.Node) -> n.Assign:
        return n.Assign(*_pos(target), "|=", target, value)

    def assign_err(self, target: n.Node, err: n.Node, value: n.Node) -> n.Assign:
        return n.Assign(*_pos(target), "=", target, value, err_target=err)

    def if_expr(self, kw: Token, cond: n.Node, then: n.Block, *rest: Any) -> n.If:
        otherwise = rest[1] if rest else None
        return n.If(*_pos(kw), cond, then, otherwise)

    def abort(self, kw: Token, message: n.Node | None = None) -> n.Abort:
        return n.Abort(*_pos(kw), message)

    # calls
    def arg_name(self, tok: Token) -> Token:
        return tok

    def named_arg(self, name: Token, value: n.Node) -> tuple[str | None, n.Node]:
        return (str(name), value)

    def pos_arg(self, value: n.Node) -> tuple[str | None, n.Node]:
        return (None, value)

    def param(self, tok: Token) -> str | None:
        return None if tok.type == "UNDERSCORE" else str(tok)

    def closure(self, *parts: Any) -> n.Closure:
        body = parts[-1]
        params = [p for p in parts[:-1] if not isinstance(p, Token)]
        return n.Closure(body.line, body.column, params, body)

    def call(self, name: Token, *parts: Any) -> n.Call:
        bang = bool(parts) and isinstance(parts[0], Token) and parts[0].type == "BANG"
        rest = parts[1:] if bang else parts
        closure = rest[-1] if rest and isinstance(rest[-1], n.Closure) else None
        args = [a for a in rest if isinstance(a, tuple)]
        return n.Call(*_pos(name), str(name), bang, args, closure)

    def start(self, *exprs: n.Node) -> n.Block:
        return n.Block(1, 1, list(exprs))


def _pos(node: Any) -> tuple[int, int]:
    if isinstance(node, Token):
        return node.line or 0, node.column or 0
    return node.line, node.column


_TOKEN_NAMES = {
    "_NL": "a newline", "$END": "the end of the program", "_RPAR": '")"', "_LPAR": '"("',
    "_RBRACE": '"}"', "_LBRACE": '"{"', "_RSQB": '"]"', "_LSQB": '"["', "_COMMA": '","', "_COLON": '":"',
    "_EQ": '"="', "_SEMI": '";"', "IDENT": "a name", "STRING": "a string", "NUMBER": "a number",
    "EVENT_PATH": "a path", "_ARROW": '"->"', "BANG": '"!"', "MINUS": '"-"', "PERCENT": '"%"',
    "RAW_STRING": "a raw string", "REGEX": "a regex", "TIMESTAMP": "a timestamp", "META_PATH": "a metadata path",
    "VAR_PATH": "a variable path", "IF": '"if"', "ELSE": '"else"', "ABORT": '"abort"', "NULL": "null",
    "TRUE": "true", "FALSE": "false", "UNDERSCORE": '"_"', "COALESCE": '"??"', "OROR": '"||"', "ANDAND": '"&&"',
    "EQEQ": '"=="', "NEQ": '"!="', "LE": '"<="', "GE": '">="', "LT": '"<"', "GT": '">"', "VBAR": '"|"',
    "PLUS": '"+"', "STAR": '"*"', "SLASH": '"/"', "_MERGE_EQ": '"|="',
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
    except VisitError as exc:
        orig = exc.orig_exc
        if isinstance(orig, _SyntaxProblem):
            raise RemapCompileError(orig.message, line=orig.line, column=orig.column, source=source,
                                    hint=orig.hint) from None
        raise
    except UnexpectedEOF:
        lines = source.splitlines() or [""]
        raise RemapCompileError("syntax error: unexpected end of program", line=len(lines),
                                column=len(lines[-1]) + 1, source=source) from None
    except UnexpectedToken as exc:
        tok = exc.token
        expected = sorted({_TOKEN_NAMES.get(t, t.lower()) for t in exc.expected if not t.startswith("__")})
        hint = f"expected one of: {', '.join(expected[:10])}" if expected else None
        line, column = exc.line, exc.column
        if tok.type == "$END" or line in (None, -1):
            lines = source.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
        raise RemapCompileError(f"syntax error: unexpected {_describe(tok)}", line=line, column=column,
                                source=source, hint=hint) from None
    except UnexpectedCharacters as exc:
        char = source[exc.pos_in_stream] if exc.pos_in_stream is not None else "?"
        raise RemapCompileError(f"syntax error: unexpected character {char!r}",
                                line=exc.line, column=exc.column, source=source) from None
    except UnexpectedInput as exc:  # pragma: no cover - other lark input errors
        raise RemapCompileError(f"syntax error: {exc}", line=getattr(exc, "line", None),
                                column=getattr(exc, "column", None), source=source) from None
