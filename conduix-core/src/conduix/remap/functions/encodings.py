"""Text encodings: base16, percent-encoding, punycode, character sets, MIME encoded-words, CSV."""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import io
import quopri
import re
from typing import Any

from conduix.remap.functions._support import from_bytes, library, to_bytes
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import ExprError, kind_of, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
B = kinds("boolean")


@function(FUNCTIONS, "encode_base16", Param("value", S), returns=S,
          example='encode_base16("some string value") == "736f6d6520737472696e672076616c7565"')
def encode_base16(value: str) -> str:
    """Lower-case hexadecimal text of the string's bytes."""
    return to_bytes(value).hex()


@function(FUNCTIONS, "decode_base16", Param("value", S), returns=S, fallible=True,
          example='decode_base16!("736F6D6520737472696E672076616C7565") == "some string value"')
def decode_base16(value: str) -> str:
    """The bytes written in hexadecimal (either case)."""
    try:
        return from_bytes(binascii.unhexlify(value))
    except (binascii.Error, ValueError):
        raise ExprError("unable to decode value from base16") from None


# The ASCII sets of Rust's percent-encoding crate and the WHATWG URL standard, as VRL names them
_CONTROLS = frozenset(range(0x20)) | {0x7F}
_FRAGMENT = _CONTROLS | frozenset(b' "<>`')
_QUERY = _CONTROLS | frozenset(b' "#<>')
_SPECIAL = _QUERY | {ord("'")}
_PATH = _QUERY | frozenset(b"?`{}")
_USERINFO = _PATH | frozenset(b"/:;=@[\\]^|")
_COMPONENT = _USERINFO | frozenset(b"$%&+,")
_ASCII_SETS = {
    "NON_ALPHANUMERIC": frozenset(b for b in range(128) if not chr(b).isalnum()),
    "CONTROLS": _CONTROLS, "FRAGMENT": _FRAGMENT, "QUERY": _QUERY, "SPECIAL": _SPECIAL, "PATH": _PATH,
    "USERINFO": _USERINFO, "COMPONENT": _COMPONENT,
    "WWW_FORM_URLENCODED": _COMPONENT | frozenset(b"!'()~"),
}


@function(FUNCTIONS, "encode_percent", Param("value", S), opt("ascii_set", S, "NON_ALPHANUMERIC"), returns=S,
          example='encode_percent("foo bar?") == "foo%20bar%3F"')
def encode_percent(value: str, ascii_set: str) -> str:
    """Percent-encode the bytes in ``ascii_set`` (NON_ALPHANUMERIC, CONTROLS, QUERY, PATH...) and all non-ASCII."""
    chosen = _ASCII_SETS.get(ascii_set)
    if chosen is None:
        raise ExprError(f"unknown ascii_set {ascii_set!r}, expected one of {', '.join(_ASCII_SETS)}")
    return "".join(f"%{b:02X}" if b >= 0x80 or b in chosen else chr(b) for b in to_bytes(value))


_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


@function(FUNCTIONS, "decode_percent", Param("value", S), returns=S,
          example='decode_percent("foo%20bar%3F") == "foo bar?"')
def decode_percent(value: str) -> str:
    """Decode ``%XX`` escapes (anything else is kept as it is)."""
    return from_bytes(_PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), to_bytes(value)))


def _labels(value: str) -> list[str]:
    return value.split(".")


@function(FUNCTIONS, "encode_punycode", Param("value", S), opt("validate", B, True), returns=S, fallible=True,
          example='encode_punycode!("www.café.com") == "www.xn--caf-dma.com"')
