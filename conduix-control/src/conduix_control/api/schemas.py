"""Request and response bodies of the REST API (published in its OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AckIn",
    "AgentIn",
    "CommandIn",
    "HeartbeatIn",
    "PipelineIn",
    "RollbackIn",
    "RunReportIn",
    "ScheduleIn",
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


class ScheduleIn(_In):
    pipeline: str
    cron: str = Field(..., description="Five fields, or six with seconds last ('*/10 * * * * *').")
    timezone: str = "UTC"
    enabled: bool = True


class CommandIn(_In):
    kind: str = Field(..., description="start | stop | pause | resume | restart")
    pipeline: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
