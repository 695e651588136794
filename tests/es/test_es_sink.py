"""The ``elasticsearch`` sink against a real Elasticsearch-compatible server, directly and through a proxy
that injects 429s, 503s, item-level errors and connection resets."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conduix.config import pipeline_from_dict
from conduix.errors import ConfigError
from conduix.runtime import PipelineRun
from conduix.testing import eventually, run_pipeline, test_registry
from tests.conftest import conduix
from tests.es.faultproxy import FaultProxy

pytestmark = pytest.mark.integration("elasticsearch")

FAST_RETRY = {"initial": 0.02, "max": 0.1, "jitter": 0.1}
FAST_ITEMS = {"initial": 0.01, "max": 0.05, "max_attempts": 3}


def ns_in(es: Any, index: str) -> list[int]:
    """Every document's 'n' in ``index`` (duplicates kept), sorted."""
    es.indices.refresh(index=index)
    found: list[int] = []
    response = es.search(index=index, size=10_000, query={"match_all": {}})
    found = [hit["_source"]["n"] for hit in response["hits"]["hits"]]
    return sorted(found)


def test_file_to_daily_indices_via_cli_with_ids_is_idempotent(tmp_path: Path, es_url: str, es: Any,
                                                                index_name: str) -> None:
    data = tmp_path / "in.jsonl"
    with data.open("w") as f:
        for n in range(600):
            day = 1 + n % 2
            f.write(json.dumps({"n": n, "service": "api" if n % 3 else "web",
                                "@timestamp": f"2024-03-0{day}T12:00:00Z"}) + "\n")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(textwrap.dedent(f"""
        name: es_cli
        settings: {{batch_size: 128}}
        sources:
          f: {{type: file, path: "{data}", format: json}}
        sinks:
          es:
            type: elasticsearch
            inputs: [f]
            endpoints: ["{es_url}"]
            index: "{index_name}-{{{{ service }}}}-%Y.%m.%d"
            id: "doc-{{{{ n }}}}"
    """))
    for _ in range(2):  # the second run replays every record: ids make it overwrite, not duplicate
        proc = conduix("run", str(pipeline), env={"CONDUIX_STATE_DIR": str(tmp_path / f"state{_}")})
        assert proc.returncode == 0, proc.stderr
    counts = {}
    for service in ("api", "web"):
        for day in ("01", "02"):
            name = f"{index_name}-{service}-2024.03.{day}"
            counts[name] = len(ns_in(es, name))
    expected = {f"{index_name}-{s}-2024.03.{d}": sum(1 for n in range(600) if (s == "api") == bool(n % 3)
                                                      and f"0{1 + n % 2}" == d)
                for s in ("api", "web") for d in ("01", "02")}
    assert counts == expected and sum(counts.values()) == 600
    doc = es.get(index=f"{index_name}-web-2024.03.01", id="doc-0")
    assert doc["_source"] == {"n": 0, "service": "web", "@timestamp": "2024-03-01T12:00:00Z"}


def test_mapping_errors_go_to_dead_letters_with_the_elasticsearch_error(es_url: str, es: Any,
                                                                         index_name: str) -> None:
    es.indices.create(index=index_name, mappings={"properties": {"n": {"type": "integer"}}})
    records = [{"n": n, "v": "bad" if n % 5 == 0 else n} for n in range(30)]
    es.indices.put_mapping(index=index_name, properties={"v": {"type": "integer"}})
    run = run_pipeline({
        "name": "es_dlq",
        "settings": {"batch_size": 8},
        "sources": {"in": {"type": "list", "records": records}},
        "sinks": {"es": {"type": "elasticsearch", "inputs": ["in"], "endpoints": [es_url], "index": index_name,
                         "on_error": "dead_letter"},
                  "dlq": {"type": "collect", "inputs": ["es.dead_letter"]}},
    })
    assert ns_in(es, index_name) == [n for n in range(30) if n % 5]
    letters = run.records("dlq")
    assert sorted(d["record"]["n"] for d in letters) == [0, 5, 10, 15, 20, 25]
    assert all(f"in index '{index_name}' (status 400)" in d["error"] and "parsing" in d["error"] for d in letters), \
        letters[0]
    assert letters[0]["component"] == "es" and letters[0]["pipeline"] == "es_dlq"
    assert run.result.stats["es"].records_out == 24
    covered = sorted(run.component("in").acknowledged)
    assert covered[0][0] == 0 and covered[-1][1] == 30 and len(covered) == 4


