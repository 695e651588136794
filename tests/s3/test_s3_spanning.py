"""``max_object_age``: the s3 sink collects records across batches into objects closed by size or age, and a
batch is acknowledged to its source only once every object holding its records is uploaded."""

from __future__ import annotations

from typing import Any

import pytest

from conduix import Pipeline
from conduix.testing import eventually, run_pipeline, test_host

from .test_s3_sink import jsonl_records, objects

pytestmark = pytest.mark.integration("s3")


def s3_sink(bucket: str, s3_url: str, **options: Any) -> dict[str, Any]:
    return {"type": "s3", "inputs": ["in"], "bucket": bucket, "endpoint_url": s3_url, **options}


def test_objects_collect_records_of_several_batches_up_to_their_size_limit(s3_url: str, s3: Any,
                                                                           bucket: str) -> None:
    run = run_pipeline({
        "settings": {"batch_size": 10},
        "sources": {"in": {"type": "list", "records": [{"n": i} for i in range(55)]}},
        "sinks": {"s3": s3_sink(bucket, s3_url, max_object_age=3600, max_object_records=25)},
    })
    stored = objects(s3, bucket)
    sizes = sorted(len(jsonl_records(body)) for body in stored.values())
    assert sizes == [5, 25, 25]  # six batches of ten (and one of five) in objects of 25; the rest at the end
    assert sorted(r["n"] for b in stored.values() for r in jsonl_records(b)) == list(range(55))
    assert len(run.component("in").acknowledged) == 6  # every batch, once its objects were uploaded


def test_a_batch_is_acknowledged_only_once_its_object_is_uploaded(tmp_path: Any, s3_url: str, s3: Any,
                                                                  bucket: str) -> None:
    run = Pipeline.from_dict({
        "settings": {"batch_size": 10},
        "sources": {"in": {"type": "generate", "rate": 500}},
        "sinks": {"s3": s3_sink(bucket, s3_url, max_object_age=3600)},
    }, host=test_host()).start(state_dir=tmp_path, supervised=False)
    try:
        eventually(lambda: run.stats()["s3"].records_in >= 100, 30, "records written into the open object")
        stats = run.stats()
        assert stats["in"].acknowledged == 0  # they are only in the sink's memory: nothing acknowledged
        assert objects(s3, bucket) == {}
    finally:
        run.stop()
    assert run.join(60) and run.result.ok, run.result.error
    stored = objects(s3, bucket)
    assert len(stored) == 1  # flushed at the stop as one object
    records = [r for body in stored.values() for r in jsonl_records(body)]
    assert len(records) == run.result.stats["s3"].records_in
    assert run.result.stats["in"].acknowledged == run.result.stats["in"].batches_in


def test_an_object_is_uploaded_when_it_is_old_enough(tmp_path: Any, s3_url: str, s3: Any, bucket: str) -> None:
    run = Pipeline.from_dict({
        "settings": {"batch_size": 5},
        "sources": {"in": {"type": "generate", "rate": 100}},
        "sinks": {"s3": s3_sink(bucket, s3_url, max_object_age=0.3)},
    }, host=test_host()).start(state_dir=tmp_path, supervised=False)
    try:
        # the source never ends and no size limit is near: only the age closes objects while it runs
        eventually(lambda: len(objects(s3, bucket)) >= 2, 30, "objects closed by age")
        eventually(lambda: run.stats()["in"].acknowledged > 0, 30, "batches acknowledged after their upload")
    finally:
        run.stop()
    assert run.join(60) and run.result.ok, run.result.error
    stored = objects(s3, bucket)
    sequences = sorted(r["seq"] for body in stored.values() for r in jsonl_records(body))
    assert sequences == list(range(len(sequences))) and len(sequences) == run.result.stats["s3"].records_in
    assert any(len(jsonl_records(body)) > 5 for body in stored.values())  # an object spans batches
