"""``router``: send records to named outputs (``<id>.<route>``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from conduix.components import Batch, ComponentConfig, Emit, Stage

__all__ = ["RouterStage"]


class RouterConfig(ComponentConfig):
    mode: Literal["fan_out"] = Field("fan_out", description="fan_out: every route gets every record.")
    routes: list[str] = Field(..., min_length=1, description="Route names; consume them as '<id>.<route>'.")


class RouterStage(Stage[RouterConfig]):
    """Sends records to named outputs, consumed as ``<id>.<route>``."""

    Config = RouterConfig

    def outputs(self) -> list[str]:
        return list(self.config.routes)

    def process(self, batch: Batch, emit: Emit) -> None:
        routes = self.config.routes
        emit(batch, routes[0])
        for route in routes[1:]:  # each route may change its records: give each its own copy
            emit(batch.copy(), route)
