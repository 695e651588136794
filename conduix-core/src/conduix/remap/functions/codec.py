"""Codec functions: JSON and key/value encoding, base64, hashes."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Any

import orjson

from conduix.remap.functions._support import from_bytes, to_bytes
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.functions.types import float_text
from conduix.remap.values import ExprError, export, format_rfc3339, kinds

__all__ = ["FUNCTIONS", "SHA2_VARIANTS", "encode_json_text"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
B = kinds("boolean")


def encode_json_text(value: Any, pretty: bool = False) -> str:
    """JSON text of a remap value (timestamps as RFC 3339, keys sorted as VRL objects are)."""
    option = orjson.OPT_SORT_KEYS | (orjson.OPT_INDENT_2 if pretty else 0)
    try:
        return orjson.dumps(value, option=option).decode()
    except TypeError:
        return orjson.dumps(export(value), option=option).decode()


@function(FUNCTIONS, "encode_json", Param("value"), opt("pretty", B, False), returns=S,
          example='encode_json({"field": "value"}) == "{\\"field\\":\\"value\\"}"')
def encode_json(value: Any, pretty: bool) -> str:
    """Encode any value as JSON text."""
    if type(value) is datetime:
        return '"' + format_rfc3339(value) + '"'
    return encode_json_text(export(value) if type(value) in (dict, list) else value, pretty)


def _kv_text(value: Any) -> str:
    t = type(value)
    if t is str:
        return value
    if t is bool:
        return "true" if value else "false"
    if t is float:
        return float_text(value)
    if value is None:
        return ""
    if t is datetime:
        return format_rfc3339(value)
    if t in (dict, list):
        return encode_json_text(export(value))
    return str(value)


def _flatten_kv(value: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if type(item) is dict:
            _flatten_kv(item, name + ".", out)
        elif type(item) is list:
            _flatten_kv({str(i): v for i, v in enumerate(item)}, name + ".", out)
        else:
            out[name] = item


@function(FUNCTIONS, "encode_key_value", Param("value", kinds("object")),
          opt("fields_ordering", kinds("array"), ()), opt("key_value_delimiter", S, "="),
          opt("field_delimiter", S, " "), opt("flatten_boolean", B, False), returns=S,
          example='encode_key_value({"lvl": "info", "msg": "This is a message"}) == '
                  '"lvl=info msg=\\"This is a message\\""')
def encode_key_value(value: dict[str, Any], fields_ordering: list[Any], key_value_delimiter: str,
                     field_delimiter: str, flatten_boolean: bool) -> str:
    """Encode an object as ``key=value`` pairs (logfmt by default); nested keys are joined with dots."""
    flat: dict[str, Any] = {}
    _flatten_kv(value, "", flat)
    order: list[str] = []
    for name in fields_ordering:
        if type(name) is not str:
            raise ExprError("fields_ordering must contain only strings")
        if name in flat and name not in order:
            order.append(name)
    seen = set(order)
    order.extend(sorted(k for k in flat if k not in seen))
    parts: list[str] = []
    for key in order:
        item = flat[key]
        if type(item) is bool and flatten_boolean:
            if item:
                parts.append(_quote(key))
            continue
        text = _quote(_kv_text(item))
        parts.append(f"{_quote(key)}{key_value_delimiter}{text}")
    return field_delimiter.join(parts)


@function(FUNCTIONS, "encode_logfmt", Param("value", kinds("object")), opt("fields_ordering", kinds("array"), ()),
          returns=S, example='encode_logfmt({"lvl": "info", "msg": "hi there"}) == "lvl=info msg=\\"hi there\\""')
def encode_logfmt(value: dict[str, Any], fields_ordering: list[Any]) -> str:
    """Encode an object as logfmt: ``encode_key_value`` with its default delimiters."""
    return encode_key_value(value, fields_ordering, "=", " ", False)


def _quote(text: str) -> str:
    if text == "" or '"' in text or any(ch.isspace() for ch in text):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return text


_CHARSETS = ("standard", "url_safe")


@function(FUNCTIONS, "encode_base64", Param("value", S), opt("padding", B, True), opt("charset", S, "standard"),
          returns=S, example='encode_base64("please encode me") == "cGxlYXNlIGVuY29kZSBtZQ=="')
def encode_base64(value: str, padding: bool, charset: str) -> str:
    """Base64 text of a string's bytes (``charset``: standard or url_safe)."""
    raw = to_bytes(value)
    if charset == "url_safe":
        out = base64.urlsafe_b64encode(raw).decode()
    elif charset == "standard":
        out = base64.b64encode(raw).decode()
    else:
        raise ExprError(f"unknown charset {charset!r}, expected standard or url_safe")
    return out if padding else out.rstrip("=")


@function(FUNCTIONS, "decode_base64", Param("value", S), opt("charset", S, "standard"), returns=S,
          fallible=True, example='decode_base64!("eW91IGhhdmUgc3VjY2Vzc2Z1bGx5IGRlY29kZWQgbWU=") == '
                                 '"you have successfully decoded me"')
def decode_base64(value: str, charset: str) -> str:
    """Decode base64 text (padding optional); binary results are kept exactly (see the bytes note)."""
    text = value.strip()
    text += "=" * (-len(text) % 4)
    try:
        if charset == "url_safe":
            raw = base64.urlsafe_b64decode(text.encode())
        elif charset == "standard":
            raw = base64.b64decode(text.encode(), validate=True)
        else:
            raise ExprError(f"unknown charset {charset!r}, expected standard or url_safe")
    except (binascii.Error, ValueError):
        raise ExprError("unable to decode value from base64") from None
    return from_bytes(raw)


@function(FUNCTIONS, "md5", Param("value", S), returns=S,
          example='md5("foo") == "acbd18db4cc2f85cedef654fccc4a4d8"')
def md5(value: str) -> str:
    """Hex MD5 digest."""
    return hashlib.md5(to_bytes(value), usedforsecurity=False).hexdigest()


@function(FUNCTIONS, "sha1", Param("value", S), returns=S,
          example='sha1("foo") == "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33"')
def sha1(value: str) -> str:
    """Hex SHA-1 digest."""
    return hashlib.sha1(to_bytes(value), usedforsecurity=False).hexdigest()


SHA2_VARIANTS = {"SHA-224": "sha224", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512",
         "SHA-512/224": "sha512_224", "SHA-512/256": "sha512_256"}


@function(FUNCTIONS, "sha2", Param("value", S), opt("variant", S, "SHA-512/256"), returns=S,
          example='sha2("foo", variant: "SHA-256") == '
                  '"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"')
def sha2(value: str, variant: str) -> str:
    """Hex SHA-2 digest; ``variant`` is SHA-224, SHA-256, SHA-384, SHA-512, SHA-512/224 or SHA-512/256."""
    algorithm = SHA2_VARIANTS.get(variant)
    if algorithm is None:
        raise ExprError(f"unknown variant {variant!r}, expected one of {', '.join(SHA2_VARIANTS)}")
    return hashlib.new(algorithm, to_bytes(value)).hexdigest()
