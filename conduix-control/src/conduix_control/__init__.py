"""Conduix control plane and agents: REST API, scheduler, Redis command channel with REST fallback, failover."""

from __future__ import annotations

from conduix_control.errors import (
    ControlError,
    ControlPlaneUnavailableError,
    ControlRequestError,
    NotFoundError,
    RedisUnavailableError,
    StaleLeaseError,
    ValidationFailedError,
)

__all__ = [
    "ControlError",
    "ControlPlaneUnavailableError",
    "ControlRequestError",
    "NotFoundError",
    "RedisUnavailableError",
    "StaleLeaseError",
    "ValidationFailedError",
]
