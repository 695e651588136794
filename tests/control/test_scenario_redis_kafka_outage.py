"""The original README's fault scenario 2, with real processes: Redis and Kafka fail together under a
steady load while an agent runs a supervised Kafka pipeline for the control plane.

The Kafka source fails once no broker answers, supervision restarts it with backoff until its budget is
spent, the run goes ``paused`` with the reason (run and pipeline status in the API), the agent keeps its
lease over REST while Redis is down, and checkpoints go to local files. When both servers are back, the
paused run resumes by itself (``supervision.resume``) from its checkpoint: every record the producer got
acknowledged arrives, and the duplicates stay within one checkpoint interval's worth of records.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conduix_kafka._client import kafka
from conduix_kafka.testing import TansuBroker
from tests.control.conftest import ControlPlane, RedisServer, eventually
from tests.running import read_jsonl
from tests.servers import free_port, installed, server

pytestmark = [pytest.mark.integration("redis"), pytest.mark.integration("kafka"), pytest.mark.slow]

RATE = 50  # records per second the producer sends
LINGER = 1.0  # seconds the producer gathers records into one batch: Tansu on S3 serves a tailing consumer one
              # stored batch per fetch, so small batches would leave the pipeline far behind the producer
BATCH, INTERVAL = 20, 0.5  # the pipeline's batch size and checkpoint interval
#: records one checkpoint interval may leave unacknowledged: what arrives in it (a producer batch at least)
DUPLICATES_BOUND = int(RATE * max(INTERVAL, LINGER)) + BATCH


@pytest.fixture
def durable_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A Tansu broker keeping its topics in S3 (a moto server of its own), so they survive a restart."""
    import boto3

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with server("moto", [installed("moto_server", "conduix-connectors-s3"), "-H", "127.0.0.1", "-p", str(port)],
                probe=url + "/moto-api/"):
        boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                     aws_secret_access_key="x").create_bucket(Bucket="tansu")
        env = {**os.environ, "AWS_ENDPOINT": url, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
               "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
        broker = TansuBroker(tmp_path, storage="s3://tansu/", env=env).start()
        try:
            yield broker
        finally:
            broker.stop()


class SteadyProducer:
    """Sends ``{"seq": n}`` at RATE per second until stopped; librdkafka keeps retrying through an outage."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": int(LINGER * 1000), "acks": "all",
                                        "message.timeout.ms": 0, "enable.idempotence": False,
                                        "max.in.flight.requests.per.connection": 1})
        self.acked: set[int] = set()
        self.failed: list[str] = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _report(self, error: Any, message: Any) -> None:
        if error is None:
            self.acked.add(json.loads(message.value())["seq"])
        else:
            self.failed.append(str(error))

    def _run(self) -> None:
        while not self._stop.wait(1 / RATE):
            self.producer.produce(self.topic, json.dumps({"seq": self.sent}).encode(), on_delivery=self._report)
            self.sent += 1
            self.producer.poll(0)

    def start(self) -> SteadyProducer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        remaining = self.producer.flush(120)
        assert remaining == 0, f"{remaining} records still unacknowledged by the broker"


def pipeline_yaml(name: str, broker: TansuBroker, topic: str, out: Path) -> str:
    return f"""version: 1
name: {name}
settings: {{batch_size: {BATCH}, checkpoint: {{interval: {INTERVAL}}}}}
supervision:
  strategy: one_for_one
  max_restarts: 2
  within_seconds: 60
  backoff: {{initial: 0.2, max: 0.5}}
  resume: {{initial: 2, max: 4, max_attempts: null}}
sources:
  orders: {{type: kafka, brokers: "{broker.bootstrap}", topics: [{topic}], group_id: {name}-group,
           decoding: json, auto_offset_reset: earliest, session_timeout_ms: 6000,
           unreachable_timeout: 3}}
sinks:
  out: {{type: file, inputs: [orders], path: "{out}"}}
"""


def seqs(path: Path) -> list[int]:
    return [record["seq"] for record in read_jsonl(path)]  # complete lines: the pipeline may be writing


def latest_run(cp: ControlPlane, name: str) -> dict[str, Any]:
    runs = cp.runs(name)
    assert runs, "no run yet"
    return runs[0]


@pytest.mark.timeout(600)  # about 75 s here; servers starting and restarting on a loaded machine take longer
def test_redis_and_kafka_down_together_pause_the_pipeline_which_resumes_by_itself(
        stack: Any, redis_server: RedisServer, durable_broker: TansuBroker, tmp_path: Path) -> None:
    name, topic, out = "orders-s2", "orders-s2", tmp_path / "out.jsonl"
    durable_broker.create_topics(topic, partitions=1)
    cp = stack.control(redis_url=redis_server.url)
    agent = stack.agent(cp, "s2-agent", redis_server.url)
    eventually(lambda: cp.agent("s2-agent")["mode"] == "redis", what="agent in Redis mode")
    cp.put_pipeline(name, pipeline_yaml(name, durable_broker, topic, out))
    assert cp.post(f"/pipelines/{name}/start").status_code == 202
    producer = SteadyProducer(durable_broker.bootstrap, topic).start()
    try:
        eventually(lambda: latest_run(cp, name)["status"] == "running" and len(seqs(out)) >= 2 * RATE,
                   timeout=180, what="the pipeline delivering under load")
        run_id = latest_run(cp, name)["id"]
        # the supervised worker's consumer lag reaches the control plane, as an in-process run's does
        eventually(lambda: isinstance(((cp.get(f"/runs/{run_id}")["stats"] or {}).get("components") or {})
                                      .get("orders", {}).get("lag"), int), what="the source's lag reported")

        # 1-4: Redis and Kafka fail together; the source's restarts spend the budget; the run is paused
        redis_server.kill()
        durable_broker.stop()
        run = eventually(lambda: (r := latest_run(cp, name))["status"] == "paused" and r, timeout=180,
                         what="the run paused after escalation")
        assert run["id"] == run_id  # paused, not failed and placed again
        assert "gave up after 2 restarts" in run["error"] and "unreachable_timeout" in run["error"]
        assert "resuming by itself at" in run["error"]
        assert cp.get(f"/pipelines/{name}")["status"] == "paused"
        eventually(lambda: cp.agent("s2-agent")["mode"] == "rest", what="the agent on REST while Redis is down")
        # an automatic resume while both are still down spends a fresh budget and pauses again, waiting longer
        again = eventually(lambda: (r := latest_run(cp, name))["status"] == "paused"
                           and "(automatic resume 2)" in r["error"] and r, timeout=180, what="paused again")
        assert again["id"] == run_id

        # 5-8: both come back; the paused run resumes by itself from its checkpoint
        redis_server.start()
        durable_broker.start()
        eventually(lambda: latest_run(cp, name)["status"] == "running", timeout=180, what="resumed by itself")
        assert latest_run(cp, name)["id"] == run_id and latest_run(cp, name)["error"] is None
        assert cp.get(f"/pipelines/{name}")["status"] == "running"
    finally:
        producer.stop()
    assert not producer.failed, producer.failed[:3]
    eventually(lambda: producer.acked <= set(seqs(out)), timeout=240, what="every acknowledged record delivered")

    # nothing lost; duplicates: what the pipeline read after its last checkpoint before the outage
    topic_counts = Counter(json.loads(m.value())["seq"] for m in durable_broker.read_all(
        topic, expect=len(producer.acked), partitions=1))
    delivered = Counter(seqs(out))
    assert set(topic_counts) == producer.acked  # the broker kept everything through its restart
    duplicates = sum(delivered.values()) - sum(topic_counts.values())
    assert 0 <= duplicates <= DUPLICATES_BOUND, duplicates
    log = agent.log()
    assert "paused:" in log and "resumed" in log
