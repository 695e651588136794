"""Pydantic models for the pipeline-level parts of a config, and error translation."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from conduix.config.yamlsource import Located, Path
from conduix.errors import ConfigError

__all__ = [
    "INHERITED_SUPERVISION",
    "BackoffSettings",
    "BufferSettings",
    "CheckpointSettings",
    "ChildSettings",
    "ComponentPolicy",
    "PipelineHeader",
    "RetrySettings",
    "Settings",
    "SupervisionSettings",
    "TelemetrySettings",
    "is_version_one",
    "validation_errors",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckpointSettings(_Strict):
    interval: float = Field(10.0, gt=0, description="Seconds between checkpoints of acknowledged positions.")
    store: str | None = Field(None, description="None for files in the state directory, or redis://host:port/db.")


class TelemetrySettings(_Strict):
    """``settings.telemetry`` of a pipeline; the standard OTEL_* environment variables work too."""

    otlp_endpoint: str | None = Field(default=None, description="OTLP/HTTP endpoint for metrics and traces, "
                                      "e.g. http://collector:4318 (default: $OTEL_EXPORTER_OTLP_ENDPOINT).")
    trace_sample_ratio: float = Field(default=0.01, ge=0, le=1, description="Share of batches traced.")
    tracing: bool = Field(default=True, description="Create spans (exported only with an OTLP endpoint).")
    service_name: str = Field(default="conduix")
    export_interval: float = Field(default=15.0, gt=0, description="Seconds between OTLP metric exports.")


class Settings(_Strict):
    """Run settings shared by every component of the pipeline."""

    batch_size: int = Field(1000, ge=1, le=1_000_000, description="Records a source reads per batch.")
    queue_size: int = Field(4, ge=1, le=1024,
                            description="Batches buffered between two components; bounds memory.")
    idle_sleep: float = Field(0.05, ge=0, description="Seconds a source waits after an empty read.")
    shutdown_timeout: float = Field(60.0, gt=0, description="Seconds a graceful stop may take to drain and "
                                    "flush; then the run is aborted (what was not written is replayed next time).")
    workers: int = Field(1, ge=1, le=256, description="Slices of the pipeline, each a worker process under "
                         "supervision (sources split their input between slices: Kafka partitions, ...).")
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)


class BackoffSettings(_Strict):
    initial: float = Field(1.0, gt=0)
    max: float = Field(16.0, gt=0)
    multiplier: float = Field(2.0, ge=1)
    jitter: float = Field(0.1, ge=0, le=1)


class ResumeSettings(_Strict):
    """When the root supervisor gave up (the run is ``paused``): resume it by itself after a delay, with a
    fresh restart budget, so the pipeline comes back once what failed (Kafka, Redis) is back."""

    initial: float = Field(10.0, gt=0, description="Seconds paused before the first automatic resume.")
    max: float = Field(300.0, gt=0, description="Longest wait between automatic resumes, seconds.")
    multiplier: float = Field(2.0, ge=1, description="Each further pause waits this much longer.")
    max_attempts: int | None = Field(10, ge=0, description="Automatic resumes in a row (a resume that ran "
                                     "longer than the root's within_seconds starts the count again); then the "
                                     "run ends paused. 0: never resume by itself; null: no limit.")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before automatic resume number ``attempt`` (0-based)."""
        return float(min(self.initial * self.multiplier ** attempt, self.max))


class SupervisionSettings(_Strict):
    strategy: Literal["one_for_one", "one_for_all", "rest_for_one"] = "one_for_one"
    max_restarts: int = Field(default=5, ge=0)
    within_seconds: float = Field(default=60.0, gt=0)
    backoff: BackoffSettings = Field(default_factory=BackoffSettings)
    resume: ResumeSettings = Field(default_factory=ResumeSettings,
                                   description="Automatic resumes of a paused run (the root supervisor's only).")


#: what a supervisor takes from its parent unless its own ``supervision`` sets it: the restart budget and its
#: pacing (the original README's SourceSupervisor sets ``max_restarts: 10`` under a root of ``within_seconds:
#: 300``); not ``strategy`` (how its own children relate) nor ``resume`` (the root's alone)
INHERITED_SUPERVISION = frozenset({"max_restarts", "within_seconds", "backoff"})


class RetrySettings(_Strict):
    """How a component retries transient failures (RetryableError): exponential backoff with jitter."""

    max_attempts: int | None = Field(default=None, ge=1, description="Attempts before the error counts as "
                                     "permanent and on_error applies; null: keep retrying while the run lasts.")
    initial: float = Field(default=0.5, gt=0, description="First delay, seconds.")
    max: float = Field(default=30.0, gt=0, description="Longest delay, seconds.")
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.2, ge=0, le=1, description="Random share added to or taken from a delay.")


class ComponentPolicy(_Strict):
    """What a component does with errors; the same keys for every source, stage and sink."""

    on_error: Literal["stop", "drop", "dead_letter"] = Field(
        default="stop", description="stop: fail the run; drop: log and skip the record; dead_letter: send it "
                                    "to the '<id>.dead_letter' output.")
    retry: RetrySettings = Field(default_factory=RetrySettings)


