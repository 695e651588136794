"""``parse_user_agent``: browser, OS and device of a User-Agent header, as VRL's three modes give them.

``fast`` uses Woothee; ``reliable`` falls back to the uap-core rules (ua-parser) when Woothee cannot
name the browser or OS; ``enriched`` takes uap-core first, Woothee for what it leaves empty, and
returns every field. Both libraries ship their rules, so nothing is downloaded.
"""

from __future__ import annotations

import functools
from typing import Any

from conduix.remap.functions._support import library
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import ExprError, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

_BROWSER = ("family", "version", "major", "minor", "patch")
_OS = ("family", "version", "major", "minor", "patch", "patch_minor")
_DEVICE = ("category", "family", "brand", "model")


def _known(text: Any) -> str | None:
    return None if text in (None, "", "UNKNOWN", "Other") else str(text)


def _woothee(agent: str) -> dict[str, dict[str, str | None]]:
    found = library("woothee", "woothee").parse(agent)
    return {"browser": {"family": _known(found.get("name")), "version": _known(found.get("version"))},
            "os": {"family": _known(found.get("os")), "version": _known(found.get("os_version"))},
            "device": {"category": _known(found.get("category"))}}


@functools.lru_cache(maxsize=4096)
def _uap(agent: str) -> dict[str, dict[str, str | None]]:
    found = library("ua_parser", "ua-parser").parse(agent)
    ua, os_, device = found.user_agent, found.os, found.device
    browser = {"family": _known(ua.family), "major": ua.major, "minor": ua.minor, "patch": ua.patch} if ua else {}
    system = ({"family": _known(os_.family), "major": os_.major, "minor": os_.minor, "patch": os_.patch,
               "patch_minor": os_.patch_minor} if os_ else {})
    gadget = {"family": _known(device.family), "brand": device.brand, "model": device.model} if device else {}
    return {"browser": browser, "os": system, "device": gadget}


def _either(first: dict[str, dict[str, Any]], second: dict[str, dict[str, Any]],
            fields: dict[str, tuple[str, ...]]) -> dict[str, dict[str, Any]]:
    return {part: {name: first.get(part, {}).get(name) or second.get(part, {}).get(name) for name in names}
            for part, names in fields.items()}


_PARTIAL = {"browser": ("family", "version"), "os": ("family", "version"), "device": ("category",)}
_FULL = {"browser": _BROWSER, "os": _OS, "device": _DEVICE}


@function(FUNCTIONS, "parse_user_agent", Param("value", kinds("string")), opt("mode", kinds("string"), "fast"),
          returns=kinds("object"),
          example='parse_user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")'
                  '.browser.family == "Firefox"')
def parse_user_agent(value: str, mode: str) -> dict[str, Any]:
    """Browser, OS and device of a User-Agent (``mode``: fast, reliable or enriched); unknown parts are null."""
    if mode == "fast":
        return _either(_woothee(value), {}, _PARTIAL)
    if mode == "reliable":
        fast = _woothee(value)
        if fast["browser"]["family"] is None or fast["os"]["family"] is None:
            return _either(_uap(value), fast, _PARTIAL)
        return _either(fast, {}, _PARTIAL)
    if mode == "enriched":
        return _either(_uap(value), _woothee(value), _FULL)
    raise ExprError(f"unknown mode {mode!r}, expected fast, reliable or enriched")
