"""Server and application log lines: Apache, Nginx, klog, glog, Linux authorization.

The patterns are VRL's (its ``log_util`` and parsers), run on the remap regex engine (RE2), so their
time is linear in the line's length whatever a hostile line holds.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from conduix.remap.functions._support import compile_pattern
from conduix.remap.functions.logs import parse_syslog
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.functions.timestamps import parse_with_format
from conduix.remap.values import UTC, ExprError, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
OBJ = kinds("object")

_ANY = r'[\s\S]'  # VRL writes "any character" as the class union [[\\"][^"]]
_REQUEST = (rf'(-|"(-|(\s*(?P<message>((?P<method>\w+)\s+(?P<path>{_ANY}*?)\s+(?P<protocol>{_ANY}*?)\s*'
            rf'|{_ANY}*?))\s*))")')
_CLF_HEAD = r'^\s*(-|(?P<host>.*?))\s+(-|(?P<identity>.*?))\s+(-|(?P<user>.*?))\s+(-|\[(-|(?P<timestamp>[^\[]*))\])\s+'
_PATTERNS: dict[str, tuple[str, ...]] = {
    "apache_common": (_CLF_HEAD + _REQUEST + r'\s+(-|(?P<status>\d+))\s+(-|(?P<size>\d+))\s*$',),
    "apache_combined": (_CLF_HEAD + _REQUEST + r'\s+(-|(?P<status>\d+))\s+(-|(?P<size>\d+))\s+'
                        rf'(-|"(-|(\s*(?P<referrer>{_ANY}*?)")))\s+(-|"(-|(\s*(?P<agent>{_ANY}*?)")))',),
    "apache_error": (
        r'^\s*(-|\[(-|(?P<timestamp>[^\[]*))\])\s+(-|\[(-|(?P<module>[^:]*):(?P<severity>[^\[]*))\])\s+'
        r'(-|\[\s*pid\s*(-|(?P<pid>[^:]*)(:\s*tid\s*(?P<thread>[^\[]*))?)\])\s'
        r'(-|\[\s*client\s*(-|(?P<client>.*:?):(?P<port>[^\[]*))\])\s(-|(?P<message>.*))\s*$',
        r'^\s*\[(?P<timestamp>[^\]]+)\]\s+\[(-|(?P<module>[^:]+)):(?P<severity>[^\]]+)\]\s+'
        r'\[pid\s+(?P<pid>\d+)(:tid\s+(?P<thread>\d+))?\]\s+(?P<message1>[^\[]*?:\s+([^\[]*?:\s+)?)?'
        r'(\[client\s+(?P<client>.+?):(?P<port>\d+)\]\s+)?(?P<message2>.*)(, referer .*)?\s*$',
    ),
    "nginx_combined": (
        r'^\s*(-|(?P<client>\S+))\s+\-\s+(-|(?P<user>\S+))\s+\[(?P<timestamp>.+)\]\s+"(?P<request>[^"]*)"\s+'
        r'(?P<status>\d+)\s+(?P<size>\d+)\s+"(?P<referer>[^"]*)"\s+"(?P<agent>[^"]*)"'
        r'(\s+"(-|(?P<compression>[^"]+))")?\s*$',),
    "nginx_ingress_upstreaminfo": (
        r'^\s*(-|(?P<remote_addr>\S+))\s+\-\s+(-|(?P<remote_user>\S+))\s+\[(?P<timestamp>[^\]]+)\]\s+'
        r'"(?P<request>[^"]*)"\s+(?P<status>\d+)\s+(?P<body_bytes_size>\d+)\s+"(-|(?P<http_referer>[^"]*))"\s+'
        r'"(-|(?P<http_user_agent>[^"]+))"\s+(?P<request_length>\d+)\s+(?P<request_time>\d+\.\d+)\s+'
        r'\[(?P<proxy_upstream_name>[^\]]+)\]\s+\[(?P<proxy_alternative_upstream_name>[^\]]+)?\]\s+'
        r'(?P<upstream_addr>\S+)\s+(-|(?P<upstream_response_length>\d+))\s+'
        r'(-|(?P<upstream_response_time>\d+\.\d+))\s+(-|(?P<upstream_status>\d+))\s+(?P<req_id>\S+)\s*$',),
    "nginx_main": (
        r'^\s*(-|(?P<remote_addr>\S+))\s+\-\s+(-|(?P<remote_user>\S+))\s+\[(?P<timestamp>[^\]]+)\]\s+'
        r'"(?P<request>[^"]*)"\s+(?P<status>\d+)\s+(?P<body_bytes_size>\d+)\s+"(-|(?P<http_referer>[^"]*))"\s+'
        r'"(-|(?P<http_user_agent>[^"]+))"\s+"(-|(?P<http_x_forwarded_for>[^"]+))"\s*$',),
    "nginx_error": (
        r'^\s*(?P<timestamp>.+)\s+\[(?P<severity>\w+)\]\s+(?P<pid>\d+)\#(?P<tid>\d+):(\s+\*(?P<cid>\d+))?'
        r'\s+(?P<message>.+?)(,\s+excess:\s+(?P<excess>[^\s,]+),?\sby\szone\s"(?P<zone>[^,]+)")?'
        r'(,\s+client:\s+(?P<client>[^,]+))?(,\s+server:\s+(?P<server>[^,]*))?'
        r'(,\s+request:\s+"(?P<request>[^"]*)")?(,\s+upstream:\s+"(?P<upstream>[^"]*)")?'
        r'(,\s+host:\s+"(?P<host>[^"]*)")?(,\s+refer?rer:\s+"(?P<referer>[^"]*)")?\s*$',),
}
_INTEGERS = frozenset({"status", "size", "pid", "tid", "cid", "port", "body_bytes_size", "request_length",
                       "upstream_response_length", "upstream_status"})
_FLOATS = frozenset({"excess", "request_time", "upstream_response_time"})


@functools.cache
def _compiled(kind: str) -> tuple[Any, ...]:
    return tuple(compile_pattern(p) for p in _PATTERNS[kind])


def _field(name: str, text: str, timestamp_format: str) -> Any:
    if name == "timestamp":
        return parse_with_format(text, timestamp_format)
    try:
        if name in _INTEGERS:
            return int(text)
        if name in _FLOATS:
            return float(text)
    except ValueError:
        raise ExprError(f"failed parsing {name}") from None
    return text


def _parse(kind: str, value: str, timestamp_format: str, what: str) -> dict[str, Any]:
    for pattern in _compiled(kind):
        match = pattern.search(value)
        if match is not None:
            return {name: _field(name, text, timestamp_format)
                    for name, text in match.groupdict().items() if text is not None}
    raise ExprError(f"failed parsing {what} log line")


_APACHE = ("common", "combined", "error")


@function(FUNCTIONS, "parse_apache_log", Param("value", S), Param("format", S),
          opt("timestamp_format", S, "%d/%b/%Y:%T %z"), returns=OBJ, fallible=True,
          example="parse_apache_log!(s'127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 23', "
                  "format: \"common\").status == 200")
def parse_apache_log(value: str, format: str, timestamp_format: str) -> dict[str, Any]:
    """Parse an Apache access (``common``, ``combined``) or ``error`` log line; ``-`` fields are left out."""
    if format not in _APACHE:
        raise ExprError(f"unknown format {format!r}, expected one of {', '.join(_APACHE)}")
    return _parse(f"apache_{format}", value, timestamp_format, format)


_NGINX_TIME = {"combined": "%d/%b/%Y:%T %z", "ingress_upstreaminfo": "%d/%b/%Y:%T %z", "main": "%d/%b/%Y:%T %z",
               "error": "%Y/%m/%d %H:%M:%S"}


@function(FUNCTIONS, "parse_nginx_log", Param("value", S), Param("format", S), opt("timestamp_format", S, None),
          returns=OBJ, fallible=True,
          example="parse_nginx_log!(s'172.17.0.1 - alice [01/Apr/2021:12:02:31 +0000] \"GET / HTTP/1.1\" 200 15 "
                  "\"-\" \"curl/7.64\"', \"combined\").client == \"172.17.0.1\"")
def parse_nginx_log(value: str, format: str, timestamp_format: str | None) -> dict[str, Any]:
    """Parse an Nginx ``combined``, ``main``, ``ingress_upstreaminfo`` or ``error`` log line."""
    if format not in _NGINX_TIME:
        raise ExprError(f"unknown format {format!r}, expected one of {', '.join(_NGINX_TIME)}")
    out = _parse(f"nginx_{format}", value, timestamp_format or _NGINX_TIME[format], "")
    return out


_LEVELS = {"I": "info", "W": "warning", "E": "error", "F": "fatal"}
_KLOG = (r"^\s*(?P<level>\w)(?P<timestamp>(?P<month>\d{2})\d{2}\s\d{2}:\d{2}:\d{2}\.\d{6})\s+(?P<id>\d+)\s"
         r"(?P<file>.+):(?P<line>\d+)\]\s(?P<message>.*?)\s*$")
_GLOG = (r"^\s*(?P<level>\w)(?P<timestamp>\d{4}\d{2}\d{2}\s\d{2}:\d{2}:\d{2}\.\d{6})\s+(?P<id>\d+)\s"
         r"(?P<file>.+):(?P<line>\d+)\]\s(?P<message>.*?)\s*$")


@functools.lru_cache(maxsize=2)
def _google_pattern(text: str) -> Any:
    return compile_pattern(text)


def _google_log(value: str, pattern: str, kind: str) -> dict[str, Any]:
    match = _google_pattern(pattern).search(value)
    if match is None:
        raise ExprError(f"failed parsing {kind} message")
    level = _LEVELS.get(match.group("level"))
    if level is None:
        raise ExprError(f'unrecognized log level "{match.group("level")}"')
    stamp = match.group("timestamp")
    if kind == "klog":
        now = datetime.now(UTC)
        year = now.year - 1 if now.month == 1 and match.group("month") == "12" else now.year
        stamp = f"{year}{stamp}"
    try:
        timestamp = datetime.strptime(stamp, "%Y%m%d %H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ExprError(f"failed parsing timestamp {stamp}: {exc}") from None
    return {"level": level, "timestamp": timestamp, "id": int(match.group("id")), "file": match.group("file"),
            "line": int(match.group("line")), "message": match.group("message")}


@function(FUNCTIONS, "parse_klog", Param("value", S), returns=OBJ, fallible=True,
          example='parse_klog!("I0505 17:59:40.692994   28133 klog.go:70] hello from klog").line == 70')
def parse_klog(value: str) -> dict[str, Any]:
    """Parse a Kubernetes klog line (the year is the current one, or last year for December in January)."""
    return _google_log(value, _KLOG, "klog")


@function(FUNCTIONS, "parse_glog", Param("value", S), returns=OBJ, fallible=True,
          example='parse_glog!("I20210131 14:48:54.411655 15520 main.c++:9] Hello world!").level == "info"')
def parse_glog(value: str) -> dict[str, Any]:
    """Parse a Google glog line."""
    return _google_log(value, _GLOG, "glog")


@function(FUNCTIONS, "parse_linux_authorization", Param("value", S), returns=OBJ, fallible=True,
          example="parse_linux_authorization!(s'Mar 23 01:49:58 localhost sshd[1111]: Accepted publickey for eng')"
                  ".appname == \"sshd\"")
def parse_linux_authorization(value: str) -> dict[str, Any]:
    """Parse a line of /var/log/auth.log or /var/log/secure (Syslog without priority)."""
    try:
        return parse_syslog(value)
    except ExprError:
        raise ExprError("unable to parse input as valid Linux authorization log") from None
