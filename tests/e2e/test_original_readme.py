"""The original README's flat example, as written (only the broker and Elasticsearch addresses point at the
test's servers), moves records from Kafka (Tansu) into Elasticsearch (noida-db) with the message parsed:
the Kafka source hands the payload over as `.message` text (Vector's default), `group_id` defaults to
`conduix-<pipeline>` and `index` to one index per day, `conduix-%Y.%m.%d` (Vector's is `vector-%Y.%m.%d`).
The supervision example, with the sink it leaves out added, runs supervised from Tansu into noida-db."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conduix import Pipeline
from conduix.testing import eventually
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration("kafka"), pytest.mark.integration("elasticsearch")]

FLAT = ROOT / "tests" / "original_readme" / "flat.yaml"


def test_the_flat_example_moves_kafka_records_into_elasticsearch_parsed(tmp_path: Path, own_broker, es, es_url):
    text = FLAT.read_text()
    assert text.count('"kafka:9092"') == 1 and text.count('"http://es:9200"') == 1
    text = text.replace('"kafka:9092"', f'"{own_broker.bootstrap}"').replace('"http://es:9200"', f'"{es_url}"')
    own_broker.create_topics("logs")
    run_id = uuid.uuid4().hex
    sequence = itertools.count()
    run = Pipeline.from_text(text).start(state_dir=tmp_path / "state")
    try:
        def indexed() -> list[dict]:
            # the default group starts at the end of the topic once it joined: keep producing until records arrive
            own_broker.produce("logs", [{"level": "info", "msg": "started", "run": run_id, "n": next(sequence)}])
            index = datetime.now(timezone.utc).strftime("conduix-%Y.%m.%d")  # the record has no @timestamp
            if not es.indices.exists(index=index):
                return []
            es.indices.refresh(index=index)
            hits = es.search(index=index, size=1000)["hits"]["hits"]
            return [(h["_index"], h["_source"]) for h in hits if h["_source"].get("run") == run_id]

        found = eventually(indexed, timeout=180, what=lambda: f"run status: {run.status()}")
    finally:
        run.stop()
        assert run.join(60)
    run.raise_for_error()
    index, document = found[0]
    assert document == {"level": "info", "msg": "started", "run": run_id, "n": document["n"]}
    assert re.fullmatch(r"conduix-\d{4}\.\d{2}\.\d{2}", index)
    assert own_broker.committed("conduix-log-pipeline", "logs")


SUPERVISION = ROOT / "tests" / "original_readme" / "supervision.yaml"
#: what the supervision example leaves out (it has no sink), added as one more child of its root supervisor
SINK_CHILD = """\
    - name: "Search"
      type: sink
      config:
        sink_type: elasticsearch
        endpoints: ["{es_url}"]
"""


def test_the_supervision_example_with_a_sink_added_runs_supervised(tmp_path: Path, own_broker, es, es_url):
    text = SUPERVISION.read_text()
    brokers = '["kafka1:9092", "kafka2:9092", "kafka3:9092"]'
    assert text.count(brokers) == 1
    text = text.replace(brokers, f'["{own_broker.bootstrap}"]') + SINK_CHILD.replace("{es_url}", es_url)
    own_broker.create_topics("events")
    run_id = uuid.uuid4().hex
    own_broker.produce("events", [{"run": run_id, "n": n} for n in range(5)])  # auto_offset_reset: earliest
    pipeline = Pipeline.from_text(text, name="kafka-pipeline")
    tree = pipeline.spec.supervision
    assert [getattr(c, "id", c) for c in tree.children] == ["SourceSupervisor", "Search"]
    assert tree.settings.max_restarts == 5 and tree.children[0].settings.max_restarts == 10
    run = pipeline.start(state_dir=tmp_path / "state")
    assert type(run).__name__ == "SupervisedRun"  # worker processes under the example's supervisors
    try:
        def indexed() -> list[dict]:
            index = datetime.now(timezone.utc).strftime("conduix-%Y.%m.%d")
            if not es.indices.exists(index=index):
                return []
            es.indices.refresh(index=index)
            hits = es.search(index=index, size=1000)["hits"]["hits"]
            found = [h["_source"] for h in hits if run_id in h["_source"].get("message", "")]
            return found if len(found) == 5 else []

        found = eventually(indexed, timeout=180, what=lambda: f"run status: {run.status()}")
    finally:
        run.stop()
        assert run.join(60)
    assert sorted(json.loads(d["message"])["n"] for d in found) == [0, 1, 2, 3, 4]


ROUTER = ROOT / "tests" / "original_readme" / "router.yaml"


def test_the_router_example_with_its_settings_filled_in_runs(tmp_path: Path, es, es_url):
    """The README's `stages:` chain with what it leaves out written in: a source first, the two `{...}`."""
    index = f"router-{uuid.uuid4().hex[:8]}"
    text = ROUTER.read_text()
    assert text.count("config: {...}") == 2
    text = text.replace("stages:\n", "stages:\n  - id: orders\n    type: generate\n"
                                     "    config: {count: 10, record: {item: book}}\n\n", 1)
    text = text.replace("config: {...}", f'config: {{endpoints: ["{es_url}"], index: {index}}}', 1)
    text = text.replace("config: {...}", "config: {window: {type: tumbling, size: 1h}, aggregations: {orders: count}}")
    text += f"\n  - id: totals\n    type: file\n    config: {{path: {tmp_path / 'totals.jsonl'}}}\n"
    result = Pipeline.from_text(text).run(state_dir=tmp_path / "state", handle_signals=False)
    assert result.ok, result.error
    es.indices.refresh(index=index)
    assert es.count(index=index)["count"] == 10
    totals = [json.loads(line) for line in (tmp_path / "totals.jsonl").read_text().splitlines()]
    assert sum(t["orders"] for t in totals) == 10


def test_an_elasticsearch_stage_in_the_middle_of_a_chain_writes_and_passes_the_records_on(tmp_path: Path, es,
                                                                                          es_url):
    """The README's ElasticsearchStage: in the middle of a `stages:` chain it is the stage, not the sink."""
    index = f"chain-{uuid.uuid4().hex[:8]}"
    text = f"""\
stages:
  - id: orders
    type: generate
    config: {{count: 5, record: {{item: book}}}}
  - id: index
    type: elasticsearch
    config: {{endpoints: ["{es_url}"], index: {index}}}
  - id: mark
    type: remap
    config: {{source: '.indexed = true'}}
  - id: out
    type: file
    config: {{path: {tmp_path / 'out.jsonl'}}}
"""
    pipeline = Pipeline.from_text(text)
    assert [(c.id, c.kind) for c in pipeline.spec.topological()] == [
        ("orders", "source"), ("index", "stage"), ("mark", "stage"), ("out", "sink")]
    result = pipeline.run(state_dir=tmp_path / "state", handle_signals=False)
    assert result.ok, result.error
    es.indices.refresh(index=index)
    assert es.count(index=index)["count"] == 5
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(written) == 5 and all(r["indexed"] and r["item"] == "book" for r in written)
