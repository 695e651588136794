"""The ``elasticsearch`` stage (the original README's ElasticsearchStage) against a real Elasticsearch-compatible
server: it indexes, passes the written records on, routes rejected ones by on_error, and a source batch is
acknowledged only once the components after it wrote it too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conduix.config import pipeline_from_dict
from conduix.errors import ComponentError
from conduix.runtime import PipelineRun
from conduix.testing import eventually, run_pipeline, test_registry
from tests.es.faultproxy import FaultProxy
from tests.es.test_es_sink import FAST_RETRY, ns_in

pytestmark = pytest.mark.integration("elasticsearch")


def test_the_stage_indexes_and_passes_the_written_records_on(es_url: str, es: Any, index_name: str) -> None:
    es.indices.create(index=index_name, mappings={"properties": {"v": {"type": "integer"}}})
    records = [{"n": n, "v": "bad" if n % 7 == 3 else n} for n in range(40)]
    run = run_pipeline({
        "name": "es_stage",
        "settings": {"batch_size": 10},
        "sources": {"in": {"type": "list", "records": records}},
        "transforms": {
            "index": {"type": "elasticsearch", "inputs": ["in"], "endpoints": [es_url], "index": index_name,
                      "id": "{{ n }}", "on_error": "dead_letter"},
            "after": {"type": "remap", "inputs": ["index"], "source": ".indexed = true"},
        },
        "sinks": {"out": {"type": "collect", "inputs": ["after"]},
                  "dlq": {"type": "collect", "inputs": ["index.dead_letter"]}},
    })
    good = [n for n in range(40) if n % 7 != 3]
    assert ns_in(es, index_name) == good
    assert [r["n"] for r in run.records("out")] == good  # in order, the rejected ones left out
    assert all(r["indexed"] is True for r in run.records("out"))
    letters = run.records("dlq")
    assert [d["record"]["n"] for d in letters] == [3, 10, 17, 24, 31, 38]
    assert all("status 400" in d["error"] and d["component"] == "index" for d in letters)
    stats = run.result.stats
    assert (stats["index"].records_in, stats["index"].dead_letters, stats["after"].records_in) == (40, 6, 34)
    assert sorted(run.component("in").acknowledged)[-1] == (30, 40)


def test_a_rejected_record_stops_the_run_under_on_error_stop(tmp_path: Path, es_url: str, es: Any,
                                                              index_name: str) -> None:
    es.indices.create(index=index_name, mappings={"properties": {"v": {"type": "integer"}}})
    spec = pipeline_from_dict({
        "sources": {"in": {"type": "list", "records": [{"n": 1, "v": 1}, {"n": 2, "v": "bad"}]}},
        "transforms": {"index": {"type": "elasticsearch", "inputs": ["in"], "endpoints": [es_url],
                                 "index": index_name}},
        "sinks": {"out": {"type": "collect", "inputs": ["index"]}},
    }, registry=test_registry())
    run = PipelineRun(spec, state_dir=tmp_path / "state").start()
    assert run.join(60)
    with pytest.raises(ComponentError, match=r"stage 'index' failed on the record at offset 1.*status 400"):
        run.raise_for_error()
    assert run.result.components["out"].records == []  # nothing passed on from the failed batch
    assert run.nodes["in"].component.acknowledged == []


def test_acknowledgement_waits_for_the_writes_after_the_stage(tmp_path: Path, es_url: str, es: Any,
                                                              index_name: str, proxy: FaultProxy) -> None:
    """The stage has written every record; the sink after it cannot reach its server: nothing is acknowledged
    (and so nothing checkpointed) until that sink wrote the records too."""
    proxy.down = True
    spec = pipeline_from_dict({
        "name": "es_stage_ack",
        "settings": {"batch_size": 25},
        "sources": {"in": {"type": "list", "records": [{"n": n} for n in range(100)]}},
        "transforms": {"index": {"type": "elasticsearch", "inputs": ["in"], "endpoints": [es_url],
                                 "index": index_name}},
        "sinks": {"copy": {"type": "elasticsearch", "inputs": ["index"], "endpoints": [proxy.url],
                           "index": f"{index_name}-copy", "retry": FAST_RETRY}},
    }, registry=test_registry())
    run = PipelineRun(spec, state_dir=tmp_path / "state").start()
    try:
        eventually(lambda: es.indices.exists(index=index_name) and len(ns_in(es, index_name)) == 100, 60,
                   "the stage indexed every record")
        eventually(lambda: run.stats()["copy"].retries >= 3, 60, "the sink after the stage retried")
        assert run.nodes["in"].component.acknowledged == []
    finally:
        proxy.down = False
    assert run.join(60)
    run.raise_for_error()
    assert ns_in(es, f"{index_name}-copy") == list(range(100))
    assert sorted(run.result.components["in"].acknowledged) == [(0, 25), (25, 50), (50, 75), (75, 100)]
