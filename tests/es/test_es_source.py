"""The ``elasticsearch`` source against a real Elasticsearch-compatible server: point in time +
search_after over an index pattern, incremental runs from the checkpoint, polling for new documents."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conduix.config import pipeline_from_dict
from conduix.errors import ConfigError
from conduix.runtime import PipelineRun
from conduix.testing import eventually, run_pipeline, test_registry
from tests.conftest import conduix

pytestmark = pytest.mark.integration("elasticsearch")


def index_docs(es: Any, index: str, docs: list[dict[str, Any]]) -> None:
    operations: list[dict[str, Any]] = []
    for doc in docs:
        operations += [{"index": {"_index": index, "_id": str(doc["seq"])}}, doc]
    response = es.bulk(operations=operations, refresh=True)
    assert not response["errors"]


def docs(start: int, end: int) -> list[dict[str, Any]]:
    # two documents share each timestamp: 'seq' breaks the tie
    return [{"seq": n, "ts": f"2024-05-01T00:{n // 2 // 60:02d}:{n // 2 % 60:02d}Z", "kind": "odd" if n % 2 else "even"}
            for n in range(start, end)]


def test_reads_every_document_of_an_index_pattern_once_in_pages(es: Any, es_url: str, index_name: str) -> None:
    index_docs(es, f"{index_name}-a", docs(0, 60))
    index_docs(es, f"{index_name}-b", docs(60, 95))
    run = run_pipeline({
        "sources": {"es": {"type": "elasticsearch", "endpoints": [es_url], "index": f"{index_name}-*",
                           "batch_size": 10, "sort": ["ts", "seq"]}},
        "sinks": {"out": {"type": "collect", "inputs": ["es"]}},
    })
    seqs = [r["seq"] for r in run.records("out")]
    assert seqs == list(range(95))  # in sort order, each once
    meta = run.component("out").meta
    assert meta[0]["index"] == f"{index_name}-a" and meta[0]["id"] == "0"
    assert meta[-1]["index"] == f"{index_name}-b" and meta[-1]["id"] == "94"
    assert run.result.stats["es"].batches_in == 10


def test_query_selects_documents(es: Any, es_url: str, index_name: str) -> None:
    index_docs(es, index_name, docs(0, 40))
    run = run_pipeline({
        "sources": {"es": {"type": "elasticsearch", "endpoints": [es_url], "index": index_name, "batch_size": 7,
                           "query": {"term": {"kind": "odd"}}, "source_includes": ["seq"]}},
        "sinks": {"out": {"type": "collect", "inputs": ["es"]}},
    })
    assert sorted(r["seq"] for r in run.records("out")) == list(range(1, 40, 2))
    assert all(set(r) == {"seq"} for r in run.records("out"))


def test_incremental_runs_pick_up_only_new_documents(tmp_path: Path, es: Any, es_url: str,
                                                     index_name: str) -> None:
    out = tmp_path / "out.jsonl"
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(textwrap.dedent(f"""
        name: es_incremental
        sources:
          es: {{type: elasticsearch, endpoints: ["{es_url}"], index: "{index_name}", batch_size: 8,
               sort: [ts, seq], incremental: true}}
        sinks:
          out: {{type: file, inputs: [es], path: "{out}"}}
    """))
    state = {"CONDUIX_STATE_DIR": str(tmp_path / "state")}
    index_docs(es, index_name, docs(0, 41))  # 41: the last timestamp is shared with a document not yet there
    proc = conduix("run", str(pipeline), env=state)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["seq"] for line in out.read_text().splitlines()] == list(range(41))
    index_docs(es, index_name, docs(41, 70))
    proc = conduix("run", str(pipeline), env=state)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["seq"] for line in out.read_text().splitlines()] == list(range(70))
    proc = conduix("run", str(pipeline), env=state)  # nothing new: nothing read
    assert proc.returncode == 0, proc.stderr
    assert len(out.read_text().splitlines()) == 70
    shown = conduix("checkpoint", "show", "es_incremental", env=state)
    assert shown.returncode == 0, shown.stderr
    assert '"sort"' in shown.stdout and "69" in shown.stdout


def test_poll_interval_keeps_reading_new_documents(tmp_path: Path, es: Any, es_url: str, index_name: str) -> None:
    index_docs(es, index_name, docs(0, 10))
    spec = pipeline_from_dict({
        "sources": {"es": {"type": "elasticsearch", "endpoints": [es_url], "index": index_name,
                           "sort": ["ts", "seq"], "poll_interval": 0.1}},
        "sinks": {"out": {"type": "collect", "inputs": ["es"]}},
    }, registry=test_registry())
    run = PipelineRun(spec, state_dir=tmp_path / "state").start()
    sink = run.nodes["out"].component
    try:
        eventually(lambda: len(sink.records) >= 10, 20, "the first 10 documents")
        index_docs(es, index_name, docs(10, 25))
        eventually(lambda: len(sink.records) >= 25, 20, "the 15 documents indexed later")
    finally:
        run.stop()
    assert run.join(20)
    run.raise_for_error()
    assert [r["seq"] for r in sink.records] == list(range(25))


def test_incremental_needs_sort_fields() -> None:
    with pytest.raises(ConfigError) as info:
        pipeline_from_dict({"sources": {"es": {"type": "elasticsearch", "index": "x", "incremental": True}},
                            "sinks": {"out": {"type": "collect", "inputs": ["es"]}}}, registry=test_registry())
    assert "need 'sort'" in str(info.value)


def test_refuses_to_split_across_workers() -> None:
    from conduix import Context
    from conduix_es import ElasticsearchSource, ElasticsearchSourceConfig

    with pytest.raises(ConfigError) as info:
        ElasticsearchSource(ElasticsearchSourceConfig(index="x"), Context("es", slice_index=1, slice_count=2))
    assert "workers: 1" in str(info.value)


def test_an_expired_point_in_time_is_replaced_without_gaps_or_repeats(es: Any, es_url: str,
                                                                      index_name: str) -> None:
    from conduix import Context
    from conduix_es import ElasticsearchSource, ElasticsearchSourceConfig

    index_docs(es, index_name, docs(0, 50))
    source = ElasticsearchSource(ElasticsearchSourceConfig(endpoints=[es_url], index=index_name,
                                                           sort=["ts", "seq"]), Context("es"))
    source.open()
    seen = []
    while (batch := source.read(10)) is not None:
        seen += [r["seq"] for r in batch.records]
        if len(seen) == 20:
            es.close_point_in_time(id=source._pit)  # what keep_alive running out does between two pages
    source.close()
    assert seen == list(range(50))
