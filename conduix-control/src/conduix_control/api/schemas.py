"""Request and response bodies of the REST API (published in its OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AckIn",
    "AgentIn",
    "ChildRunIn",
    "CommandIn",
    "HeartbeatIn",
    "PipelineIn",
    "RollbackIn",
    "RunReportIn",
    "ScheduleIn",
    "SchedulePatchIn",
    "SchedulePreviewIn",
    "ValidateIn",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PipelineIn(_In):
    yaml: str = Field(..., description="The pipeline file's text; validated by Conduix core on save.")
    replicas: int | None = Field(None, ge=1, le=1000, description="Copies on distinct agents (default 1).")
    labels: dict[str, str] | None = Field(None, description="Agent labels the pipeline needs, e.g. {zone: eu}.")
    comment: str | None = Field(None, max_length=500)


class RollbackIn(_In):
    version: int = Field(..., ge=1, description="The version whose YAML becomes the new current version.")


class AgentIn(_In):
    id: str = Field(..., min_length=1, max_length=200)
    host: str
    labels: dict[str, str] = Field(default_factory=dict)
    capacity: int = Field(4, ge=1, description="Pipelines this agent runs at most.")
    mode: str = "rest"


class HeartbeatIn(_In):
    mode: str
    info: dict[str, Any] = Field(default_factory=dict, description="Metrics: Redis client counters, runs.")


class AckIn(_In):
    ok: bool = True
    via: str | None = Field(None, description="redis or rest: how the agent received the command.")
    result: str | None = None


class RunReportIn(_In):
    status: str | None = None
    records_in: int | None = None
    records_out: int | None = None
    errors: int | None = None
    error: str | None = None
    components: dict[str, dict[str, Any]] | None = Field(
        None, description="Per component id: kind, type, records_in, records_out, errors, dead_letters, dropped, "
                          "retries, restarts, buffered, lag (null when unknown).")
    time: float | None = Field(None, description="When the worker took these numbers (its clock); rates use it.")


class ChildRunIn(_In):
    pipeline: str = Field(..., description="The child pipeline (stored in the control plane) to run once.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Fills ${params.NAME} in its YAML.")


class ValidateIn(_In):
    yaml: str = Field(..., description="The pipeline file's text, as typed so far.")


class ScheduleIn(_In):
    pipeline: str
    cron: str = Field(..., description="Five fields, or six with seconds last ('*/10 * * * * *').")
    timezone: str = "UTC"
    enabled: bool = True


class SchedulePreviewIn(_In):
    cron: str
    timezone: str = "UTC"
    count: int = Field(5, ge=1, le=100)


class SchedulePatchIn(_In):
    cron: str | None = None
    timezone: str | None = None
    enabled: bool | None = None


class CommandIn(_In):
    kind: str = Field(..., description="start | stop | pause | resume | restart")
    pipeline: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
