"""Debugging, assertions, IDs and IP functions."""

from __future__ import annotations

import ipaddress
import logging
import time
import uuid
from typing import Any

from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import ExprError, display, kinds, values_equal

__all__ = ["FUNCTIONS"]

logger = logging.getLogger("conduix.remap")

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
B = kinds("boolean")

_LEVELS = {"trace": 5, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "error": logging.ERROR}
_last_logged: dict[tuple[str, str], float] = {}


@function(FUNCTIONS, "log", Param("value"), opt("level", S, "info"), opt("rate_limit_secs", kinds("integer"), 1),
          returns=kinds("null"), effects=True, example='log("Hello, World!", level: "info")')
def log(value: Any, level: str, rate_limit_secs: int) -> None:
    """Log a value to the ``conduix.remap`` logger, at most once per ``rate_limit_secs`` per message."""
    number = _LEVELS.get(level)
    if number is None:
        raise ExprError(f"unknown log level {level!r}, expected one of {', '.join(_LEVELS)}")
    text = value if type(value) is str else display(value)
    if rate_limit_secs > 0:
        key = (level, text)
        now = time.monotonic()
        last = _last_logged.get(key)
        if last is not None and now - last < rate_limit_secs:
            return
        if len(_last_logged) > 10_000:
            _last_logged.clear()
        _last_logged[key] = now
    logger.log(number, "%s", text)


@function(FUNCTIONS, "assert", Param("condition", B), opt("message", S, None), fallible=True, returns=B,
          example='assert!(1 + 1 == 2, message: "arithmetic is broken")')
def assert_(condition: bool, message: str | None) -> bool:
    """Fail with ``message`` unless the condition is true."""
    if not condition:
        raise ExprError(message if message is not None else "assertion failed")
    return True


@function(FUNCTIONS, "assert_eq", Param("left"), Param("right"), opt("message", S, None), fallible=True,
          returns=B, example="assert_eq!(1, 1)")
def assert_eq(left: Any, right: Any, message: str | None) -> bool:
    """Fail with ``message`` unless both values are equal."""
    if not values_equal(left, right):
        raise ExprError(message if message is not None
                        else f"assertion failed: {display(left)} == {display(right)}")
    return True


@function(FUNCTIONS, "uuid_v4", returns=S, example="uuid_v4()")
def uuid_v4() -> str:
    """A random version 4 UUID."""
    return str(uuid.uuid4())


@function(FUNCTIONS, "ip_cidr_contains", Param("cidr", kinds("string", "array")), Param("value", S),
          fallible=True, returns=B, example='ip_cidr_contains!("192.168.0.0/16", "192.168.10.32") == true')
def ip_cidr_contains(cidr: str | list[Any], value: str) -> bool:
    """Whether the IP address is in the CIDR block (or in any of an array of blocks)."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise ExprError("unable to parse IP address: invalid IP address syntax") from None
    blocks = cidr if type(cidr) is list else [cidr]
    for block in blocks:
        if type(block) is not str:
            raise ExprError("cidr must be a string or an array of strings")
        try:
            network = ipaddress.ip_network(block.strip(), strict=False)
        except ValueError:
            raise ExprError(f"unable to parse CIDR: {block!r}") from None
        if network.version == address.version and address in network:
            return True
    return False
