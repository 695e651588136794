"""conduix.observability.exposition: Prometheus texts of several processes served as one, labels added."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from conduix.observability.exposition import MergedCollector

WORKER = """# HELP conduix_records_in_total Records a component received.
# TYPE conduix_records_in_total counter
conduix_records_in_total{component="gen",pipeline="p.r1"} 5.0
# HELP conduix_batch_duration_seconds Time a component spent on one batch.
# TYPE conduix_batch_duration_seconds histogram
conduix_batch_duration_seconds_bucket{component="gen",le="0.1",pipeline="p.r1"} 2.0
conduix_batch_duration_seconds_bucket{component="gen",le="+Inf",pipeline="p.r1"} 3.0
conduix_batch_duration_seconds_count{component="gen",pipeline="p.r1"} 3.0
conduix_batch_duration_seconds_sum{component="gen",pipeline="p.r1"} 0.25
"""


def served(parts: list, extra: list | None = None) -> dict[str, list]:
    registry = CollectorRegistry()
    registry.register(MergedCollector(lambda: parts, lambda: extra or []))
    text = generate_latest(registry).decode()
    assert text.count("# TYPE conduix_records_in_total counter") <= 1  # one family per name, or Prometheus refuses
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_families_of_several_texts_are_merged_and_their_labels_set() -> None:
    families = served([(WORKER, {"pipeline": "p", "run": "1"}), (WORKER.replace("5.0", "7.0"), {"pipeline": "p",
                                                                                                 "run": "2"})])
    records = sorted((s.labels["run"], s.labels["pipeline"], s.value) for s in families["conduix_records_in"])
    assert records == [("1", "p", 5.0), ("2", "p", 7.0)]  # the part's label wins over the text's
    buckets = [s for s in families["conduix_batch_duration_seconds"] if s.name.endswith("_bucket")]
    assert {(s.labels["run"], s.labels["le"]) for s in buckets} == {("1", "0.1"), ("1", "+Inf"), ("2", "0.1"),
                                                                    ("2", "+Inf")}


def test_extra_families_join_and_unreadable_or_conflicting_texts_are_left_out() -> None:
    up = GaugeMetricFamily("conduix_up", "1 while the pipeline runs.", labels=["pipeline"])
    up.add_metric(["p"], 1.0)
    conflicting = "# TYPE conduix_records_in gauge\nconduix_records_in{component=\"x\"} 1.0\n"
    families = served([(WORKER, {"worker": "w1"}), ("this is { not prometheus", {"worker": "w2"}),
                       (conflicting, {"worker": "w3"})], [up])
    assert {s.labels["worker"] for s in families["conduix_records_in"]} == {"w1"}
    assert [(s.labels, s.value) for s in families["conduix_up"]] == [({"pipeline": "p"}, 1.0)]
