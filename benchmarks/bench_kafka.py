"""Kafka -> Kafka, whole processes side by side: ``conduix run``, a tuned plain confluent-kafka + orjson loop,
Bytewax and Quix Streams, doing the same work on the same input.

The input is ``bench_file``'s: 200,000 JSON log lines of about 220 bytes (one per Kafka message, three
partitions on a local Tansu broker), and its two transforms, *small* and *realistic* (drop the 25% at debug
level, parse the JSON in ``message``, build the output). Every system reads the input topic from the start
and writes the kept 150,000 records to a topic of its own:

- **Conduix**: ``conduix run`` of a pipeline a user would write: ``kafka`` source (a consumer group,
  ``decoding: json``), ``filter``, ``remap`` (``bench_file``'s programs), ``kafka`` sink;
- **plain loop**: confluent-kafka and orjson, tuned: ``consume(1000)`` batches, the producer's own batching
  (``linger.ms`` 5, idempotent, as Conduix's sink), one asynchronous commit per batch (it does not wait for
  delivery reports before committing, which Conduix does: the loop is cheaper than at-least-once);
- **Bytewax** (its Kafka connector: partitions assigned to the worker, no consumer group, ``tail=False``) and
  **Quix Streams** (a consumer group, ``bytes`` (de)serializers, orjson in ``apply``): from PyPI, each in a
  virtualenv the benchmark creates once under ``$CONDUIX_BENCH_PEERS``; a peer that cannot be installed or
  run is left out with a note on stderr.

Headline: input records per CPU-second of the whole process (user + system from ``wait4``: start-up, the
group join and shutdown included). Beside it the wall-clock rate, input records / the time from the first to
the last output record arriving at the benchmark's reader (polled every 50 ms; not the records' timestamps,
which Quix Streams copies from the input), so the group join and start-up are not counted. The
benchmark reads each output topic while the system runs, stops it (SIGTERM; the plain loop and Bytewax end
by themselves) once every record arrived, and checks that each wrote exactly the records the plain loop's
function gives. Sides alternate in order, ``ROUNDS`` rounds; each counts with its best round.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from _peers import peer_python
from bench_file import ENV, FILTER, PEER_WORK, REALISTIC, SMALL, TRANSFORMS, _yaml_str, make_input

N = int(os.environ.get("CONDUIX_BENCH_KAFKA_RECORDS", 200_000))
ROUNDS = 2
PARTITIONS = 3
GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}  # Tansu holds a first join ~half of it
PRODUCER = {"linger.ms": 5, "enable.idempotence": True}  # the kafka sink's defaults
PROGRAMS = {"small": SMALL, "realistic": REALISTIC}

#: the plain loop: argv bootstrap, input topic, output topic, group, records to read
PLAIN = """\
import sys
from confluent_kafka import Consumer, KafkaException, Producer
from orjson import dumps, loads

def work(rec):
{work}

