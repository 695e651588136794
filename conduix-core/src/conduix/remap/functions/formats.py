"""Structured formats: JSON tests and schemas, YAML, CBOR, XML (safe parser), Ruby hashes, domain suffixes."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from conduix.errors import ConfigError
from conduix.remap.functions._support import library, to_bytes
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import UTC, ExprError, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
B = kinds("boolean")
OBJ = kinds("object")
ANY_VALUE = kinds("string", "integer", "float", "boolean", "null", "array", "object")

_JSON_VARIANTS = {"{": "object", "[": "array", "t": "bool", "f": "bool", '"': "string", "n": "null"}


@function(FUNCTIONS, "is_json", Param("value", S), opt("variant", S, None), returns=B,
          example='is_json("{}") == true')
def is_json(value: str, variant: str | None) -> bool:
    """Whether the string is valid JSON (of the ``variant``: object, array, bool, number, string, null)."""
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    if variant is None:
        return True
    first = value.lstrip(" \t\r\n")[:1]
    return _JSON_VARIANTS.get(first, "number") == variant


def _plain(value: Any) -> Any:
    """A parsed YAML/CBOR value as remap values (dates as timestamps, bytes as binary strings, keys as text)."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _key_text(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


@function(FUNCTIONS, "parse_yaml", Param("value", S), returns=ANY_VALUE, fallible=True,
          example='parse_yaml!("key: val") == {"key": "val"}')
def parse_yaml(value: str) -> Any:
    """Parse a YAML document (safe loading: no tags that build objects; pipeline files' size and alias limits)."""
    from conduix.config.yamlsource import safe_load

    try:
        return _plain(safe_load(value.lstrip("\ufeff")))
    except ConfigError as exc:
        raise ExprError(f"unable to parse yaml: {exc}") from None


@function(FUNCTIONS, "parse_cbor", Param("value", S), returns=ANY_VALUE, fallible=True,
          example='parse_cbor!(decode_base64!("oWVmaWVsZGV2YWx1ZQ==")) == {"field": "value"}')
def parse_cbor(value: str) -> Any:
    """Decode CBOR (binary) data."""
    cbor2 = library("cbor2", "cbor2")
    try:
        return _plain(cbor2.loads(to_bytes(value)))
    except (cbor2.CBORDecodeError, ValueError, TypeError) as exc:
        raise ExprError(f"unable to parse cbor: {exc}") from None


# -- XML ---------------------------------------------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass(frozen=True)
class _XmlOptions:
    include_attr: bool
    attr_prefix: str
    text_key: str
    use_text_key: bool
    parse_bool: bool
    parse_null: bool
    parse_number: bool


def _xml_text(text: str, o: _XmlOptions) -> Any:
    if o.parse_null and text in ("", "null"):
        return None
    if o.parse_bool and text in ("true", "false"):
        return text == "true"
    if o.parse_number:
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
            return number if math.isfinite(number) else text
        except ValueError:
            pass
    return text


def _xml_children(element: Any) -> list[tuple[str, Any]]:
    """The element's children in order: ("text", str) and ("element", child)."""
    out: list[tuple[str, Any]] = []
    if element.text:
        out.append(("text", element.text))
    for child in element:
        if isinstance(child.tag, str):
            out.append(("element", child))
        if child.tail:
            out.append(("text", child.tail))
    return out