def test_429s_503s_and_resets_are_retried_and_every_record_arrives_once(proxy: FaultProxy, es: Any,
                                                                          index_name: str) -> None:
    seen: set[int] = set()
    lock = threading.Lock()

    def first_time_fails(action: dict[str, Any], doc: dict[str, Any] | None) -> int | None:
        """Every 3rd document is answered 429 the first time it is sent, every 7th 503; then accepted."""
        n = (doc or {}).get("n", -1)
        with lock:
            if n in seen or (n % 3 and n % 7):
                return None
            seen.add(n)
        return 429 if n % 3 == 0 else 503

    proxy.item_fault = first_time_fails
    proxy.fail_next += [("*", 503), ("*", 429)]  # whole bulk requests refused
    proxy.reset_before["*"] = 2  # connections reset before the request reaches the server
    run = run_pipeline({
        "settings": {"batch_size": 40},
        "sources": {"in": {"type": "list", "records": [{"n": n} for n in range(200)]}},
        "sinks": {"es": {"type": "elasticsearch", "inputs": ["in"], "endpoints": [proxy.url],
                         "index": index_name, "retry": FAST_RETRY, "item_retry": FAST_ITEMS}},
    })
    assert ns_in(es, index_name) == list(range(200))  # no id template, yet nothing duplicated
    assert run.component("es").item_retries == len([n for n in range(200) if n % 3 == 0 or n % 7 == 0])
    assert run.result.stats["es"].retries >= 4  # the two refused requests and the two resets
    assert sorted(run.component("in").acknowledged)[-1] == (160, 200)


def test_reset_after_the_server_applied_a_bulk_does_not_duplicate_with_ids(proxy: FaultProxy, es: Any,
                                                                           index_name: str) -> None:
    proxy.reset_after["*"] = 1  # applied by the server, but the answer never arrives
    run_pipeline({
        "sources": {"in": {"type": "list", "records": [{"n": n} for n in range(50)]}},
        "sinks": {"es": {"type": "elasticsearch", "inputs": ["in"], "endpoints": [proxy.url],
                         "index": index_name, "id": "{{ n }}", "retry": FAST_RETRY}},
    })
    assert ns_in(es, index_name) == list(range(50))
    assert proxy.injected == 1


def test_checkpoint_never_passes_an_unsettled_item(tmp_path: Path, proxy: FaultProxy, es: Any,
                                                   index_name: str) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(500)))
    release = threading.Event()
    stuck = []

    def hold_250(action: dict[str, Any], doc: dict[str, Any] | None) -> int | None:
        if (doc or {}).get("n") == 250 and not release.is_set():
            stuck.append(time.monotonic())
            return 429
        return None

    proxy.item_fault = hold_250
    checkpoints: list[int] = []
    spec = pipeline_from_dict({
        "name": "es_ckpt",
        "settings": {"batch_size": 100, "checkpoint": {"interval": 0.02}},
        # follow: the source keeps running (and checkpointing) while the sink is stuck
        "sources": {"f": {"type": "file", "path": str(data), "format": "json", "follow": True}},
        "sinks": {"es": {"type": "elasticsearch", "inputs": ["f"], "endpoints": [proxy.url], "index": index_name,
                         "retry": FAST_RETRY, "item_retry": {**FAST_ITEMS, "max_attempts": 2}}},
    }, registry=test_registry())
    run = PipelineRun(spec, state_dir=tmp_path / "state",
                      on_checkpoint=lambda _, state: checkpoints.append(state["files"][str(data)]["line"]))
    run.start()
    try:
        eventually(lambda: len(stuck) >= 6, 30, "the held document retried 6 times")
        eventually(lambda: len(checkpoints) >= 5, 30, "5 checkpoints while the sink is stuck")
        held_at = list(checkpoints)
        assert max(held_at) <= 200  # line 251 is in the batch of lines 201-300: nothing past it is checkpointed
        assert run.stats()["es"].retries >= 2
        release.set()
        eventually(lambda: checkpoints[-1] == 500, 30, "a checkpoint at the last line")
    finally:
        release.set()
        run.stop()
    assert run.join(30)
    run.raise_for_error()
    assert checkpoints[-1] == 500
    assert ns_in(es, index_name) == list(range(500))


