"""Request and response bodies of the REST API (published in its OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from conduix_control.db.models import MAX_BIG, MAX_ID
from conduix_control.keys import AGENT_ID

__all__ = [
    "AckIn",
    "AgentIn",
    "ChildRunIn",
    "CommandIn",
    "HeartbeatIn",
    "Id",
    "Limit",
    "PipelineIn",
    "RollbackIn",
    "RunReportIn",
    "ScheduleIn",
    "SchedulePatchIn",
    "SchedulePreviewIn",
    "ValidateIn",
]

#: a row id in a path (``/runs/{run_id}``): anything else is a 422, not a database error
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
#: how many rows a list answers at most
Limit = Annotated[int, Query(ge=1, le=1000)]
_Count = Field(None, ge=0, le=MAX_BIG)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PipelineIn(_In):
    yaml: str = Field(..., description="The pipeline file's text; validated by Conduix core on save.")
    replicas: int | None = Field(None, ge=1, le=1000, description="Copies on distinct agents (default 1).")
    labels: dict[str, str] | None = Field(None, description="Agent labels the pipeline needs, e.g. {zone: eu}.")
    comment: str | None = Field(None, max_length=500)


class RollbackIn(_In):
    version: int = Field(..., ge=1, le=MAX_ID, description="The version whose YAML becomes the new current version.")


class AgentIn(_In):
    id: str = Field(..., min_length=1, max_length=200, pattern=AGENT_ID,
                    description="Letters, digits, '_', '.' and '-' (it is part of Redis key names).")
    host: str = Field(..., max_length=255)
    labels: dict[str, str] = Field(default_factory=dict)
    capacity: int = Field(4, ge=1, le=100000, description="Pipelines this agent runs at most.")
    mode: str = Field("rest", max_length=20)


class HeartbeatIn(_In):
    mode: str = Field(..., max_length=20)
    info: dict[str, Any] = Field(default_factory=dict, description="Metrics: Redis client counters, runs.")


class AckIn(_In):
    ok: bool = True
    via: str | None = Field(None, max_length=20, description="redis or rest: how the agent received the command.")
    result: str | None = None


class RunReportIn(_In):
    status: str | None = Field(None, max_length=20)
    records_in: int | None = _Count
    records_out: int | None = _Count
    errors: int | None = _Count
    error: str | None = None
    components: dict[str, dict[str, Any]] | None = Field(
        None, description="Per component id: kind, type, records_in, records_out, errors, dead_letters, dropped, "
                          "retries, restarts, buffered, lag (null when unknown).")
    time: float | None = Field(None, description="When the worker took these numbers (its clock); rates use it.")


class ChildRunIn(_In):
    pipeline: str = Field(..., max_length=200,
                          description="The child pipeline (stored in the control plane) to run once.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Fills ${params.NAME} in its YAML.")


class ValidateIn(_In):
    yaml: str = Field(..., description="The pipeline file's text, as typed so far.")


class ScheduleIn(_In):
    pipeline: str = Field(..., max_length=200)
    cron: str = Field(..., max_length=200, description="Five fields, or six with seconds last ('*/10 * * * * *').")
    timezone: str = Field("UTC", max_length=64)
    enabled: bool = True


class SchedulePreviewIn(_In):
    cron: str = Field(..., max_length=200)
    timezone: str = Field("UTC", max_length=64)
    count: int = Field(5, ge=1, le=100)


class SchedulePatchIn(_In):
    cron: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    enabled: bool | None = None


class CommandIn(_In):
    kind: str = Field(..., max_length=20, description="start | stop | pause | resume | restart")
    pipeline: str | None = Field(None, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict)
