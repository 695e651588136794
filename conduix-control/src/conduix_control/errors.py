"""Errors of the control plane and agents, part of Conduix's one hierarchy (:mod:`conduix.errors`)."""

from __future__ import annotations

from conduix.errors import CheckpointError, ConduixError, ConfigError, ConnectorError

__all__ = [
    "ControlError",
    "ControlPlaneUnavailableError",
    "ControlRequestError",
    "ForbiddenError",
    "NotFoundError",
    "RedisUnavailableError",
    "StaleLeaseError",
    "ValidationFailedError",
]


class ControlError(ConduixError):
    """Something the control plane or an agent refused or could not do."""


class NotFoundError(ControlError):
    """A pipeline, agent, run, schedule or command does not exist."""

    exit_code = 2


class ForbiddenError(ControlError):
    """The caller's role may not do this (answered 403), e.g. an editor saving a pipeline that runs code."""

    exit_code = 2


class ValidationFailedError(ControlError, ConfigError):
    """A pipeline YAML or schedule was rejected on save; ``errors`` lists each problem with its location."""

    exit_code = 2


class ControlRequestError(ControlError):
    """The control plane refused a request (4xx: not found, invalid, conflict); the message carries its answer."""

    exit_code = 2

    def __init__(self, message: str, *, status: int, detail: object = None) -> None:
        self.status = status
        self.detail = detail
        super().__init__(message)


class ControlPlaneUnavailableError(ControlError, ConnectorError):
    """The control plane's REST API could not be reached."""


class RedisUnavailableError(ConnectorError):
    """Redis could not be reached (or its circuit breaker is open) and no cached answer exists."""


class StaleLeaseError(CheckpointError):
    """A checkpoint write carried a lease token older than the pipeline's current one: another agent owns it."""
