"""``throttle``: at most ``limit`` records per ``window`` per key; the excess is dropped or routed."""

from __future__ import annotations

import math
import time
from typing import Literal

from cachetools import LRUCache
from pydantic import Field, model_validator

from conduix.builtins._fields import KeyFn, check_paths, durations
from conduix.components import Batch, ComponentConfig, Context, Emit, Stage

__all__ = ["ThrottleConfig", "ThrottleStage"]

THROTTLED = "throttled"


class ThrottleConfig(ComponentConfig):
    limit: int = Field(..., ge=1, description="Records let through per window and key.")
    window: float = Field(..., gt=0, description="The window (seconds, or '1s', '1m'); windows are fixed "
                                                    "slots of processing time.")
    key_fields: list[str] = Field(default_factory=list, description="Remap paths: a separate limit per "
                                                                    "distinct value (default: one for all).")
    excess: Literal["drop", "route"] = Field("drop", description="Records over the limit: dropped (counted) or "
                                                                 "sent to the '<id>.throttled' output.")
    max_keys: int = Field(100_000, ge=1, description="Keys tracked at most (least recently used forgotten).")

    _durations = durations("window")

    @model_validator(mode="after")
    def _paths(self) -> ThrottleConfig:
        check_paths(self.key_fields)
        return self


class ThrottleStage(Stage[ThrottleConfig]):
    """Lets ``limit`` records per key through in each window."""

    Config = ThrottleConfig

    def __init__(self, config: ThrottleConfig, context: Context) -> None:
        super().__init__(config, context)
        self.key = KeyFn(config.key_fields)
        self.counts: LRUCache[object, list[int]] = LRUCache(config.max_keys)
        self.throttled = 0
        """Records over the limit (dropped or routed)."""

    @classmethod
    def outputs_for(cls, config: ThrottleConfig) -> list[str]:
        return [THROTTLED] if config.excess == "route" else []

    def process(self, batch: Batch, emit: Emit) -> None:
        slot = math.floor(time.time() / self.config.window)
        limit = self.config.limit
        keep: list[int] = []
        over: list[int] = []
        for index, record in enumerate(batch.records):
            key = self.key.values(record)
            entry = self.counts.get(key)
            if entry is None or entry[0] != slot:
                entry = [slot, 0]
            entry[1] += 1
            self.counts[key] = entry
            (keep if entry[1] <= limit else over).append(index)
        self.throttled += len(over)
        if len(keep) == len(batch.records):
            emit(batch)
            return
        if keep:
            emit(batch.select(keep))
        if over and self.config.excess == "route":
            emit(batch.select(over), THROTTLED)
