"""Functions about the machine a pipeline runs on: environment variables, host name, time zone.

They are evaluated when a record is processed, on the machine that runs the pipeline, never when a
program is compiled: validating a pipeline (``conduix validate``, the control plane) reads no
environment variable and asks nothing of the host.
"""

from __future__ import annotations

import os
import socket

from conduix.remap.functions._support import library
from conduix.remap.functions.spec import FunctionSpec, Param, function
from conduix.remap.values import ExprError, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")


@function(FUNCTIONS, "get_env_var", Param("name", S), returns=S, fallible=True, example='get_env_var("HOME") ?? "/"')
def get_env_var(name: str) -> str:
    """The value of an environment variable of the process running the pipeline."""
    value = os.environ.get(name)
    if value is None:
        raise ExprError(f"environment variable {name!r} not found")
    return value


@function(FUNCTIONS, "get_hostname", returns=S, fallible=True, example="get_hostname!()")
def get_hostname() -> str:
    """The host name of the machine running the pipeline."""
    try:
        return socket.gethostname()
    except OSError as exc:  # pragma: no cover - gethostname fails only on broken systems
        raise ExprError(f"unable to get the host name: {exc}") from None


@function(FUNCTIONS, "get_timezone_name", returns=S, fallible=True, example="get_timezone_name!()")
def get_timezone_name() -> str:
    """The IANA name of the local time zone of the machine running the pipeline (``UTC``, ``Europe/Paris``)."""
    tzlocal = library("tzlocal", "tzlocal")
    try:
        name = tzlocal.get_localzone_name()
    except Exception as exc:  # tzlocal raises several kinds of errors for a broken configuration
        raise ExprError(f"unable to determine the local time zone: {exc}") from None
    return str(name or "UTC")
