"""The original README's stage types in one linear chain, run as a project against real servers (Tansu for
Kafka, noida-db for Elasticsearch): Filter -> Remap -> Enrich -> Kafka -> Elasticsearch -> Aggregate -> Trigger.
The Kafka and Elasticsearch stages write and pass the written records on; the trigger starts a child pipeline
per aggregate record."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conduix.project import ChildRequest, ProjectRunner, RunStore, load_project
from tests.kafka.conftest import Broker

pytestmark = [pytest.mark.integration("kafka"), pytest.mark.integration("elasticsearch")]


def write(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text))


def test_every_stage_type_of_the_readme_in_one_chain(tmp_path: Path, broker: Broker, es_url: str, es: Any) -> None:
    suffix = tmp_path.name[-8:].lower().replace("_", "-")
    topic, index = f"orders-chain-{suffix}", f"orders-chain-{suffix}"
    broker.create_topics(topic, partitions=1)
    project, reports = tmp_path / "project", tmp_path / "reports.jsonl"
    project.mkdir()
    (tmp_path / "customers.json").write_text(json.dumps([{"id": "a", "name": "Ada"}, {"id": "c", "name": "Cy"}]))
    write(project / "orders.yaml", f"""
        name: orders
        sources:
          gen:
            type: generate
            count: 24
            sequence_field: order_id
            records:
              - {{customer: a, amount: 10, ts: 1700000000}}
              - {{customer: b, amount: 0, ts: 1700000000}}
              - {{customer: c, amount: 5, ts: 1700000000}}
        transforms:
          paid: {{type: filter, inputs: [gen], condition: .amount > 0}}
          price: {{type: remap, inputs: [paid], source: .amount_eur = .amount * 2}}
          who:
            type: enrich
            inputs: [price]
            key: .customer
            table: {{type: file, path: "{tmp_path}/customers.json", key_field: id}}
            target: .customer_info
          publish: {{type: kafka, inputs: [who], brokers: "{broker.bootstrap}", topic: {topic}}}
          index:
            type: elasticsearch
            inputs: [publish]
            endpoints: ["{es_url}"]
            index: {index}
            id: "{{{{ order_id }}}}"
          totals:
            type: aggregate
            inputs: [index]
            window: {{type: tumbling, size: 1h}}
            time_field: .ts
            group_by: [.customer]
            aggregations: {{orders: count, revenue: sum(.amount_eur)}}
          report_each: {{type: trigger, inputs: [totals], pipeline: report,
                        parameters: {{customer: .customer, orders: .orders}}}}
        sinks:
          done: {{type: blackhole, inputs: [report_each]}}
    """)
    write(project / "report.yaml", f"""
        name: report
        parent: orders
        sources:
          one: {{type: generate, count: 1, record: {{customer: "${{params.customer}}", orders: "${{params.orders}}"}}}}
        sinks:
          out: {{type: file, inputs: [one], path: "{reports}"}}
    """)
    runner = ProjectRunner(load_project(project), state_dir=tmp_path / "state")
    assert runner.run([ChildRequest("orders", {})])

    paid = [n for n in range(24) if n % 3 != 1]
    messages = [json.loads(m.value()) for m in broker.read_all(topic, expect=16, partitions=1)]
    assert [m["order_id"] for m in messages] == paid
    assert messages[0]["customer_info"] == {"id": "a", "name": "Ada"} and messages[0]["amount_eur"] == 20
    es.indices.refresh(index=index)
    docs = es.search(index=index, size=100, query={"match_all": {}})["hits"]["hits"]
    assert sorted(d["_source"]["order_id"] for d in docs) == paid
    assert sorted((r["customer"], r["orders"]) for r in map(json.loads, reports.read_text().splitlines())) == [
        ("a", "8"), ("c", "8")]  # one child run per aggregate record, each once
    assert len(RunStore(tmp_path / "state").list(pipeline="report")) == 2