def _xml_object(element: Any, o: _XmlOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if o.include_attr:
        for name, item in element.attrib.items():
            out[o.attr_prefix + _local(name)] = item
    for kind, node in _xml_children(element):
        name = o.text_key if kind == "text" else _local(node.tag)
        item = _xml_text(node, o) if kind == "text" else _xml_node(node, o)
        if name in out:
            existing = out[name]
            out[name] = [*existing, item] if type(existing) is list else [existing, item]
        else:
            out[name] = item
    return out


def _xml_node(element: Any, o: _XmlOptions) -> Any:
    if (element.attrib and o.include_attr) or (o.use_text_key and not element.attrib):
        return _xml_object(element, o)
    children = _xml_children(element)
    if len(children) == 1:
        kind, node = children[0]
        if kind == "element":
            return {_local(node.tag): _xml_node(node, o)}
        return _xml_text(node, o)
    if not children:
        return _xml_text("", o) if not element.attrib else {}
    return _xml_object(element, o)


@function(FUNCTIONS, "parse_xml", Param("value", S), opt("trim", B, True), opt("include_attr", B, True),
          opt("attr_prefix", S, "@"), opt("text_key", S, "text"), opt("always_use_text_key", B, False),
          opt("parse_bool", B, True), opt("parse_null", B, True), opt("parse_number", B, True),
          returns=kinds("object", "string"), fallible=True,
          example='parse_xml!("<a><b>1</b></a>") == {"a": {"b": 1}}')
def parse_xml(value: str, trim: bool, include_attr: bool, attr_prefix: str, text_key: str,
              always_use_text_key: bool, parse_bool: bool, parse_null: bool, parse_number: bool) -> Any:
    """Parse an XML document into objects (attributes prefixed ``@``, text under ``text``) with a safe parser.

    Entity expansion, external entities and DTDs are refused (defusedxml), so a hostile document cannot
    read files or grow without bound."""
    import re

    defused = library("defusedxml.ElementTree", "defusedxml")
    text = re.sub(r">\s+?<", "><", value) if trim else value
    try:
        root = defused.fromstring(text)
    except (defused.ParseError, library("defusedxml", "defusedxml").DefusedXmlException) as exc:
        raise ExprError(f"unable to parse xml: {exc}") from None
    options = _XmlOptions(include_attr=include_attr, attr_prefix=attr_prefix, text_key=text_key,
                          use_text_key=always_use_text_key, parse_bool=parse_bool, parse_null=parse_null,
                          parse_number=parse_number)
    return {_local(root.tag): _xml_node(root, options)}


# -- Ruby hashes (the text Ruby's Hash#inspect prints) --------------------------------------------------

_RUBY_GRAMMAR = r"""
?value: hash | array | "nil" -> nil | "true" -> true | "false" -> false | symbol | string | number
hash: "{" "}" | "{" pair ("," pair)* "}"
pair: key (":" | "=>") value
key: string | SYMBOL_NAME -> bare | DIGITS -> bare | symbol
array: "[" "]" | "[" value ("," value)* "]"
symbol: ":" (string | SYMBOL_NAME)
string: DQ | SQ
number: NUMBER
DQ: /"(?:[^"\\]|\\.)*"/
SQ: /'(?:[^'\\]|\\.)*'/
SYMBOL_NAME: /[A-Za-z_][A-Za-z0-9_]*/
DIGITS: /[0-9]+/
NUMBER: /[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/
%ignore /[ \t\r\n]+/
"""


@functools.lru_cache(maxsize=1)
def _ruby_parser() -> Any:
    from lark import Lark, Transformer

    class Build(Transformer[Any, Any]):
        def hash(self, pairs: list[Any]) -> dict[str, Any]:
            return dict(pairs)

        def pair(self, items: list[Any]) -> tuple[str, Any]:
            return items[0], items[-1]

        def key(self, items: list[Any]) -> str:
            return str(items[0])

        def bare(self, items: list[Any]) -> str:
            return str(items[0])

        def array(self, items: list[Any]) -> list[Any]:
            return list(items)

        def symbol(self, items: list[Any]) -> str:
            return str(items[0])

        def string(self, items: list[Any]) -> str:
            return str(items[0])[1:-1]

        def number(self, items: list[Any]) -> float:
            return float(items[0])

        def nil(self, _: list[Any]) -> None:
            return None

        def true(self, _: list[Any]) -> bool:
            return True

        def false(self, _: list[Any]) -> bool:
            return False

    return Lark(_RUBY_GRAMMAR, start="hash", parser="lalr", transformer=Build())


@function(FUNCTIONS, "parse_ruby_hash", Param("value", S), returns=OBJ, fallible=True,
          example='parse_ruby_hash!(s\'{ "test" => "value", :n => 0.2 }\') == {"test": "value", "n": 0.2}')
def parse_ruby_hash(value: str) -> dict[str, Any]:
    """Parse Ruby hash text (``{ :key => "value", "a" => [1, nil] }``); numbers become floats, as in VRL."""
    from lark.exceptions import LarkError

    try:
        result: dict[str, Any] = _ruby_parser().parse(value.strip())
    except LarkError as exc:
        raise ExprError(f"unable to parse ruby hash: {str(exc).splitlines()[0]}") from None
    return result


# -- JSON Schema --------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _schema_validator(path: str, ignore_unknown_formats: bool) -> Any:
    jsonschema = library("jsonschema", "jsonschema")
    try:
        with open(path, "rb") as handle:
            schema = orjson.loads(handle.read(16 * 1024 * 1024))
    except OSError as exc:
        raise ExprError(f"unable to read the JSON schema {path!r}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ExprError(f"the JSON schema {path!r} is not valid JSON: {exc}") from None
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ExprError(f"invalid JSON schema definition: {exc.message}") from None
    checker = cls.FORMAT_CHECKER
    if not ignore_unknown_formats:
        unknown = sorted(_formats(schema) - set(checker.checkers))
        if unknown:
            raise ExprError(f"Failed to compile schema: Unknown format: '{unknown[0]}'. "
                            "Adjust configuration to ignore unrecognized formats")
    return cls(schema, format_checker=checker)


def _formats(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        if isinstance(schema.get("format"), str):
            found.add(schema["format"])
        for item in schema.values():
            found |= _formats(item)
    elif isinstance(schema, list):
        for item in schema:
            found |= _formats(item)
    return found


@function(FUNCTIONS, "validate_json_schema", Param("value", S), Param("schema_definition", S),
          opt("ignore_unknown_formats", B, False), returns=B, fallible=True,
          example='valid, err = validate_json_schema(s\'{"id": 1}\', "schemas/event.json")')
def validate_json_schema(value: str, schema_definition: str, ignore_unknown_formats: bool) -> bool:
    """Whether JSON text satisfies the JSON Schema in the file ``schema_definition`` (read on first use).

    The file is read where the pipeline runs, when the program first calls the function (never when a
    pipeline is only validated), and cached; remote ``$ref`` are not fetched."""
    validator = _schema_validator(schema_definition, ignore_unknown_formats)
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ExprError(f"unable to parse JSON: {exc}") from None
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/" + "/".join(str(p) for p in first.absolute_path)
        raise ExprError(f"JSON schema validation failed: {first.message} at {where}")
    return True


# -- public suffixes ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _suffix_list(path: str | None) -> Any:
    psl = library("publicsuffixlist", "publicsuffixlist")
    if path is None:
        return psl.PublicSuffixList()
    try:
        with open(path, "rb") as handle:
            return psl.PublicSuffixList(handle)
    except OSError as exc:
        raise ExprError(f"unable to read the public suffix list {path!r}: {exc.strerror}") from None


@function(FUNCTIONS, "parse_etld", Param("value", S), opt("plus_parts", kinds("integer"), 0), opt("psl", S, None),
          returns=OBJ, fallible=True,
          example='parse_etld!("sub.sussex.ac.uk") == {"etld": "ac.uk", "etld_plus": "ac.uk", "known_suffix": true}')
def parse_etld(value: str, plus_parts: int, psl: str | None) -> dict[str, Any]:
    """The effective top-level domain (public suffix) of a domain name, with ``plus_parts`` more labels.

    The suffix list ships with the publicsuffixlist package (no download); ``psl`` names a list file."""
    domain = value.strip().rstrip(".").lower()
    if not domain:
        raise ExprError("unable to determine eTLD for an empty domain")
    suffixes = _suffix_list(psl)
    etld = suffixes.publicsuffix(domain, accept_unknown=True)
    if etld is None:
        raise ExprError(f"unable to determine eTLD for {value}")
    known = suffixes.publicsuffix(domain, accept_unknown=False) is not None
    labels = domain.split(".")
    size = len(etld.split(".")) + max(plus_parts, 0)
    return {"etld": etld, "etld_plus": ".".join(labels[-size:]), "known_suffix": bool(known)}
