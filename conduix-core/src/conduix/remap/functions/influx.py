"""``parse_influxdb``: InfluxDB line protocol into gauge metrics, as VRL models them."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from typing import Any

from conduix.remap.functions.spec import FunctionSpec, Param, function
from conduix.remap.values import UTC, ExprError, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

# measurement[,tag=value...] field=value[,field=value...] [timestamp], with the protocol's escapes
_GRAMMAR = r"""
line: MEASUREMENT tag* _SP field ("," field)* (_SP TIMESTAMP)? _SP?
tag: "," NAME "=" NAME
field: NAME "=" value
?value: FLOAT -> float | INTEGER -> integer | UNSIGNED -> unsigned | BOOLEAN -> boolean | STRING -> string
MEASUREMENT: /(?:[^,\s\\]|\\.)+/
NAME: /(?:[^,=\s\\]|\\.)+/
INTEGER.3: /-?\d+i/
UNSIGNED.3: /\d+u/
FLOAT.2: /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/
BOOLEAN.3: /(?:t|T|true|True|TRUE|f|F|false|False|FALSE)(?=[ ,]|$)/
STRING: /"(?:[^"\\]|\\.)*"/
TIMESTAMP.4: /-?\d+$/
_SP: / +/
"""
_UNESCAPE = re.compile(r"\\(.)")


@functools.lru_cache(maxsize=1)
def _parser() -> Any:
    from lark import Lark

    return Lark(_GRAMMAR, start="line", parser="earley", lexer="dynamic")


def _text(token: Any) -> str:
    return _UNESCAPE.sub(r"\1", str(token))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _metrics(line: str) -> list[dict[str, Any]]:
    from lark.exceptions import LarkError

    try:
        tree = _parser().parse(line)
    except LarkError as exc:
        raise ExprError(f"InfluxDB line protocol parsing error: {str(exc).splitlines()[0]}") from None
    measurement = _text(tree.children[0])
    tags = {_text(t.children[0]): _text(t.children[1]) for t in tree.children if getattr(t, "data", None) == "tag"}
    fields = [t for t in tree.children if getattr(t, "data", None) == "field"]
    stamp = next((c for c in tree.children if getattr(c, "type", None) == "TIMESTAMP"), None)
    out = []
    for field in fields:
        key, value = _text(field.children[0]), field.children[1]
        kind, raw = value.data, str(value.children[0])
        if kind == "string":
            raise ExprError("Error while converting InfluxDB line protocol metric to Vector's metric model: "
                            "field set values of type string are not supported")
        number = (float(raw[:-1]) if kind in ("integer", "unsigned")
                  else (1.0 if raw[0] in "tT" else 0.0) if kind == "boolean" else float(raw))
        metric: dict[str, Any] = {"name": f"{measurement}_{key}"}
        if tags:
            metric["tags"] = dict(tags)
        if stamp is not None:
            metric["timestamp"] = _EPOCH + timedelta(microseconds=int(stamp) // 1000)
        metric["kind"] = "absolute"
        metric["gauge"] = {"value": number}
        out.append(metric)
    return out


@function(FUNCTIONS, "parse_influxdb", Param("value", kinds("string")), returns=kinds("array"), fallible=True,
          example='m = parse_influxdb!("cpu,host=a usage=5i 1590488773254420000"); m[0].gauge.value == 5.0')
def parse_influxdb(value: str) -> list[dict[str, Any]]:
    """Each field of each InfluxDB line-protocol line as a gauge metric ``<measurement>_<field>``."""
    out: list[dict[str, Any]] = []
    for line in value.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            out.extend(_metrics(line.strip()))
    return out
