"""Response bodies of the REST API, published in its OpenAPI document.

The web UI's TypeScript types are generated from that document (``conduix-control/ui/src/api-schema.ts``,
``npm run types``), so what the UI reads is declared here once. Every model keeps keys it does not declare
(``extra="allow"``): declaring a response never drops a field a client already reads. Times are Unix seconds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Agent",
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "AuthConfig",
    "ComponentStats",
    "ConfigProblem",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "Me",
    "NewApiToken",
    "PipelineDetail",
    "PipelineSummary",
    "PipelineVersion",
    "Run",
    "RunStats",
    "RunTree",
    "SaveResult",
    "Schedule",
    "Stats",
    "ValidateResult",
]

Role = Literal["viewer", "editor", "admin", "agent"]


class _View(BaseModel):
    model_config = ConfigDict(extra="allow")


class Me(_View):
    user: str
    role: Role
    via: Literal["session", "token", "none"]


class AuthConfig(_View):
    mode: Literal["local", "oidc"]
    provider: str | None


class Assignment(_View):
    id: int
    pipeline: str
    replica: int
    agent_id: str | None = None
    run_id: int | None
    status: str


class PipelineSummary(_View):
    name: str
    current_version: int
    replicas: int
    labels: dict[str, str]
    desired: str
    status: str
    throughput: float
    records_in: int
    records_out: int
    created_at: float
    updated_at: float
    assignments: list[Assignment]


class PipelineDetail(PipelineSummary):
    yaml: str


class SaveResult(PipelineSummary):
    changed: bool


class ConfigProblem(_View):
    message: str
    line: int | None
    column: int | None
    path: str | None
    hint: str | None


class GraphNode(_View):
    id: str
    kind: Literal["source", "transform", "sink"]
    type: str


class GraphEdge(_View):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    from_: str = Field(..., alias="from")
    to: str
    output: str | None = Field(None, description="The named output of a router-like component the edge leaves "
                                                 "from (null: its only output).")


class Graph(_View):
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class ValidateResult(_View):
    valid: bool
    graph: Graph | None = Field(None, description="When valid: the DAG.")
    errors: list[ConfigProblem]


class PipelineVersion(_View):
    version: int
    yaml: str
    comment: str | None
    created_at: float


class ComponentStats(_View):
    kind: str | None
    type: str | None
    records_in: int
    records_out: int
    errors: int
    dead_letters: int
    dropped: int
    retries: int
    restarts: int
    lag: int | None
    rate_in: float
    rate_out: float


class RunStats(_View):
    id: int
    replica: int
    agent_id: str | None
    status: str
    records_in: int
    records_out: int
    errors: int


class Stats(_View):
    pipeline: str
    desired: str
    time: float
    runs: list[RunStats]
    components: dict[str, ComponentStats]


class Agent(_View):
    id: str
    host: str
    labels: dict[str, str]
    capacity: int
    mode: str
    status: str
    last_heartbeat: float
    registered_at: float
    heartbeat_age: float
    assignments: list[Assignment]


class Schedule(_View):
    id: int
    pipeline: str
    cron: str
    timezone: str
    enabled: bool
    last_fire: int | None
    created_at: float
    next_runs: list[str]


class Run(_View):
    id: int
    pipeline: str
    replica: int
    agent_id: str | None
    version: int
    status: str
    records_in: int
    records_out: int
    errors: int
    error: str | None
    parent_run_id: int | None
    parameters: dict[str, Any] | None
    started_at: float
    ended_at: float | None
    updated_at: float


class RunTree(Run):
    children: list[RunTree] = Field(description="The runs it started (pipelines of pipelines).")


class ApiToken(_View):
    id: int | str
    name: str
    role: Role
    prefix: str
    created_by: str | None
    created_at: float
    last_used_at: float | None
    expires_at: float | None = Field(None, description="When it stops working; null: when revoked.")


class NewApiToken(ApiToken):
    token: str = Field(..., description="The secret: in this answer only.")


class AuditEvent(_View):
    id: int
    at: float
    actor: str = Field(description="A user name, token:NAME for API tokens, cli for `conduix control` commands.")
    role: str | None
    via: str | None = Field(description="session, token or cli.")
    action: str = Field(description="The route changed through (`PUT /pipelines/{name}`), or login, "
                                    "login_failed, login_throttled, logout, password_changed, "
                                    "password_change_failed, password_reset.")
    target: str | None = Field(description="The concrete path or object.")
    status: int | None = Field(description="The HTTP status the change was answered with.")
    remote: str | None = Field(description="The client's address.")
    detail: dict[str, Any] | None