def encode_punycode(value: str, validate: bool) -> str:
    """The ASCII (IDNA) form of a domain name; ``validate`` applies the IDNA rules (and lower-cases)."""
    if validate:
        idna = library("idna", "idna")
        try:
            return str(idna.encode(value, uts46=True).decode("ascii"))
        except idna.IDNAError as exc:
            raise ExprError(f"unable to encode to punycode: {exc}") from None
    out = []
    for label in _labels(value):
        out.append(label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii"))
    return ".".join(out)


@function(FUNCTIONS, "decode_punycode", Param("value", S), opt("validate", B, True), returns=S, fallible=True,
          example='decode_punycode!("www.xn--caf-dma.com") == "www.café.com"')
def decode_punycode(value: str, validate: bool) -> str:
    """The Unicode form of an IDNA domain name (``xn--`` labels decoded)."""
    if validate:
        idna = library("idna", "idna")
        try:
            return str(idna.decode(value, uts46=True))
        except (idna.IDNAError, UnicodeError) as exc:
            raise ExprError(f"unable to decode punycode: {exc}") from None
    out = []
    for label in _labels(value):
        if label.lower().startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except UnicodeError as exc:
                raise ExprError(f"unable to decode punycode: {exc}") from None
        out.append(label)
    return ".".join(out)


# WHATWG Encoding Standard labels whose Python codec differs (the rest are looked up as they are)
_CHARSET_ALIASES = {"gb2312": "gbk", "x-gbk": "gbk", "iso-8859-1": "cp1252", "latin1": "cp1252",
                    "us-ascii": "cp1252", "ascii": "cp1252", "iso-8859-9": "cp1254", "tis-620": "cp874",
                    "ks_c_5601-1987": "euc_kr", "x-sjis": "shift_jis", "csshiftjis": "shift_jis"}


def _codec(label: str) -> str:
    name = _CHARSET_ALIASES.get(label.strip().lower(), label.strip())
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ExprError(f"Unknown charset: {label}") from None


@function(FUNCTIONS, "encode_charset", Param("value", S), Param("to_charset", S), returns=S, fallible=True,
          example='encode_base64(encode_charset!("안녕하세요", "euc-kr")) == "vsiz58fPvLy/5A=="')
def encode_charset(value: str, to_charset: str) -> str:
    """The string's text encoded in another character set (a WHATWG encoding label)."""
    try:
        return from_bytes(value.encode(_codec(to_charset)))
    except UnicodeEncodeError as exc:
        raise ExprError(f"unable to encode to {to_charset}: {exc.reason}") from None


@function(FUNCTIONS, "decode_charset", Param("value", S), Param("from_charset", S), returns=S, fallible=True,
          example='decode_charset!(decode_base64!("vsiz58fPvLy/5A=="), "euc-kr") == "안녕하세요"')
def decode_charset(value: str, from_charset: str) -> str:
    """Text from bytes in another character set (a WHATWG encoding label); bad bytes become U+FFFD."""
    return to_bytes(value).decode(_codec(from_charset), "replace")


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_INTERNAL_WORD = re.compile(r"^\?([bBqQ])\?(.*)$", re.S)


def _decode_word(charset: str, encoding: str, text: str) -> str:
    try:
        if encoding in "bB":
            raw = base64.b64decode(text + "=" * (-len(text) % 4))
        else:
            raw = quopri.decodestring(text.encode("ascii"), header=True)
        return raw.decode(_codec(charset.split("*")[0]), "replace")
    except (binascii.Error, ValueError) as exc:
        raise ExprError(f"unable to decode encoded-word: {exc}") from None


@function(FUNCTIONS, "decode_mime_q", Param("value", S), returns=S, fallible=True,
          example='decode_mime_q!("=?utf-8?b?SGVsbG8sIFdvcmxkIQ==?=") == "Hello, World!"')
def decode_mime_q(value: str) -> str:
    """Decode MIME encoded-words (``=?utf-8?q?...?=``, RFC 2047) inside a header value."""
    if _ENCODED_WORD.search(value) is None:
        internal = _INTERNAL_WORD.match(value)
        if internal is None:
            raise ExprError("unable to decode value: no encoded-word found")
        return _decode_word("utf-8", internal.group(1), internal.group(2))
    return _ENCODED_WORD.sub(lambda m: _decode_word(m.group(1), m.group(2), m.group(3)), value)


def _cell(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in (int, float):
        from conduix.remap.functions.types import to_string

        return to_string(value)
    raise ExprError(f"unable to encode {kind_of(value)} as a CSV field")


@function(FUNCTIONS, "encode_csv", Param("value", kinds("array")), opt("delimiter", S, ","), returns=S,
          fallible=True, example='encode_csv!(["foo", "bar", "foo \\", bar"]) == "foo,bar,\\"foo \\"\\", bar\\""')
def encode_csv(value: list[Any], delimiter: str) -> str:
    """One CSV record of the array's items (quoted where needed, no line end)."""
    if len(to_bytes(delimiter)) != 1:
        raise ExprError("delimiter must be a single byte")
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow(
        [_cell(v) for v in value])
    return out.getvalue()[:-1]
