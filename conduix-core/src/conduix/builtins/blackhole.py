"""``blackhole``: counts and discards. For benchmarks and trying pipelines out."""

from __future__ import annotations

import logging

from pydantic import Field

from conduix.components import Batch, ComponentConfig, Sink

logger = logging.getLogger(__name__)


class BlackholeConfig(ComponentConfig):
    print_every: int | None = Field(None, ge=1, description="Log a line every N records.")


class BlackholeSink(Sink[BlackholeConfig]):
    """Counts and discards records: for benchmarks and for trying pipelines out."""

    local = True

    Config = BlackholeConfig
    received = 0

    def write(self, batch: Batch) -> None:
        before = self.received
        self.received += len(batch.records)
        every = self.config.print_every
        if every and before // every != self.received // every:
            logger.info("blackhole %s: %d records", self.id, self.received)
