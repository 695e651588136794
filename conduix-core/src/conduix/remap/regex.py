"""Regular expressions of remap: RE2, the linear-time model VRL's Rust ``regex`` crate follows.

Matching time grows linearly with the input whatever the pattern is, so a
pattern such as ``^(a+)+$`` cannot freeze a pipeline (Python's backtracking
``re`` takes exponential time on it). The syntax is the one both engines
share; the few Rust constructs RE2 would read differently, or not at all, are
refused with a message that names them (see docs/remap.md, "Regular
expressions").
"""

from __future__ import annotations

from typing import Any

import re2

__all__ = ["REGEX_TYPES", "Regex", "RegexError", "compile_regex", "is_regex"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are raised to the caller, not written to stderr by the C++ library

Regex = Any
"""A compiled remap regex (``re2._Regexp``): ``search``, ``finditer``, ``sub``, ``split``, ``pattern``..."""

REGEX_TYPES: tuple[type, ...] = (type(re2.compile("", options=_OPTIONS)),)
"""The Python types of regex values (for exact ``type(v) in ...`` checks)."""


class RegexError(ValueError):
    """A pattern that does not compile; the message says what to change."""


def is_regex(value: Any) -> bool:
    return type(value) in REGEX_TYPES


_HINTS = {
    "(?=": "look-ahead assertions are not supported (VRL's engine has none either)",
    "(?!": "look-ahead assertions are not supported (VRL's engine has none either)",
    "(?<=": "look-behind assertions are not supported (VRL's engine has none either)",
    "(?<!": "look-behind assertions are not supported (VRL's engine has none either)",
    "(?x": "the x (verbose) flag is not supported: write the pattern without spaces and comments",
    "(?R": "the R (CRLF) flag is not supported",
    "(?-u": "ASCII-only classes are the default here: remove the -u flag",
}


def _translate(pattern: str) -> str:
    """Rewrite Rust-only spellings RE2 understands differently; refuse constructs it lacks."""
    out: list[str] = []
    i = 0
    size = len(pattern)
    in_class = False
    class_start = 0
    while i < size:
        ch = pattern[i]
        if ch == "\\" and i + 1 < size:
            nxt = pattern[i + 1]
            if nxt in "uU":
                # Rust: \u007F, \u{7F}, \U0000007F, \U{7F}; RE2 only knows \x{...}
                width = 4 if nxt == "u" else 8
                if pattern.startswith("{", i + 2):
                    end = pattern.find("}", i + 3)
                    if end < 0:
                        raise RegexError(f"unclosed \\{nxt}{{...}} escape")
                    digits = pattern[i + 3:end]
                    i = end + 1
                else:
                    digits = pattern[i + 2:i + 2 + width]
                    i += 2 + width
                if not digits or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    raise RegexError(f"invalid \\{nxt} escape: expected hexadecimal digits")
                out.append(f"\\x{{{digits}}}")
                continue
            if nxt in "bB" and pattern.startswith("{", i + 2) and not in_class:
                raise RegexError("word-boundary assertions with a kind (\\b{start}, \\b{end}...) are not supported")
            if nxt in "<>" and not in_class:
                raise RegexError(f"the \\{nxt} word-boundary assertion is not supported: use \\b")
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if ch == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end >= 0:
                    out.append(pattern[i:end + 2])
                    i = end + 2
                    continue
            if ch == "[":
                raise RegexError("nested character classes ([a[b]]) are not supported: escape the [ or "
                                 "list the characters in one class")
            if pattern.startswith(("&&", "--", "~~"), i) and i > class_start:
                raise RegexError(f"character class set operations ({pattern[i:i + 2]}) are not supported: "
                                 "list the characters in one class")
            if ch == "]" and i > class_start:
                in_class = False
        elif ch == "[":
            in_class = True
            # a ] right after [ or [^ is a literal
            class_start = i + 1
            if pattern.startswith("^", class_start):
                class_start += 1
            out.append(pattern[i:class_start])
            i = class_start
            if i < size and pattern[i] == "]":
                out.append("]")
                i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def compile_regex(pattern: str) -> Regex:
    """Compile a VRL pattern; raises :class:`RegexError` with what to change."""
    translated = _translate(pattern)
    try:
        return re2.compile(translated, options=_OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        for construct, hint in _HINTS.items():
            if construct in message:
                raise RegexError(hint) from None
        if "invalid escape sequence: \\" in message and message[-1:].isdigit():
            raise RegexError("backreferences (\\1) are not supported (VRL's engine has none either)") from None
        raise RegexError(message) from None
