"""More string functions: case conversion, searching, sieving, redaction, entropy and file paths."""

from __future__ import annotations

import base64
import hashlib
import math
import posixpath
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from conduix.remap.functions._support import from_bytes, is_pattern, library, to_bytes
from conduix.remap.functions.codec import SHA2_VARIANTS as _SHA2
from conduix.remap.functions.hashing import SHA3_VARIANTS as _SHA3
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.typedefs import NOT_CONST
from conduix.remap.values import ExprError, kind_of, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
B = kinds("boolean")
I = kinds("integer")  # noqa: E741
ARR = kinds("array")
REGEX = kinds("regex")

# -- case conversion (the rules of Rust's convert_case, which VRL uses) --------------------------------

_CASES = {"camelCase": "camel", "PascalCase": "pascal", "SCREAMING_SNAKE": "constant", "snake_case": "snake",
          "kebab-case": "kebab"}
_BOUNDARIES = ("lower_upper", "upper_lower", "acronym", "lower_digit", "upper_digit", "digit_lower", "digit_upper")
_DEFAULT_BOUNDARIES = frozenset({"_", "-", " ", "lower_upper", "acronym", "lower_digit", "upper_digit",
                                 "digit_lower", "digit_upper"})
_CASE_BOUNDARIES = {
    "snake": frozenset({"_"}), "constant": frozenset({"_"}), "kebab": frozenset({"-"}),
    "camel": frozenset({"lower_upper", "acronym", "lower_digit", "upper_digit", "digit_lower", "digit_upper"}),
    "pascal": frozenset({"lower_upper", "acronym", "lower_digit", "upper_digit", "digit_lower", "digit_upper"}),
}


def _kind(ch: str) -> str:
    if ch.isdigit():
        return "digit"
    if ch.isupper():
        return "upper"
    if ch.islower():
        return "lower"
    return "other"


def _words(text: str, boundaries: frozenset[str]) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    for i, ch in enumerate(text):
        if ch in "_- " and ch in boundaries:
            words.append("".join(current))
            current = []
            continue
        if current:
            prev, here = _kind(text[i - 1]), _kind(ch)
            nxt = _kind(text[i + 1]) if i + 1 < len(text) else "other"
            split = f"{prev}_{here}" in boundaries and prev != "other" and here != "other" and prev != here
            if (prev, here) == ("upper", "upper") and nxt == "lower" and "acronym" in boundaries:
                split = True
            if (prev, here) == ("upper", "lower"):
                split = "upper_lower" in boundaries
            if split:
                words.append("".join(current))
                current = []
        current.append(ch)
    words.append("".join(current))
    return [w for w in words if w]


def _convert(value: str, to_case: str, original_case: str | None, excluded: list[Any] | None = None) -> str:
    if original_case is not None:
        source = _CASES.get(original_case)
        if source is None:
            raise ExprError(f"case must match one of: {', '.join(_CASES)}")
        boundaries = _CASE_BOUNDARIES[source]
    else:
        boundaries = _DEFAULT_BOUNDARIES
    for name in excluded or ():
        if name not in _BOUNDARIES:
            raise ExprError(f"boundary must match one of: {', '.join(_BOUNDARIES)}")
        boundaries = boundaries - {name}
    words = _words(value, boundaries)
    if to_case in ("snake", "kebab"):
        return ("_" if to_case == "snake" else "-").join(w.lower() for w in words)
    if to_case == "constant":
        return "_".join(w.upper() for w in words)
    capitalised = [w[:1].upper() + w[1:].lower() for w in words]
    if to_case == "camel" and capitalised:
        capitalised[0] = capitalised[0].lower()
    return "".join(capitalised)


def _case_function(name: str, to_case: str, example: str, doc: str) -> None:
    def convert(value: str, original_case: str | None) -> str:
        return _convert(value, to_case, original_case)

    convert.__doc__ = doc
    function(FUNCTIONS, name, Param("value", S), opt("original_case", S, None), returns=S,
             example=example)(convert)


_case_function("camelcase", "camel", 'camelcase("input-string") == "inputString"',
               "Convert to camelCase (``original_case`` names the case of the input, else words split anywhere).")
_case_function("pascalcase", "pascal", 'pascalcase("input-string") == "InputString"', "Convert to PascalCase.")
_case_function("kebabcase", "kebab", 'kebabcase("InputString") == "input-string"', "Convert to kebab-case.")
_case_function("screamingsnakecase", "constant", 'screamingsnakecase("input-string") == "INPUT_STRING"',
               "Convert to SCREAMING_SNAKE case.")


