"""Prometheus text of other processes, served from one endpoint with labels added.

Every process that runs components exposes its own :class:`~conduix.observability.Telemetry` as
Prometheus text: a supervised run's workers send it with their heartbeats, an agent's pipeline workers
with their stats. The process serving ``/metrics`` parses those texts, adds the labels that tell them
apart (``worker``; ``pipeline``, ``replica``, ``run``) and merges the families of the same name, so the
metrics of a pipeline have the same names however it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

__all__ = ["MergedCollector", "Part", "merged_families"]

logger = logging.getLogger(__name__)

#: (Prometheus text, labels to set on every sample of it)
Part = tuple[str, Mapping[str, str]]


def merged_families(parts: Iterable[Part], extra: Iterable[Any] = ()) -> list[Any]:
    """The metric families of ``parts`` with their labels set (a label of the part wins over the text's),
    families of one name merged into one, and the ``extra`` families (built here) merged in as well."""
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.samples import Sample

    families: dict[str, Any] = {}

    def merge(family: Any, labels: Mapping[str, str]) -> None:
        into = families.get(family.name)
        if into is None:
            into = families[family.name] = Metric(family.name, family.documentation, family.type)
        elif into.type != family.type:
            logger.warning("metric %s is a %s in one process and a %s in another: the second is left out",
                           family.name, into.type, family.type)
            return
        for s in family.samples:
            into.samples.append(Sample(s.name, {**s.labels, **labels}, s.value, s.timestamp, s.exemplar))

    for text, labels in parts:
        if not text:
            continue
        try:
            for family in text_string_to_metric_families(text):
                merge(family, labels)
        except ValueError as exc:  # one process's malformed text must not hide every other's
            logger.warning("left out unreadable metrics (%s) of %s", exc, dict(labels))
    for family in extra:
        merge(family, {})
    return list(families.values())


class MergedCollector:
    """A ``prometheus_client`` collector serving :func:`merged_families` of what ``parts()`` and ``extra()``
    give at each scrape."""

    def __init__(self, parts: Callable[[], Iterable[Part]], extra: Callable[[], Iterable[Any]] = lambda: ()) -> None:
        self.parts = parts
        self.extra = extra

    def collect(self) -> Iterator[Any]:
        yield from merged_families(self.parts(), self.extra())
