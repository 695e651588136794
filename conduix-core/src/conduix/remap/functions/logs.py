"""Parsers for log line formats: Syslog (RFC 5424 and RFC 3164) and the Common Log Format."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.functions.timestamps import parse_with_format
from conduix.remap.values import UTC, ExprError, kinds, parse_rfc3339

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
OBJ = kinds("object")

FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
              "ftp", "ntp", "audit", "alert", "clockd", "local0", "local1", "local2", "local3", "local4",
              "local5", "local6", "local7")
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

_RFC5424 = re.compile(r"^(?:<(\d{1,3})>)?(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ?(.*)$", re.S)
_RFC3164 = re.compile(
    r"^(?:<(\d{1,3})>)?([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2}T\S+) "
    r"(?:(\S+) )?([^\s\[:]+)(?:\[([^\]]*)\])?: ?(.*)$", re.S)
_SD_ELEMENT = re.compile(r'\[([^\s\]=]+)((?:\s+[^\s=\]]+=\s*"(?:[^"\\]|\\.)*")*)\s*\]')
_SD_PARAM = re.compile(r'([^\s=\]]+)=\s*"((?:[^"\\]|\\.)*)"')


def _priority(out: dict[str, Any], pri: str | None) -> None:
    if pri is None:
        return
    value = int(pri)
    if value > 191:
        raise ExprError(f"unable to parse input as valid syslog message: invalid priority {value}")
    out["facility"] = FACILITIES[value >> 3]
    out["severity"] = SEVERITIES[value & 7]


def _int_or_text(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _structured_data(text: str, out: dict[str, Any]) -> str:
    """Parse leading SD elements into ``out``; returns the rest of the text (the message)."""
    if text.startswith("- ") or text == "-":
        return text[2:]
    pos = 0
    while text.startswith("[", pos):
        if text.startswith("[]", pos):  # an empty element carries nothing (VRL's parser accepts it)
            pos += 2
            continue
        match = _SD_ELEMENT.match(text, pos)
        if match is None:
            break
        params = {k: v.replace('\\"', '"').replace("\\]", "]").replace("\\\\", "\\")
                  for k, v in _SD_PARAM.findall(match.group(2))}
        out[match.group(1)] = params
        pos = match.end()
    return text[pos:].lstrip(" ")


def _parse_5424(value: str) -> dict[str, Any] | None:
    match = _RFC5424.match(value)
    if match is None:
        return None
    pri, version, stamp, host, app, procid, msgid, rest = match.groups()
    out: dict[str, Any] = {}
    _priority(out, pri)
    out["version"] = int(version)
    if stamp != "-":
        try:
            out["timestamp"] = parse_rfc3339(stamp)
        except ValueError:
            return None
    for key, item in (("hostname", host), ("appname", app), ("procid", procid), ("msgid", msgid)):
        if item != "-":
            out[key] = _int_or_text(item) if key == "procid" else item
    message = _structured_data(rest, out)
    out["message"] = message.rstrip("\n")
    return out


def _parse_3164(value: str) -> dict[str, Any] | None:
    match = _RFC3164.match(value)
    if match is None:
        return None
    pri, stamp, host, app, procid, message = match.groups()
    out: dict[str, Any] = {}
    _priority(out, pri)
    try:
        if stamp[0].isdigit():
            out["timestamp"] = parse_rfc3339(stamp)
        else:
            year = datetime.now(UTC).year
            parsed = datetime.strptime(f"{year} {stamp.replace('  ', ' 0')}", "%Y %b %d %H:%M:%S")
            out["timestamp"] = parsed.replace(tzinfo=UTC)
    except ValueError:
        return None
    if host:
        out["hostname"] = host
    out["appname"] = app
    if procid:
        out["procid"] = _int_or_text(procid)
    out["message"] = message.rstrip("\n")
    return out


def _syslog_type(types: list[Any], consts: list[Any]) -> Any:
    """The fields ``parse_syslog`` always sets, as VRL types them (structured data adds others)."""
    from conduix.remap.typedefs import ANY, NULL, STRING, object_type, of_kinds, union

    def maybe(*names: str) -> Any:
        return union(of_kinds(frozenset(names)), NULL)

    return object_type({
        "message": STRING, "hostname": maybe("string"), "severity": maybe("string"), "facility": maybe("string"),
        "appname": maybe("string"), "msgid": maybe("string"), "timestamp": maybe("timestamp"),
        "procid": maybe("string", "integer"), "version": maybe("integer"),
    }, ANY)


@function(FUNCTIONS, "parse_syslog", Param("value", S), returns=OBJ, fallible=True, typer=_syslog_type,
          example="parse_syslog!(s'<13>1 2020-03-13T20:45:38.119Z host app 2426 ID931 - hello')")
def parse_syslog(value: str) -> dict[str, Any]:
    """Parse a Syslog line (RFC 5424, or RFC 3164 with the current year)."""
    text = value.strip()
    if re.match(r"^\d+ <", text):  # RFC 6587 octet counting
        text = text.split(" ", 1)[1]
    result = _parse_5424(text) or _parse_3164(text)
    if result is None:
        raise ExprError("unable to parse input as valid syslog message")
    return result


_CLF = re.compile(r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\S+) (\S+)\s*$')
_REQUEST = re.compile(r"^(\S+) (\S+) (\S+)$")


@function(FUNCTIONS, "parse_common_log", Param("value", S), opt("timestamp_format", S, "%d/%b/%Y:%T %z"),
          returns=OBJ, fallible=True,
          example="parse_common_log!(s'127.0.0.1 bob frank [10/Oct/2000:13:55:36 -0700] "
                  "\"GET /apache_pb.gif HTTP/1.0\" 200 2326')")
def parse_common_log(value: str, timestamp_format: str) -> dict[str, Any]:
    """Parse an Apache Common Log Format line; ``-`` fields are left out."""
    match = _CLF.match(value.strip())
    if match is None:
        raise ExprError("failed parsing common log line")
    host, identity, user, stamp, request, status, size = match.groups()
    out: dict[str, Any] = {}
    for key, item in (("host", host), ("identity", identity), ("user", user)):
        if item != "-":
            out[key] = item
    if stamp != "-":
        out["timestamp"] = parse_with_format(stamp, timestamp_format)
    if request and request != "-":
        out["message"] = request
        parts = _REQUEST.match(request)
        if parts is not None:
            out["method"], out["path"], out["protocol"] = parts.groups()
    for key, item in (("status", status), ("size", size)):
        if item != "-":
            if not item.isdigit():
                raise ExprError(f"failed parsing common log line: invalid {key} {item!r}")
            out[key] = int(item)
    return out
