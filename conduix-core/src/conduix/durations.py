"""Durations in settings and component options: seconds as a number, or a string like ``100ms``, ``30s``, ``5m``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, field_validator

__all__ = ["UNITS", "Seconds", "durations", "parse_duration"]

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like ``500ms``, ``10s``, ``5m``, ``1h``, ``1d``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '10s', '5m', '1h'")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * UNITS[match.group(2) or "s"]
    raise ValueError(f"{value!r} is not a duration; write seconds (30) or a string like '500ms', '10s', '5m', '1h'")


Seconds = Annotated[float, BeforeValidator(parse_duration)]
"""A pydantic field type: seconds, written as a number or as ``100ms``, ``30s``, ``5m``."""


def durations(*names: str) -> Any:
    """A validator for config models: the named fields hold seconds, written as numbers or ``10s``, ``5m``."""

    def convert(cls: Any, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    return field_validator(*names, mode="before")(convert)
