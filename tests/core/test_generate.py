"""The ``generate`` source's rate is the pipeline's, also when ``settings.workers`` splits it into slices."""

from __future__ import annotations

import time

import pytest

from conduix.builtins.generate import GenerateConfig, GenerateSource
from conduix.components import Context


def made_in(seconds: float, slices: int, monkeypatch: pytest.MonkeyPatch, **config: object) -> int:
    """Records the ``slices`` slices of one generate source make in ``seconds`` of a stopped clock."""
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    monkeypatch.setattr(time, "sleep", lambda _: None)
    sources = [GenerateSource(GenerateConfig.model_validate(config),
                              Context("g", slice_index=i, slice_count=slices)) for i in range(slices)]
    for source in sources:
        source.open()
    now[0] += seconds
    made = 0
    for source in sources:
        while (batch := source.read(1000)) is not None and batch.records:
            made += len(batch.records)
    return made


@pytest.mark.parametrize("slices", [1, 2, 3, 4])
def test_rate_is_shared_by_the_slices_of_workers(slices: int, monkeypatch: pytest.MonkeyPatch) -> None:
    made = made_in(2.0, slices, monkeypatch, rate=300)
    assert 600 - slices <= made <= 600  # each slice rounds its share down


def test_count_and_rate_together_across_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert made_in(2.0, 3, monkeypatch, rate=300, count=100) == 100
    assert made_in(0.5, 3, monkeypatch, rate=300, count=1000) == 150