@function(FUNCTIONS, "snakecase", Param("value", S), opt("original_case", S, None),
          opt("excluded_boundaries", ARR, None), returns=S,
          example='snakecase("s3BucketDetails", excluded_boundaries: ["lower_digit"]) == "s3_bucket_details"')
def snakecase(value: str, original_case: str | None, excluded_boundaries: list[Any] | None) -> str:
    """Convert to snake_case; ``excluded_boundaries`` keeps some transitions (``lower_digit``...) together."""
    return _convert(value, "snake", original_case, excluded_boundaries)


# -- measuring and searching -----------------------------------------------------------------------------

@function(FUNCTIONS, "strlen", Param("value", S), returns=I, example='strlen("ñandú") == 5')
def strlen(value: str) -> int:
    """The number of Unicode characters (``length`` of a string counts the same here)."""
    return len(value)


def _byte_offset(text: str, index: int) -> int:
    return len(to_bytes(text[:index]))


@function(FUNCTIONS, "find", Param("value", S), Param("pattern", kinds("string", "regex")), opt("from", I, 0),
          returns=kinds("integer", "null"), example='find("foobarfoobarfoo", "bar", 4) == 9')
def find(value: str, pattern: Any, from_: int) -> int | None:
    """The byte offset of the first match of a string or regex at or after ``from``; null when none."""
    data = to_bytes(value)
    start = max(from_, 0)
    if isinstance(pattern, str):
        found = data.find(to_bytes(pattern), start)
        return None if found < 0 else found
    text = data[start:].decode("utf-8", "surrogateescape")
    match = pattern.search(text)
    return None if match is None else start + _byte_offset(text, match.start())


@function(FUNCTIONS, "contains_all", Param("value", S), Param("substrings", ARR), opt("case_sensitive", B, True),
          returns=B, example='contains_all("The NEEDLE in the Haystack", ["NEEDLE", "Haystack"]) == true')
def contains_all(value: str, substrings: list[Any], case_sensitive: bool) -> bool:
    """Whether every string of ``substrings`` occurs in ``value``."""
    haystack = value if case_sensitive else value.lower()
    for item in substrings:
        if type(item) is not str:
            raise ExprError(f"substrings must be strings, found {kind_of(item)}")
        if (item if case_sensitive else item.lower()) not in haystack:
            return False
    return True


@function(FUNCTIONS, "match_any", Param("value", S), Param("patterns", ARR), returns=B,
          example="match_any(\"I'm a little teapot\", [r'frying pan', r'teapot']) == true")
def match_any(value: str, patterns: list[Any]) -> bool:
    """Whether any of the regexes matches the string."""
    for pattern in patterns:
        if not is_pattern(pattern):
            raise ExprError(f"patterns must be regular expressions, found {kind_of(pattern)}")
        if pattern.search(value) is not None:
            return True
    return False


def _check_chunks(types: list[Any], consts: list[Any]) -> str | bool | None:
    size = consts[1]
    if type(size) is int:
        return '"chunk_size" must be at least 1 byte' if size < 1 else None
    return True  # a size known only at run time may be too small: VRL makes the call fallible


@function(FUNCTIONS, "chunks", Param("value", S), Param("chunk_size", I), returns=ARR, checker=_check_chunks,
          example='chunks("abcdefgh", 4) == ["abcd", "efgh"]')
def chunks(value: str, chunk_size: int) -> list[str]:
    """Split into pieces of ``chunk_size`` bytes (a multi-byte character may be cut, as in VRL)."""
    if chunk_size < 1:
        raise ExprError('"chunk_size" must be at least 1 byte')
    data = to_bytes(value)
    return [from_bytes(data[i:i + chunk_size]) for i in range(0, len(data), chunk_size)]


@function(FUNCTIONS, "sieve", Param("value", S), Param("permitted_characters", REGEX), opt("replace_single", S, ""),
          opt("replace_repeated", S, ""), returns=S,
          example="sieve(\"vector.dev/lowerUPPER\", permitted_characters: r'[a-z]') == \"vectordevlower\"")
def sieve(value: str, permitted_characters: Any, replace_single: str, replace_repeated: str) -> str:
    """Keep only what ``permitted_characters`` matches; runs of rejected characters become the replacements."""
    out: list[str] = []
    last = 0
    for match in permitted_characters.finditer(value):
        gap = match.start() - last
        if gap > 1:
            out.append(replace_repeated)
        elif gap == 1:
            out.append(replace_single)
        out.append(match.group(0))
        last = match.end()
    return "".join(out)


