"""``trigger``: request a child pipeline run per record, explicitly (in a project run)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from conduix.components import Batch, ComponentConfig, Context, Emit, Stage
from conduix.errors import ComponentError

__all__ = ["TriggerStage", "parameters_from"]


class TriggerConfig(ComponentConfig):
    pipeline: str = Field(..., description="The pipeline to run for each record (a pipeline of the project).")
    parameters: dict[str, str] | None = Field(
        default=None, description="Parameter name -> record field (dotted path). Default: every top-level field.")


class TriggerStage(Stage[TriggerConfig]):
    """Requests a run of another pipeline for every record, with parameters from the record; passes the
    records on unchanged. For cases the declarative ``parent:`` form does not cover."""

    Config = TriggerConfig

    def __init__(self, config: TriggerConfig, context: Context) -> None:
        super().__init__(config, context)
        self.request: Any = None

    def open(self) -> None:
        self.request = self.context.services.get("request_child")
        if self.request is None:
            raise ComponentError(f"stage {self.id!r}: 'trigger' starts child runs and works only in a project run; "
                                 "use `conduix run-project DIR`", component=self.id)

    def process(self, batch: Batch, emit: Emit) -> None:
        for record in batch.records:
            self.request(self.config.pipeline, parameters_from(record, self.config.parameters))
        emit(batch)


def parameters_from(record: dict[str, Any], mapping: dict[str, str] | None) -> dict[str, Any]:
    """A child run's parameters: ``mapping`` (name -> dotted path) applied to ``record``, or by default
    every top-level scalar field of it."""
    if mapping is None:
        return {k: v for k, v in record.items() if not isinstance(v, (dict, list))}
    out: dict[str, Any] = {}
    for name, path in mapping.items():
        value: Any = record
        for part in path.lstrip(".").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out[name] = value
    return out