def test_create_update_and_delete_actions(es_url: str, es: Any, index_name: str) -> None:
    def sink(**options: Any) -> dict[str, Any]:
        return {"type": "elasticsearch", "inputs": ["in"], "endpoints": [es_url], "index": index_name,
                "id": "{{ n }}", "on_error": "dead_letter", **options}

    def run(records: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
        result = run_pipeline({
            "sources": {"in": {"type": "list", "records": records}},
            "sinks": {"es": sink(**options), "dlq": {"type": "collect", "inputs": ["es.dead_letter"]}},
        })
        es.indices.refresh(index=index_name)
        return result.records("dlq")

    assert run([{"n": n, "v": "a"} for n in range(10)], action="create") == []
    assert run([{"n": n, "v": "b"} for n in range(10)], action="create") == []  # 409s: already written
    assert es.get(index=index_name, id="3")["_source"]["v"] == "a"
    assert run([{"n": 3, "w": 1}], action="update") == []
    assert es.get(index=index_name, id="3")["_source"] == {"n": 3, "v": "a", "w": 1}
    missing = run([{"n": 77, "w": 1}], action="update")
    assert len(missing) == 1 and "status 404" in missing[0]["error"]
    assert run([{"n": 77, "w": 2}], action="update", doc_as_upsert=True) == []
    assert run([{"n": n} for n in range(5)] + [{"n": 404}], action="delete") == []  # missing: already gone
    assert es.count(index=index_name)["count"] == 6


def test_missing_template_fields_are_rejected_per_record(es_url: str, es: Any, index_name: str) -> None:
    run = run_pipeline({
        "sources": {"in": {"type": "list", "records": [{"n": 1, "svc": "a"}, {"n": 2}, {"n": 3, "svc": "a"}]}},
        "sinks": {"es": {"type": "elasticsearch", "inputs": ["in"], "endpoints": [es_url],
                         "index": index_name + "-{{ svc }}", "on_error": "dead_letter"},
                  "dlq": {"type": "collect", "inputs": ["es.dead_letter"]}},
    })
    assert ns_in(es, index_name + "-a") == [1, 3]
    assert [d["record"] for d in run.records("dlq")] == [{"n": 2}]
    assert "field 'svc'" in run.records("dlq")[0]["error"]


def test_config_mistakes_name_the_fix() -> None:
    with pytest.raises(ConfigError) as info:
        pipeline_from_dict({"sources": {"in": {"type": "list"}},
                            "sinks": {"es": {"type": "elasticsearch", "inputs": ["in"], "index": "x",
                                             "action": "delete"}}}, registry=test_registry())
    assert "needs an 'id' template" in str(info.value)
    with pytest.raises(ConfigError) as info:
        pipeline_from_dict({"sources": {"in": {"type": "list"}},
                            "sinks": {"es": {"type": "elasticsearch", "inputs": ["in"], "index": "x",
                                             "max_action": 5}}}, registry=test_registry())
    assert "max_actions" in str(info.value)


def test_ids_from_source_metadata_make_a_replay_overwrite(es_url: str, es: Any, index_name: str) -> None:
    config = {
        "settings": {"batch_size": 7},
        "sources": {"in": {"type": "list", "records": [{"n": n} for n in range(20)]}},
        "sinks": {"es": {"type": "elasticsearch", "inputs": ["in"], "endpoints": [es_url], "index": index_name,
                         "id": "{{ @meta.source }}-{{ @meta.offset }}"}},
    }
    run_pipeline(config)
    run_pipeline(config)  # a replay of the same source positions
    assert ns_in(es, index_name) == list(range(20))
    assert es.get(index=index_name, id="in-3")["_source"] == {"n": 3}


@pytest.mark.parametrize(("auth", "expected"), [({"username": "ada", "password": "s3cret"}, "Basic YWRhOnMzY3JldA=="),
                                                ({"api_key": "aWQ6a2V5"}, "ApiKey aWQ6a2V5")])
def test_credentials_are_sent(proxy: FaultProxy, es: Any, index_name: str, auth: dict[str, str],
                              expected: str) -> None:
    run_pipeline({
        "sources": {"in": {"type": "list", "records": [{"n": 1}]}},
        "sinks": {"es": {"type": "elasticsearch", "inputs": ["in"], "endpoints": [proxy.url], "index": index_name,
                         **auth}},
    })
    assert ns_in(es, index_name) == [1]
    assert {h.get("authorization") for h in proxy.headers_seen} == {expected}