@function(FUNCTIONS, "shannon_entropy", Param("value", S), opt("segmentation", S, "byte"), returns=kinds("float"),
          example='floor(shannon_entropy("vector.dev"), precision: 4) == 2.9219')
def shannon_entropy(value: str, segmentation: str) -> float:
    """Shannon entropy of the string's bytes, ``codepoint``s or ``grapheme`` clusters."""
    items: Any
    if segmentation == "byte":
        items = to_bytes(value)
    elif segmentation == "codepoint":
        items = value
    elif segmentation == "grapheme":
        items = library("regex", "regex").findall(r"\X", value)
    else:
        raise ExprError(f"unknown segmentation {segmentation!r}, expected byte, codepoint or grapheme")
    total = len(items)
    if total == 0:
        return 0.0
    entropy = 0.0
    for count in Counter(items).values():
        p = count / total
        entropy -= p * math.log2(p)
    return entropy + 0.0


# ECMA-48 control sequences (CSI, OSC, other ESC sequences) and C1 CSI, as terminals and strip-ansi-escapes read them
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\"
                   r"|\x1b[ -/]*[0-~]|\x9b[0-?]*[ -/]*[@-~]")


@function(FUNCTIONS, "strip_ansi_escape_codes", Param("value", S), returns=S,
          example='strip_ansi_escape_codes("\\u{1b}[46mfoo\\u{1b}[0m bar") == "foo bar"')
def strip_ansi_escape_codes(value: str) -> str:
    """Remove ANSI terminal escape sequences (colours, cursor movement, titles)."""
    return _ANSI.sub("", value)


# -- redaction ------------------------------------------------------------------------------------------

# VRL's pattern: area 001-899 except 666, group 01-99, serial 0001-9999
_SSN = re.compile(r"(?:00[1-9]|0[1-9][0-9]|[1-578][0-9]{2}|6[0-57-9][0-9]|66[0-57-9])-"
                  r"(?:0[1-9]|[1-9]0|[1-9][1-9])-(?:000[1-9]|00[1-9]0|0[1-9]00|[1-9]000|[1-9]{4})")


def _redactor(spec: Any) -> Callable[[str], str]:
    if spec is None:
        return lambda text: "[REDACTED]"
    if type(spec) is str:
        if spec not in ("full", "sha2", "sha3"):
            raise ExprError(f"unknown redactor {spec!r}, expected full, sha2 or sha3")
        spec = {"type": spec}
    kind = spec.get("type")
    if kind == "full":
        return lambda text: "[REDACTED]"
    if kind == "text":
        replacement = spec.get("replacement")
        if type(replacement) is not str:
            raise ExprError('the "text" redactor needs a string "replacement"')
        return lambda text: replacement
    if kind in ("sha2", "sha3"):
        table = _SHA2 if kind == "sha2" else _SHA3
        algorithm = table.get(spec.get("variant", "SHA-512/256" if kind == "sha2" else "SHA3-512"))
        if algorithm is None:
            raise ExprError(f"invalid {kind} variant, expected one of {', '.join(table)}")
        encoding = spec.get("encoding", "base64")
        if encoding not in ("base64", "base16"):
            raise ExprError("unexpected encoding, expected base64 or base16")

        def digest(text: str) -> str:
            raw = hashlib.new(algorithm, to_bytes(text)).digest()
            return base64.b64encode(raw).decode() if encoding == "base64" else raw.hex()
        return digest
    raise ExprError(f"unknown redactor type {kind!r}, expected full, text, sha2 or sha3")


def _filters(filters: list[Any]) -> list[Any]:
    patterns: list[Any] = []
    for item in filters:
        if is_pattern(item):
            patterns.append(item)
            continue
        name = item.get("type") if type(item) is dict else item
        if name == "us_social_security_number":
            patterns.append(_SSN)
        elif name == "pattern" and type(item) is dict:
            listed = item.get("patterns")
            if type(listed) is not list:
                raise ExprError("pattern filter must have `patterns` specified")
            for pattern in listed:
                if not (is_pattern(pattern) or type(pattern) is str):
                    raise ExprError("`patterns` must be regular expressions")
                patterns.append(pattern if is_pattern(pattern) else re.compile(re.escape(pattern)))
        else:
            raise ExprError("unknown filter name")
    return patterns


