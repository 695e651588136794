"""Security and cloud log formats: CEF, AWS ALB access logs, AWS VPC flow logs, CloudWatch subscriptions."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import orjson

from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import UTC, ExprError, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
B = kinds("boolean")
OBJ = kinds("object")

# -- CEF (ArcSight Common Event Format), following VRL's parser rule by rule ----------------------------

_CEF_HEADERS = ("cefVersion", "deviceVendor", "deviceProduct", "deviceVersion", "deviceEventClassId", "name",
                "severity")
_CUSTOM = ("c6a1", "c6a2", "c6a3", "c6a4", "cfp1", "cfp2", "cfp3", "cfp4", "cn1", "cn2", "cn3", "cs1", "cs2", "cs3",
           "cs4", "cs5", "cs6", "deviceCustomDate1", "deviceCustomDate2", "flexDate1", "flexString1", "flexString2")
_KEY = re.compile(r"[ |]+([^ =\\]+)=")


def _cef_header(text: str, pos: int) -> tuple[str, int]:
    if text.startswith("|", pos):
        pos += 1
    out: list[str] = []
    while pos < len(text) and text[pos] != "|":
        if text[pos] == "\\" and pos + 1 < len(text) and text[pos + 1] in "\\|":
            out.append(text[pos + 1])
            pos += 2
        elif text[pos] == "\\":
            raise ExprError("Could not parse whole line successfully")
        else:
            out.append(text[pos])
            pos += 1
    return "".join(out).strip(), pos


def _cef_value(text: str, pos: int, strict: bool) -> tuple[str, int]:
    out: list[str] = []
    while pos < len(text):
        if _KEY.match(text, pos) is not None or (strict and text[pos] == "="):
            break
        if text[pos] == "\\":
            nxt = text[pos + 1:pos + 2]
            if nxt in ("=", "\\"):
                out.append(nxt)
                pos += 2
            elif nxt in ("n", "r"):
                out.append("\n")
                pos += 2
            else:
                out.append("\\")
                pos += 1
            continue
        out.append(text[pos])
        pos += 1
    return "".join(out), pos


def _cef(text: str, strict: bool) -> list[tuple[str, str]]:
    start = text.find("CEF:")
    if start < 0:
        raise ExprError("unable to parse CEF: the CEF: marker is missing")
    pos = start + 4
    headers = []
    for _ in _CEF_HEADERS:
        value, pos = _cef_header(text, pos)
        headers.append(value)
    extension: list[tuple[str, str]] = []
    while True:
        match = _KEY.match(text, pos)
        if match is None:
            break
        value, pos = _cef_value(text, match.end(), strict)
        extension.append((match.group(1), value))
    if not extension and text.startswith("|", pos):
        pos += 1
    if extension:
        extension[-1] = (extension[-1][0], extension[-1][1].rstrip(" "))
    if text[pos:].strip() and strict:
        raise ExprError("Could not parse whole line successfully")
    pairs = [*extension, *zip(_CEF_HEADERS, headers)]
    return [(k, v[1:-1] if len(v) >= 2 and v[0] == '"' and v[-1] == '"' else v) for k, v in pairs]


@function(FUNCTIONS, "parse_cef", Param("value", S), opt("translate_custom_fields", B, False), opt("strict", B, True),
          returns=OBJ, fallible=True,
          example='parse_cef!("CEF:1|Security|threatmanager|1.0|100|worm stopped|10|src=10.0.0.1").src == "10.0.0.1"')
def parse_cef(value: str, translate_custom_fields: bool, strict: bool) -> dict[str, Any]:
    """Parse a CEF line (any Syslog prefix is skipped); ``translate_custom_fields`` names ``csN`` by ``csNLabel``."""
    pairs = _cef(value, strict)
    if not translate_custom_fields:
        return dict(pairs)
    out: dict[str, Any] = {}
    custom: dict[str, list[str | None]] = {}
    for key, item in pairs:
        base = key[:-5] if key.endswith("Label") and key[:-5] in _CUSTOM else key
        if base in _CUSTOM:
            slot = custom.setdefault(base, [None, None])
            index = 0 if key.endswith("Label") else 1
            if slot[index] is not None:
                raise ExprError(f"Custom field with duplicate {'label' if index == 0 else 'value'}")
            slot[index] = item
        else:
            out[key] = item
    for label, content in custom.values():
        if label is None:
            raise ExprError("Custom field with missing label or value")
        out[label] = content
    return out


# -- AWS application load balancer access logs -------------------------------------------------------

_ALB_TOKEN = re.compile(r' "((?:[^"\\]|\\.)*)"| ([^ ]+)')


def _alb_tokens(text: str) -> list[tuple[str, bool]]:
    tokens: list[tuple[str, bool]] = []
    pos = 0
    line = " " + text
    while pos < len(line):
        match = _ALB_TOKEN.match(line, pos)
        if match is None:
            raise ExprError("unable to parse AWS ALB log: unexpected text at "
                            f"{line[pos:pos + 20]!r}")
        if match.group(1) is not None:
            tokens.append((re.sub(r"\\(.)", r"\1", match.group(1)), True))
        else:
            tokens.append((match.group(2), False))
        pos = match.end()
    return tokens


def _dash(text: str) -> str | None:
    return None if text == "-" else text


_ALB_PLAIN = ("type", "timestamp", "elb", "client_host", "target_host")
_ALB_FLOATS = ("request_processing_time", "target_processing_time", "response_processing_time")
_ALB_AFTER_REQUEST = ("user_agent", "ssl_cipher", "ssl_protocol", "target_group_arn", "trace_id", "domain_name",
                      "chosen_cert_arn", "matched_rule_priority", "request_creation_time", "actions_executed",
                      "redirect_url", "error_reason", "target_port_list", "target_status_code_list",
                      "classification", "classification_reason")


@function(FUNCTIONS, "parse_aws_alb_log", Param("value", S), opt("strict_mode", B, True), returns=OBJ,
          fallible=True,
          example='parse_aws_alb_log!(s\'http 2018-11-30T22:23:00.186641Z app/lb/5 192.168.131.39:2817 - 0.000 0.001 '
                  '0.000 200 200 34 366 "GET http://example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:tg "Root=1" '
                  '"-" "-" 0 2018-11-30T22:22:48.364000Z "forward" "-" "-" "-" "-" "-" "-"\').elb_status_code == "200"')
def parse_aws_alb_log(value: str, strict_mode: bool) -> dict[str, Any]:
    """Parse an AWS Application Load Balancer access log line (``-`` fields are null)."""
    tokens = _alb_tokens(value)
    fields = len(_ALB_PLAIN) + len(_ALB_FLOATS) + 4 + 1 + len(_ALB_AFTER_REQUEST) - 2
    if len(tokens) < fields:
        raise ExprError(f"unable to parse AWS ALB log: expected at least {fields} fields, got {len(tokens)}")
    out: dict[str, Any] = {}
    items = iter(tokens)
    for name in _ALB_PLAIN:
        out[name] = _dash(next(items)[0])
    for name in _ALB_FLOATS:
        text = next(items)[0]
        try:
            out[name] = float(text)
        except ValueError:
            raise ExprError(f"failed to get field `{name}`") from None
    for name in ("elb_status_code", "target_status_code"):
        out[name] = _dash(next(items)[0])
    for name in ("received_bytes", "sent_bytes"):
        text = next(items)[0]
        try:
            out[name] = int(text)
        except ValueError:
            raise ExprError(f"failed to get field `{name}`") from None
    request = next(items)[0]
    method, _, rest = request.partition(" ")
    out["request_method"] = _dash(method)
    url, _, protocol = rest.rpartition(" ")
    if not rest or not url:
        raise ExprError("failed to get field `request_url`")
    out["request_url"] = url
    out["request_protocol"] = _dash(protocol)
    for name in _ALB_AFTER_REQUEST:
        token = next(items, None)
        if token is None:
            if name in ("classification", "classification_reason"):
                out[name] = None
                continue
            raise ExprError(f"failed to get field `{name}`")
        text, _quoted = token
        if name in ("target_port_list", "target_status_code_list"):
            out[name] = [] if text == "-" else text.split(" ")
        else:
            out[name] = _dash(text)
    rest_tokens = list(items)
    out["traceability_id"] = None
    if rest_tokens and rest_tokens[0][0].startswith("TID_"):
        out["traceability_id"] = rest_tokens.pop(0)[0]
    if rest_tokens and strict_mode:
        raise ExprError(f'Log should be fully consumed: "{" ".join(t for t, _ in rest_tokens)}"')
    return out


# -- AWS VPC flow logs -----------------------------------------------------------------------------------

_VPC_DEFAULT = ("version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes start end "
                "action log_status")
_VPC_INTEGERS = frozenset({"bytes", "dstport", "encryption_status", "end", "packets", "protocol", "srcport",
                           "start", "tcp_flags", "traffic_path", "version"})
_VPC_TEXT = frozenset("""account_id action asg_tag asg_tag_2 az_id dstaddr ecs_cluster_arn ecs_cluster_name
    ecs_container_id ecs_container_instance_arn ecs_container_instance_id ecs_second_container_id ecs_service_name
    ecs_task_arn ecs_task_definition_arn ecs_task_id flow_direction instance_id instance_tag instance_tag_2
    interface_id interface_tag interface_tag_2 interface_type log_status next_hop_az_id next_hop_interface_id
    next_hop_interface_type next_hop_subnet_id next_hop_vpc_id pkt_dstaddr pkt_dst_aws_service pkt_srcaddr
    pkt_src_aws_service region reject_reason resource_id srcaddr sublocation_id sublocation_type subnet_id type
    vpc_id""".split())


@function(FUNCTIONS, "parse_aws_vpc_flow_log", Param("value", S), opt("format", S, None), returns=OBJ,
          fallible=True,
          example='parse_aws_vpc_flow_log!("2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 '
                  '- NODATA").log_status == "NODATA"')
def parse_aws_vpc_flow_log(value: str, format: str | None) -> dict[str, Any]:
    """Parse an AWS VPC flow log record, in the default field order or the given ``format`` (field names)."""
    keys = (format or _VPC_DEFAULT).split(" ")
    values = value.split(" ")
    if len(values) > len(keys):
        raise ExprError(f"unable to parse AWS VPC flow log: no key for value: `{values[len(keys)]}`")
    if len(values) < len(keys):
        raise ExprError(f"unable to parse AWS VPC flow log: no item for key: `{keys[len(values)]}`")
    out: dict[str, Any] = {}
    for key, text in zip(keys, values):
        if key not in _VPC_INTEGERS and key not in _VPC_TEXT:
            raise ExprError(f"unable to parse AWS VPC flow log: unknown key: `{key}`")
        if key in out:
            raise ExprError(f"unable to parse AWS VPC flow log: value already exists for key: `{key}`")
        if text == "-":
            out[key] = None
        elif key in _VPC_INTEGERS:
            try:
                out[key] = int(text)
            except ValueError:
                raise ExprError(f"failed to parse value as i64 (key: `{key}`): `{text}`") from None
        else:
            out[key] = text
    return out


# -- CloudWatch Logs subscription messages ----------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CW_KEYS = {"owner", "messageType", "logGroup", "logStream", "subscriptionFilters", "logEvents"}


@function(FUNCTIONS, "parse_aws_cloudwatch_log_subscription_message", Param("value", S), returns=OBJ,
          fallible=True,
          example='parse_aws_cloudwatch_log_subscription_message!(s\'{"messageType": "CONTROL_MESSAGE", "owner": '
                  '"1", "logGroup": "g", "logStream": "s", "subscriptionFilters": [], "logEvents": []}\').owner == "1"')
def parse_aws_cloudwatch_log_subscription_message(value: str) -> dict[str, Any]:
    """Parse the JSON that CloudWatch Logs sends to a subscription (owner, log_group, log_events...)."""
    try:
        message = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ExprError(f"unable to parse: {exc}") from None
    if not isinstance(message, dict) or set(message) != _CW_KEYS:
        raise ExprError(f"unable to parse: expected exactly the fields {', '.join(sorted(_CW_KEYS))}")
    if message["messageType"] not in ("DATA_MESSAGE", "CONTROL_MESSAGE"):
        raise ExprError(f"unable to parse: unknown messageType {message['messageType']!r}")
    events = []
    for event in message["logEvents"]:
        if not isinstance(event, dict) or set(event) != {"id", "timestamp", "message"} \
                or not isinstance(event["timestamp"], int):
            raise ExprError("unable to parse: a log event needs exactly id, timestamp (ms) and message")
        events.append({"id": event["id"], "timestamp": _EPOCH + timedelta(milliseconds=event["timestamp"]),
                       "message": event["message"]})
    return {"owner": message["owner"], "message_type": message["messageType"], "log_group": message["logGroup"],
            "log_stream": message["logStream"], "subscription_filters": message["subscriptionFilters"],
            "log_events": events}