class BufferSettings(_Strict):
    """A sink's buffer: what waits while the sink is slow or its server is down."""

    type: Literal["memory", "disk"] = Field(
        default="memory", description="memory: a bounded queue of batches; disk: every batch is first "
                                      "written to a local SQLite (WAL) file and acknowledged upstream from there; "
                                      "it survives restarts and drains in order.")
    max_batches: int | None = Field(default=None, ge=1, description="Memory: batches held (default: "
                                    "settings.queue_size).")
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024, description="Disk: size bound of the buffer.")
    when_full: Literal["block", "drop_newest"] = Field(
        default="block", description="block: slow the pipeline down (backpressure); drop_newest: drop "
                                     "incoming batches (counted and logged) until there is room.")
    path: str | None = Field(default=None, description="Disk: the folder (default: "
                             "<state_dir>/buffers/<pipeline>).")


class ChildSettings(_Strict):
    """How a child pipeline (``parent:`` set to another data type) is run for each parent record."""

    start: Literal["after_parent", "streaming"] = Field(
        default="after_parent", description="after_parent: once the parent run has completed; streaming: as soon "
                                            "as each parent record is delivered.")
    concurrency: int = Field(default=4, ge=1, description="Child runs of this pipeline at the same time.")
    retries: int = Field(default=2, ge=0, description="Extra attempts of a failed child run.")
    retry_delay: float = Field(default=1.0, ge=0, description="Seconds before the first retry (doubles each time).")
    parameters: dict[str, str] | None = Field(
        default=None, description="Parameter name -> parent field (dotted path). Default: every top-level field "
                                  "of the parent record, by its own name.")


class PipelineHeader(_Strict):
    """Top-level keys of a pipeline file (both formats)."""

    version: int = Field(1, description="1 (also written \"1\", 1.0 or \"1.0\", as the original README does).")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str | None = None
    type: Literal["pipeline", "actor"] = "pipeline"
    settings: Settings = Field(default_factory=Settings)
    delivery: Literal["at_least_once", "exactly_once"] = "at_least_once"
    data_type: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]+$",
                                  description="The data type this pipeline produces.")
    parent: str | None = Field(default=None, description="A data type or a pipeline name this pipeline depends on.")
    child: ChildSettings | None = None
    data_output: str | None = Field(default=None, description="The component whose records are this pipeline's "
                                    "data type (default: what its sinks receive).")
    supervision: SupervisionSettings | None = None
    sources: dict[str, Any] | None = None
    transforms: dict[str, Any] | None = None
    sinks: dict[str, Any] | None = None
    children: list[Any] | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _one(cls, value: Any) -> int:
        if is_version_one(value):
            return 1
        raise ValueError("only version 1 exists (written 1, \"1\", 1.0 or \"1.0\")")


def is_version_one(value: Any) -> bool:
    """``version: 1``, written as the original README does too: ``"1"``, ``1.0``, ``"1.0"``."""
    return not isinstance(value, bool) and value in (1, "1", "1.0")


_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "float_type": "a number",
    "float_parsing": "a number", "bool_type": "true or false", "bool_parsing": "true or false",
    "string_type": "a string", "dict_type": "a mapping", "list_type": "a list",
    "model_type": "a mapping", "model_attributes_type": "a mapping",
}


class ValidationErrors(Protocol):
    """What :func:`validation_errors` reads of a pydantic ``ValidationError`` (or of a subset of its errors)."""

    def errors(self, *, include_url: bool = ...) -> Sequence[Any]: ...


def validation_errors(exc: ValidationErrors, doc: Located, base: Path, model: type[BaseModel],
                      *, skip_keys: tuple[str, ...] = (), also_known: tuple[str, ...] = ()) -> list[ConfigError]:
    """Turn a pydantic ValidationError into ConfigErrors at YAML locations."""
    out: list[ConfigError] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path: Path = (*base, *loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            known = _known_keys(model, loc[:-1], skip_keys) + (list(also_known) if len(loc) == 1 else [])
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else (
                f"known keys: {', '.join(known)}" if known else "remove it")
            out.append(doc.error(f"unknown key {key!r}", path, key=True, hint=hint))
        elif kind == "missing":
            field = str(loc[-1]) if loc else "?"
            out.append(doc.error(f"missing required key {field!r}", path[:-1],
                                 hint=f"add '{field}:' here"))
        elif kind in ("literal_error", "enum"):
            got = err.get("input")
            options = [o.strip().strip("'") for o in
                       str((err.get("ctx") or {}).get("expected", "")).replace(" or ", ",").split(",") if o.strip()]
            close = difflib.get_close_matches(str(got), options, n=1, cutoff=0.5)
            out.append(doc.error(f"expected one of {', '.join(options)}, got {_shown(doc, path, got)}", path,
                                 hint=f"did you mean {close[0]!r}?" if close else None))
        else:
            got = err.get("input")
            expected = _TYPE_WORDS.get(kind)
            shown = _shown(doc, path, got) if not isinstance(got, (dict, list)) else type(got).__name__
            text = err["msg"].removeprefix("Value error, ")
            message = f"expected {expected}, got {shown}" if expected else f"{text} (got {shown})"
            type_hint = _hint_for(err)
            out.append(doc.error(message, path, hint=type_hint))
    return out


def _shown(doc: Located, path: Path, value: Any) -> str:
    """``value`` for an error message; a value that came from the environment as written (``'${TOKEN}'``):
    it may be a secret, and the error may be read by people who should not see it (stored run errors)."""
    for end in range(len(path), 0, -1):
        if path[:end] in doc.written:
            return f"{doc.written[path[:end]]!r} (its value is not shown)"
    return repr(value)


def _hint_for(err: Any) -> str | None:
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        return f"use one of {ctx['expected']}"
    if err["type"] in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return "change the value to fit that range"
    return None


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...], skip: tuple[str, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        current = _model_in(annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", {})
    return [name for name in fields if name not in skip]


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None