def main(bootstrap, src, dst, group, n):
    consumer = Consumer({{"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, **{group_conf}}})
    producer = Producer({{"bootstrap.servers": bootstrap, **{producer_conf}}})
    produce, poll = producer.produce, producer.poll
    consumer.subscribe([src])
    read = 0
    while read < n:
        messages = consumer.consume(1000, 0.2)
        if not messages:
            continue
        for message in messages:
            if message.error() is not None:
                continue
            read += 1
            rec = loads(message.value())
            if rec["level"] == "debug":
                continue
            out = work(rec)
            while True:
                try:
                    produce(dst, out)
                    break
                except BufferError:
                    poll(0.05)
        poll(0)
        consumer.commit(asynchronous=True)
    if producer.flush(60):
        raise SystemExit("records left unsent")
    try:
        consumer.commit(asynchronous=False)
    except KafkaException:  # _NO_OFFSET: the last batch's commit covered everything
        pass
    consumer.close()

main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
"""

PIPELINE = """\
name: bench_kafka
sources:
  in:
    type: kafka
    brokers: {bootstrap}
    topics: [{src}]
    group_id: {group}
    auto_offset_reset: earliest
    session_timeout_ms: 6000
    heartbeat_interval_ms: 500
    decoding: json
""" + TRANSFORMS + """\
sinks:
  out: {{type: kafka, inputs: [work], brokers: {bootstrap}, topic: {dst}}}
"""

BYTEWAX = """\
import os

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from orjson import dumps, loads

def work(rec):
{work}

brokers = [os.environ["BOOTSTRAP"]]
flow = Dataflow("bench")
kafka = kop.input("in", flow, brokers=brokers, topics=[os.environ["SRC"]], tail=False)
op.raises("errors", kafka.errs)
s = op.map("parse", kafka.oks, lambda msg: loads(msg.value))
s = op.filter("keep", s, lambda rec: rec["level"] != "debug")
s = op.map("work", s, lambda rec: KafkaSinkMessage(None, work(rec)))
kop.output("out", s, brokers=brokers, topic=os.environ["DST"], add_config={producer_conf})
"""

QUIX = """\
import os

from orjson import dumps, loads
from quixstreams import Application

def work(rec):
{work}

app = Application(broker_address=os.environ["BOOTSTRAP"], consumer_group=os.environ["GROUP"],
                  auto_offset_reset="earliest", use_changelog_topics=False, loglevel="WARNING",
                  consumer_extra_config={group_conf}, producer_extra_config={producer_conf})
src = app.topic(os.environ["SRC"], value_deserializer="bytes")
dst = app.topic(os.environ["DST"], value_serializer="bytes")
sdf = app.dataframe(src)
sdf = sdf.apply(loads).filter(lambda rec: rec["level"] != "debug").apply(work)
sdf.to_topic(dst)
app.run()
"""

#: the peers: package spec, extra packages (installed into its virtualenv too), import probe, script template
PEERS = {
    "bytewax": ("bytewax==0.21.1", ("bytewax[kafka]==0.21.1",), "import bytewax.connectors.kafka", BYTEWAX),
    "quixstreams": ("quixstreams==3.28.0", (), "import quixstreams", QUIX),
}


class Side:
    """How to start one system on one transform, and whether it ends by itself once its work is done."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, *, ends: bool = False) -> None:
        self.argv, self.env, self.ends = argv, env or {}, ends


class Outcome:
    def __init__(self, cpu: float, first_ms: int, last_ms: int, rss_mib: float, steady_cpu: float) -> None:
        self.cpu, self.first_ms, self.last_ms, self.rss_mib = cpu, first_ms, last_ms, rss_mib
        self.steady_cpu = steady_cpu  #: CPU seconds between the first and the last output record (sampled)

    @property
    def wall(self) -> float:
        return max(self.last_ms - self.first_ms, 1) / 1000


def expected_output(src: Path, name: str) -> list[bytes]:
    namespace: dict[str, Any] = {"loads": orjson.loads, "dumps": orjson.dumps}
    exec("def work(rec):\n" + textwrap.indent(PEER_WORK[name], "    "), namespace)
    work = namespace["work"]
    out = []
    for line in src.read_bytes().splitlines():
        rec = orjson.loads(line)
        if rec["level"] != "debug":
            out.append(work(rec))
    return sorted(out)


def _proc_sample(pid: int) -> tuple[float, float] | None:
    """CPU seconds so far (every thread) and peak resident MiB (``VmHWM``) of a running process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        with open(f"/proc/{pid}/status", "rb") as f:
            hwm = next((int(line.split()[1]) for line in f if line.startswith(b"VmHWM:")), 0)
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS, hwm / 1024


TICKS = os.sysconf("SC_CLK_TCK")


def run_side(side: Side, broker: Any, dst: str, expected: list[bytes], folder: Path, label: str,
             timeout: float = 600) -> Outcome:
    """Start the process, read ``dst`` until every expected record came, stop it; its CPU from ``wait4``.

    Peak memory is sampled (``VmHWM``) while it runs: ``wait4``'s ``ru_maxrss`` would also count this
    process's memory, which an exec'd child inherits as its starting peak on Linux. The CPU it used
    between its first and last output record (sampled as they arrive) is the steady-state figure."""
    from confluent_kafka import Consumer, TopicPartition

    reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"bench-reader-{uuid.uuid4().hex}",
                       "enable.auto.commit": False})
    reader.assign([TopicPartition(dst, p, 0) for p in range(PARTITIONS)])
    log = folder / f"{label}.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(side.argv, cwd=folder, stdout=subprocess.DEVNULL, stderr=err,
                                env={**ENV, **side.env})
    values: list[bytes] = []
    stamps: list[int] = []
    deadline = time.monotonic() + timeout
    usage = status = None
    peak = 0.0
    cpu_first = cpu_last = 0.0
    try:
        while len(values) < len(expected) and status is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: {len(values)} of {len(expected)} records after {timeout:.0f}s")
            before = _proc_sample(proc.pid)
            got = [m.value() for m in reader.consume(10000, 0.05) if m.error() is None]
            if got:
                stamps.append(round(time.perf_counter() * 1000))
                values += got
            sample = _proc_sample(proc.pid)
            if sample is not None:
                peak = max(peak, sample[1])
                if values and not cpu_first and before is not None:
                    cpu_first = before[0]
                cpu_last = sample[0]
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == 0:
                status = None
        if status is not None and len(values) < len(expected):  # ended by itself: its last records may be on
            values += [m.value() for m in reader.consume(100000, 3.0) if m.error() is None]  # their way
            if len(values) < len(expected):
                raise RuntimeError(f"{label} ended (exit {os.waitstatus_to_exitcode(status)}) after "
                                   f"{len(values)} of {len(expected)} records: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
        if status is None and not side.ends:
            proc.send_signal(signal.SIGTERM)
        if status is None:
            _, status, usage = os.wait4(proc.pid, 0)
    finally:
        if status is None:
            proc.kill()
            os.wait4(proc.pid, 0)
        more = [m for m in reader.consume(100000, 0.5) if m.error() is None]
        reader.close()
    assert usage is not None and status is not None
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, -signal.SIGTERM):
        raise RuntimeError(f"{label} exited {code}: {log.read_text(errors='replace')[-2000:]}")
    values += [m.value() for m in more]
    if sorted(values) != expected:
        raise AssertionError(f"{label} wrote {len(values)} records, not the {len(expected)} expected ones")
    return Outcome(usage.ru_utime + usage.ru_stime, min(stamps), max(stamps), peak, cpu_last - cpu_first)


def delete_topics(broker: Any, topics: list[str]) -> None:
    """Free the broker's memory (Tansu keeps topics in memory); a failure only keeps more there."""
    from confluent_kafka import KafkaException

    admin = broker.admin()
    for topic, future in admin.delete_topics(topics, operation_timeout=20).items():
        try:
            future.result(30)
        except KafkaException as exc:
            print(f"bench_kafka: could not delete topic {topic}: {exc}", file=sys.stderr)


def sides_for(name: str, broker: Any, folder: Path, src_topic: str, dst: dict[str, str],
              peers: dict[str, str]) -> dict[str, Side]:
    work = textwrap.indent(PEER_WORK[name], "    ")
    group = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    plain = folder / f"plain_{name}.py"
    plain.write_text(PLAIN.format(work=work, group_conf=GROUP, producer_conf=PRODUCER))
    pipeline = folder / f"{name}.yaml"
    pipeline.write_text(PIPELINE.format(bootstrap=_yaml_str(broker.bootstrap), src=_yaml_str(src_topic),
                                        dst=_yaml_str(dst["conduix"]), group=_yaml_str(group + "-conduix"),
                                        filter=_yaml_str(FILTER), program=_yaml_str(PROGRAMS[name])))
    state = folder / f"state-{group}"  # a new group and an empty state folder: every run reads from the start
    sides = {
        "conduix": Side([sys.executable, "-m", "conduix", "run", str(pipeline), "--state-dir", str(state)]),
        "baseline": Side([sys.executable, str(plain), broker.bootstrap, src_topic, dst["baseline"],
                          group + "-plain", str(N)], ends=True),
    }
    for peer, python in peers.items():
        script = folder / f"{peer}_{name}.py"
        script.write_text(PEERS[peer][3].format(work=work, group_conf=GROUP,
                                                producer_conf={k: str(v).lower() if isinstance(v, bool) else str(v)
                                                               for k, v in PRODUCER.items()}))
        env = {"BOOTSTRAP": broker.bootstrap, "SRC": src_topic, "DST": dst[peer], "GROUP": f"{group}-{peer}"}
        if peer == "bytewax":
            sides[peer] = Side([python, "-m", "bytewax.run", f"{script.stem}:flow"], env, ends=True)
        else:
            sides[peer] = Side([python, str(script)], env)
    return sides


def run(n: int = N, rounds: int = ROUNDS) -> list[dict[str, Any]]:
    from conduix_kafka.testing import TansuBroker

    peers = {}
    for peer, (spec, extras, probe, _) in PEERS.items():
        python = peer_python(spec, extras=extras, probe=probe, who="bench_kafka")
        if python is not None:
            peers[peer] = python
    results = []
    with tempfile.TemporaryDirectory(prefix="conduix-bench-kafka-") as tmp:
        folder = Path(tmp)
        src = folder / "input.jsonl"
        make_input(src, n)
        broker = TansuBroker(folder).start()
        try:
            src_topic = f"bench-in-{uuid.uuid4().hex[:6]}"
            broker.create_topics(src_topic, partitions=PARTITIONS)
            broker.produce(src_topic, src.read_bytes().splitlines())
            for name in PROGRAMS:
                results.append(compare(name, broker, folder, src, src_topic, peers, n, rounds))
        finally:
            broker.stop()
        results[-1]["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return results


def compare(name: str, broker: Any, folder: Path, src: Path, src_topic: str, peers: dict[str, str], n: int,
            rounds: int) -> dict[str, Any]:
    expected = expected_output(src, name)
    best: dict[str, Outcome] = {}
    failed: dict[str, str] = {}
    for round_ in range(rounds):
        systems = ["conduix", "baseline", *(p for p in peers if p not in failed)]
        dst = {system: f"bench-out-{system}-{name}-{round_}-{uuid.uuid4().hex[:6]}" for system in systems}
        broker.create_topics(*dst.values(), partitions=PARTITIONS)
        sides = sides_for(name, broker, folder, src_topic, dst, {p: peers[p] for p in systems if p in peers})
        for system in (systems if round_ % 2 == 0 else list(reversed(systems))):
            try:
                outcome = run_side(sides[system], broker, dst[system], expected, folder, f"{system}_{name}_{round_}")
            except (RuntimeError, AssertionError) as exc:
                if system in ("conduix", "baseline"):
                    raise
                failed[system] = str(exc)  # a peer that cannot do the work here: left out, with a note
                print(f"bench_kafka: peer {system} is left out of {name}: {exc}", file=sys.stderr, flush=True)
                continue
            old = best.get(system)
            if old is None:
                best[system] = outcome
            else:
                old.cpu, old.rss_mib = min(old.cpu, outcome.cpu), max(old.rss_mib, outcome.rss_mib)
                old.steady_cpu = min(old.steady_cpu, outcome.steady_cpu)
                if outcome.wall < old.wall:
                    old.first_ms, old.last_ms = outcome.first_ms, outcome.last_ms
        delete_topics(broker, list(dst.values()))
    ours, base = best["conduix"], best["baseline"]
    result: dict[str, Any] = {
        "name": f"kafka_{name}", "conduix_rps": n / ours.wall, "baseline_rps": n / base.wall,
        "ratio": base.wall / ours.wall, "conduix_cpu_rps": n / ours.cpu, "baseline_cpu_rps": n / base.cpu,
        "cpu_ratio": base.cpu / ours.cpu, "records": n, "rounds": rounds,
        "steady_cpu_rps": {system: round(n / o.steady_cpu) if o.steady_cpu else None for system, o in best.items()},
        "peak_rss_mib": {system: round(o.rss_mib) for system, o in best.items()}}
    for peer in PEERS:
        if peer in best:
            result.update({f"{peer}_cpu_rps": round(n / best[peer].cpu), f"{peer}_rps": round(n / best[peer].wall),
                           f"cpu_vs_{peer}": round(best[peer].cpu / ours.cpu, 2)})
        else:
            result[f"{peer}_left_out"] = failed.get(peer, "not installed")[:200]
    return result


if __name__ == "__main__":
    for result in run():
        print(orjson.dumps(result).decode())