def _check_redact(types: list[Any], consts: list[Any]) -> str | None:
    if consts[1] is NOT_CONST:
        return "the filters must be written in the call (a literal array), as VRL requires"
    try:
        _filters(consts[1])
    except ExprError as exc:
        return exc.message
    return None


@function(FUNCTIONS, "redact", Param("value", kinds("string", "object", "array")), Param("filters", ARR),
          opt("redactor", kinds("string", "object"), None), returns=kinds("string", "object", "array"),
          checker=_check_redact,
          example="redact(\"my id is 123456\", filters: [r'\\d+']) == \"my id is [REDACTED]\"")
def redact(value: Any, filters: list[Any], redactor: Any) -> Any:
    """Replace what the filters match (regexes, ``us_social_security_number``) in strings, recursively."""
    patterns = _filters(filters)
    apply = _redactor(redactor)

    def walk(item: Any) -> Any:
        if type(item) is str:
            for pattern in patterns:
                item = pattern.sub(lambda m: apply(m.group(0)), item)
            return item
        if type(item) is dict:
            return {k: walk(v) for k, v in item.items()}
        if type(item) is list:
            return [walk(v) for v in item]
        return item

    return walk(value)


# -- numbers as text -------------------------------------------------------------------------------------

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


@function(FUNCTIONS, "format_int", Param("value", I), opt("base", I, 10), returns=S, fallible=True,
          example='format_int!(42, 16) == "2a"')
def format_int(value: int, base: int) -> str:
    """An integer written in ``base`` (2 to 36)."""
    if not 2 <= base <= 36:
        raise ExprError("invalid base (must be between 2 and 36)")
    number = abs(value)
    digits = []
    while True:
        number, rest = divmod(number, base)
        digits.append(_DIGITS[rest])
        if number == 0:
            break
    return ("-" if value < 0 else "") + "".join(reversed(digits))


@function(FUNCTIONS, "format_number", Param("value", kinds("integer", "float")), opt("scale", I, None),
          opt("decimal_separator", S, "."), opt("grouping_separator", S, None), returns=S,
          example='format_number(1234567.89, 3, decimal_separator: ".", grouping_separator: ",") == "1,234,567.890"')
def format_number(value: int | float, scale: int | None, decimal_separator: str,
                  grouping_separator: str | None) -> str:
    """A number as text with ``scale`` decimals (cut, not rounded) and optional thousands grouping."""
    from decimal import Decimal

    if type(value) is float and not math.isfinite(value):
        raise ExprError(f"can't format {value}")
    text = format(Decimal(repr(value)) if type(value) is float else Decimal(value), "f")
    whole, _, fraction = text.partition(".")
    if scale is not None:
        fraction = fraction[:scale].ljust(scale, "0") if scale > 0 else ""
    if grouping_separator is not None:
        sign = "-" if whole.startswith("-") else ""
        digits = whole.lstrip("-")
        groups: list[str] = []
        while len(digits) > 3:
            groups.insert(0, digits[-3:])
            digits = digits[:-3]
        groups.insert(0, digits)
        whole = sign + grouping_separator.join(groups)
    return whole + (decimal_separator + fraction if fraction else "")


# -- file paths ------------------------------------------------------------------------------------------

@function(FUNCTIONS, "basename", Param("value", S), returns=kinds("string", "null"), fallible=True,
          example='basename!("/usr/local/bin/vrl") == "vrl"')
def basename(value: str) -> str | None:
    """The last component of a path (null for ``/`` or an empty path)."""
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if not parts or parts[-1] == "..":
        return None
    return parts[-1]


@function(FUNCTIONS, "dirname", Param("value", S), returns=S, fallible=True,
          example='dirname!("/usr/local/bin/vrl") == "/usr/local/bin"')
def dirname(value: str) -> str:
    """A path without its last component (``.`` when nothing is left, ``/`` for the root)."""
    if value == "/":
        return "/"
    trimmed = value.rstrip("/") or value
    head = posixpath.dirname(trimmed)
    if head == "":
        return "."
    return head.rstrip("/") or "/"


@function(FUNCTIONS, "split_path", Param("value", S), returns=ARR,
          example='split_path("/home/user/") == ["/", "home", "user"]')
def split_path(value: str) -> list[str]:
    """The components of a path; an absolute path starts with ``/``."""
    parts = [p for i, p in enumerate(value.split("/")) if p and not (p == "." and i > 0)]
    return (["/"] if value.startswith("/") else []) + parts
