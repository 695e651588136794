"""Helpers the function modules share: bytes in remap strings, lazy library imports, the regex engine.

**Bytes.** VRL strings are byte strings; remap strings are Python ``str``. Binary data (what
``decode_base64``, ``encode_gzip``, ``random_bytes``... produce) is kept in a ``str`` losslessly with
the ``surrogateescape`` error handler: valid UTF-8 reads as itself, every other byte as one lone
surrogate (U+DC80..U+DCFF). :func:`to_bytes` gives the exact bytes back, so
``decode_gzip!(decode_base64!(.x))`` works as in VRL. Such strings leave a program (its result,
``encode_json``) with each invalid byte replaced by U+FFFD, as VRL does when it prints bytes.

**Libraries.** A function whose work needs a third-party library imports it the first time a
program calls it (:func:`library`), so compiling or running programs that do not use it costs
nothing, and a missing optional library is a clear error with the install command.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType
from typing import Any

from conduix.remap.regex import RegexError, compile_regex, is_regex
from conduix.remap.values import ExprError, printable

__all__ = ["compile_pattern", "from_bytes", "is_pattern", "library", "may_make_bytes", "printable_in_place",
           "to_bytes"]


def to_bytes(text: str) -> bytes:
    """The bytes a remap string stands for (lossless for strings made by :func:`from_bytes`)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no byte made (from JSON input): UTF-8 cannot hold it
        return text.encode("utf-8", "replace")


def from_bytes(data: bytes) -> str:
    """A remap string holding ``data`` exactly (invalid UTF-8 kept as escaped bytes)."""
    return data.decode("utf-8", "surrogateescape")


def library(module: str, package: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` on first use; a missing one is a runtime error naming what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        hint = f"pip install 'conduix-core[{extra}]'" if extra else f"pip install {package}"
        raise ExprError(f"this function needs the {package} package: {hint}") from None


def compile_pattern(text: str) -> Any:
    """Compile a regular expression the way remap regex literals are compiled (RE2, one engine for all)."""
    try:
        return compile_regex(text)
    except RegexError as exc:
        raise ExprError(f"invalid regular expression {text!r}: {exc}") from None


def is_pattern(value: Any) -> bool:
    """Whether ``value`` is a compiled remap regex."""
    return is_regex(value)


BINARY_FUNCTIONS = frozenset({
    "chunks", "decode_base16", "decode_base64", "decode_gzip", "decode_lz4", "decode_percent", "decode_snappy",
    "decode_zlib", "decode_zstd", "decrypt", "encode_gzip", "encode_lz4", "encode_snappy", "encode_zlib",
    "encode_zstd", "encrypt", "encode_charset", "hmac", "ip_pton", "parse_cbor", "random_bytes",
})
"""Functions whose result may hold bytes that are not UTF-8."""

_BINARY_CALL = re.compile(r"\b(?:" + "|".join(sorted(BINARY_FUNCTIONS)) + r")\s*!?\s*\(")


def may_make_bytes(source: str) -> bool:
    """Whether a program calls a function that can put non-UTF-8 bytes into a string."""
    return _BINARY_CALL.search(source) is not None


def printable_in_place(container: Any) -> None:
    """Replace, inside an event, every string holding non-UTF-8 bytes by its printable form (U+FFFD)."""
    items = container.items() if type(container) is dict else enumerate(container)
    for key, item in list(items):
        t = type(item)
        if t is str:
            if not item.isascii():
                clean = printable(item)
                if clean is not item:
                    container[key] = clean
        elif t is dict or t is list:
            printable_in_place(item)
