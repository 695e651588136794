"""The ``kafka`` source: a consumer group member whose offsets move only with end-to-end acks."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import orjson

from conduix.connector import (
    Access,
    Batch,
    ConfigError,
    ConnectorError,
    Context,
    ReadColumn,
    Rejected,
    SharedMeta,
    Source,
)
from conduix_kafka import exactly_once
from conduix_kafka._client import client_logger, kafka, log_client_error
from conduix_kafka._config import KafkaSourceConfig, client_access
from conduix_kafka._offsets import PartitionOffsets, partition_key, split_key

__all__ = ["KafkaSource"]

logger = logging.getLogger(__name__)

#: seconds between two measurements of the consumer lag (local reads of what the last fetches said)
LAG_EVERY = 1.0

#: seconds closing waits for the consumer's last commit and for it to leave its group. With no broker
#: answering, librdkafka's close can wait for ever (seen after the group session timed out): the run must
#: still end, so that supervision can restart or escalate it.
CLOSE_TIMEOUT = 15.0

KafkaError = kafka.KafkaError
TopicPartition = kafka.TopicPartition

# accessors of confluent-kafka's message type, for map(): a pass over a batch's messages in C
_Message: Any = kafka.Message  # Any, as the messages are here: the stubs allow None where a consumed one has a value
_offset, _value = _Message.offset, _Message.value


def _key_text(message: Any) -> str | None:
    key = message.key()
    return None if key is None else key.decode("utf-8", "replace")


def _header_dict(message: Any) -> dict[str, str | None]:
    """A new dict each time (never one shared: a component may change the headers of one record)."""
    headers = message.headers()
    return {k: (v.decode("utf-8", "replace") if v is not None else None) for k, v in headers} if headers else {}


def _timestamp_ms(message: Any) -> int:
    return message.timestamp()[1]


# consumer errors a retry cannot fix: fail the run with one clear line instead of a retry storm
_FATAL_CODES = {
    KafkaError.UNKNOWN_TOPIC_OR_PART: "topic does not exist (create it, or fix 'topics')",
    KafkaError._UNKNOWN_TOPIC: "topic does not exist (create it, or fix 'topics')",
    KafkaError.TOPIC_AUTHORIZATION_FAILED: "not authorised to read the topic (grant READ, or fix the credentials)",
    KafkaError.GROUP_AUTHORIZATION_FAILED: "not authorised to use the consumer group (grant READ on the group)",
}


class KafkaSource(Source[KafkaSourceConfig]):
    """Reads a consumer group's partitions in batches; records carry topic, partition, offset, key,
    headers and timestamp metadata.

    A batch's position is a sequence number; the offsets it covers are remembered per partition, and
    :meth:`acknowledge` advances each partition's watermark over the leading acknowledged batches. The
    checkpoint (``{"kafka_offsets": {"topic:partition": next_offset}}``) holds only those watermarks, and
    only for partitions owned now; the same offsets are committed to the group. On assignment a
    partition resumes at the larger of its checkpoint and its committed offset.
    """

    Config = KafkaSourceConfig

    @classmethod
    def access(cls, config: KafkaSourceConfig) -> Access:
        return client_access(str(config.brokers), config.consumer)

    def __init__(self, config: KafkaSourceConfig, context: Context) -> None:
        super().__init__(config, context)
        self._offsets = PartitionOffsets()
        self._restored: dict[str, int] = {}
        self._consumer: Any = None
        self._seq = 0
        self._cooperative = config.assignment_strategy == "cooperative-sticky"
        self._down_since: float | None = None
        self._lag: dict[str, int] = {}
        self._first_read: dict[str, int] = {}  # per partition owned, the first offset read (before any ack)
        self._lag_at = 0.0
        self._transactional = context.delivery == "exactly_once"
        self._commits = not self._transactional and not config.enable_auto_commit
        if config.partition_per_worker and self._transactional:
            raise ConfigError("partition_per_worker cannot be combined with delivery: exactly_once (transactions "
                              "need the group's rebalancing to fence zombies)",
                              hint="drop one of them; settings.workers scales out within the group instead")

    # -- lifecycle ---------------------------------------------------------------------------
    def restore(self, state: dict[str, Any]) -> None:
        self._restored = {str(k): int(v) for k, v in (state.get("kafka_offsets") or {}).items()}

    @property
    def group_id(self) -> str:
        """The consumer group: ``group_id``, else ``conduix-<pipeline name>``."""
        return self.config.group_id or f"conduix-{self.context.pipeline}"

    def client_config(self) -> dict[str, Any]:
        """The librdkafka properties this source's consumer uses."""
        c = self.config
        conf: dict[str, Any] = {
            "bootstrap.servers": c.brokers,
            "group.id": self.group_id,
            "client.id": f"conduix-{self.context.pipeline}-{self.id}",
            "auto.offset.reset": c.auto_offset_reset,
            "enable.auto.commit": c.enable_auto_commit and not self._transactional,
            "enable.auto.offset.store": False,
            "auto.commit.interval.ms": c.auto_commit_interval_ms,
            "session.timeout.ms": c.session_timeout_ms,
            "max.poll.interval.ms": c.max_poll_interval_ms,
            "partition.assignment.strategy": c.assignment_strategy,
            "isolation.level": "read_committed" if self._transactional else c.isolation_level,
            "error_cb": self._on_error,
            "on_commit": self._on_commit,
            "logger": client_logger,
        }
        if c.heartbeat_interval_ms is not None:
            conf["heartbeat.interval.ms"] = c.heartbeat_interval_ms
        conf.update(c.consumer)
        return conf

    @classmethod
    def plans_slices(cls, config: KafkaSourceConfig) -> bool:
        return config.partition_per_worker

    @classmethod
    def plan_slices(cls, config: KafkaSourceConfig) -> list[dict[str, Any]] | None:
        """With ``partition_per_worker``: one slice per partition of the topics, read from the metadata."""
        if not config.partition_per_worker:
            return None
        from confluent_kafka.admin import AdminClient

        brokers = config.brokers if isinstance(config.brokers, str) else ",".join(config.brokers)
        admin = AdminClient({"bootstrap.servers": brokers, **{
            k: v for k, v in config.consumer.items() if k.startswith(("security.", "sasl.", "ssl."))}})
        try:
            metadata = admin.list_topics(timeout=15)
        except kafka.KafkaException as exc:
            raise ConnectorError(f"cannot list the partitions of {config.topics} at {brokers}: {exc}") from exc
        slices = []
        for topic in config.topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                raise ConnectorError(f"topic {topic!r} does not exist at {brokers}; create it first (partition per "
                                     "worker needs its partitions up front)")
            slices += [{"topic": topic, "partition": p, "label": f"{topic}-{p}"} for p in sorted(found.partitions)]
        return slices

    def _on_error(self, error: Any) -> None:
        log_client_error(self.id, error)
        if error.code() == kafka.KafkaError._ALL_BROKERS_DOWN and self._down_since is None:
            self._down_since = time.monotonic()

    def _check_reachable(self) -> None:
        """Fail once every broker has been unreachable for ``unreachable_timeout`` (a metadata probe decides)."""
        limit = self.config.unreachable_timeout
        if self._down_since is None or limit is None or time.monotonic() - self._down_since < limit:
            return
        try:
            self._consumer.list_topics(timeout=5)
        except kafka.KafkaException:
            raise ConnectorError(f"source {self.id!r}: no broker of {self.config.brokers} reachable for "
                                 f"{limit:.0f}s (unreachable_timeout); check the cluster") from None
        self._down_since = None  # the brokers are back

    def open(self) -> None:
        try:
            self._consumer = kafka.Consumer(self.client_config())
        except kafka.KafkaException as exc:
            raise ConnectorError(f"source {self.id!r}: cannot create the Kafka consumer: {exc}; "
                                 "check 'brokers' and the 'consumer' properties") from exc
        piece = self.context.slice
        if piece is not None and "partition" in piece:  # partition per worker: a manual assignment, no rebalancing
            self._cooperative = False
            self._on_assign(self._consumer, [kafka.TopicPartition(piece["topic"], int(piece["partition"]))])
        else:
            self._consumer.subscribe(list(self.config.topics), on_assign=self._on_assign,
                                     on_revoke=self._on_revoke, on_lost=self._on_lost)
        if self._transactional:
            exactly_once.register(exactly_once.run_key(self.context), self.id, self)

    def stop(self) -> None:
        """Nothing to interrupt: a read returns within ``poll_timeout``."""

    def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        if self._transactional:
            exactly_once.unregister(exactly_once.run_key(self.context), self.id, self)
        failed: list[BaseException] = []

        def leave() -> None:
            # close() leaves the group: its partitions move at once, not after the session timeout
            for step in (lambda: self._commit(consumer, asynchronous=False), consumer.close):
                try:
                    step()
                except BaseException as exc:
                    failed.append(exc)

        closing = threading.Thread(target=leave, name=f"conduix-kafka-close-{self.id}", daemon=True)
        closing.start()
        closing.join(CLOSE_TIMEOUT)
        if closing.is_alive():
            logger.warning("source %r: the consumer did not commit and leave its group within %.0f s (no broker "
                           "answers?); left behind: the group moves its partitions after the session timeout, "
                           "and what was not committed is read again from the checkpoint", self.id, CLOSE_TIMEOUT)
        elif failed:
            raise failed[0]

    # -- rebalances (called from inside consume() in this source's thread, or from close()'s) ----
    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        # the group's committed offsets of every partition: a checkpoint older than a commit must not rewind it,
        # and a partition without a checkpoint is checkpointed where it resumes even before a record is read
        # (reassigned while idle, it would otherwise drop out of the checkpoint)
        committed: dict[str, int] = {}
        if partitions:
            try:
                for tp in consumer.committed(partitions, timeout=10):
                    if tp.error is None and tp.offset >= 0:
                        committed[partition_key(tp.topic, tp.partition)] = tp.offset
            except kafka.KafkaException as exc:
                logger.warning("source %r: could not read committed offsets (%s); resuming at the checkpoint, if any",
                               self.id, exc)
        for tp in partitions:
            key = partition_key(tp.topic, tp.partition)
            start = self._restored.pop(key, None)
            if start is not None:
                start = max(start, committed.get(key, start))
                tp.offset = start  # seek: resume where the checkpoint (or a later commit) says
            else:
                start = committed.get(key)  # the consumer resumes there by itself
            self._offsets.assign(key, start)
        if partitions:
            logger.info("source %r assigned %s", self.id, _describe(partitions))
        if self._cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        uncommitted = self._offsets.uncommitted()
        keys = {partition_key(tp.topic, tp.partition) for tp in partitions}
        final = {key: offset for key, offset in uncommitted.items() if key in keys}
        if final and not self._transactional:
            self._commit_offsets(consumer, final, asynchronous=False)
        for tp in partitions:
            self._offsets.revoke(partition_key(tp.topic, tp.partition))
        logger.info("source %r revoked %s", self.id, _describe(partitions))
        if self._cooperative:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:  # another member may own them already: commit nothing
            self._offsets.revoke(partition_key(tp.topic, tp.partition))
        logger.warning("source %r lost %s (session timed out); their uncommitted records will be read again "
                       "by their new owner", self.id, _describe(partitions))
        if self._cooperative:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()

    # -- reading -------------------------------------------------------------------------------
    def read(self, max_records: int) -> Batch | None:
        messages = self._consumer.consume(max_records, self.config.poll_timeout)
        if time.monotonic() - self._lag_at >= LAG_EVERY:
            self._measure_lag()
        if not messages:
            self._check_reachable()
            return Batch([])
        # messages do not clear _down_since: what was fetched before an outage still arrives after it began, and
        # librdkafka may report "all brokers down" only once; a probe alone says the brokers are back
        owns = self._offsets.owns
        kept: list[Any] = []
        runs: list[tuple[int, str, int, str]] = []  # (first index in kept, topic, partition, key) per run
        last_topic: str | None = None
        last_partition = -1
        owned = False
        for message in messages:
            error = message.error()
            if error is not None:
                self._consumer_error(error, message)
                continue
            topic, partition = message.topic(), message.partition()
            if partition != last_partition or topic != last_topic:  # messages come in runs per partition
                last_topic, last_partition = topic, partition
                key = f"{topic}:{partition}"
                owned = owns(key)
                if owned:
                    runs.append((len(kept), topic, partition, key))
            if owned:  # else fetched before a revoke: its new owner reads it
                kept.append(message)
        if not kept:
            return Batch([])
        offsets = list(map(_offset, kept))
        ends: dict[str, int] = {}
        first_read = self._first_read
        bounds = [run[0] for run in runs[1:]] + [len(kept)]
        for (start, _, _, key), end in zip(runs, bounds):
            if key not in ends and key not in first_read:
                first_read[key] = offsets[start]
            ends[key] = offsets[end - 1] + 1
        meta = self._meta(kept, offsets, runs, bounds)
        records, rejects, good = self._decode(kept, meta)
        if good is not None:
            meta = meta.select(good)
        self._seq += 1
        self._offsets.read(self._seq, ends)
        return Batch(records, meta, position=self._seq, rejects=rejects)

    def _meta(self, messages: list[Any], offsets: list[int], runs: list[tuple[int, str, int, str]],
              bounds: list[int]) -> SharedMeta:
        """The records' metadata kept per batch: ``source`` shared, ``topic`` and ``partition`` too when every
        message is from one partition (else columns), ``offset``, ``key``, ``headers`` and ``timestamp`` as
        columns; its dicts (made only when read) have the same fields in the same order as ever."""
        shared: dict[str, Any] = {"source": self.id}
        columns: dict[str, Any] = {}
        if all(run[3] == runs[0][3] for run in runs):
            shared["topic"], shared["partition"] = runs[0][1], runs[0][2]
        else:
            topics: list[str] = []
            partitions: list[int] = []
            for (start, topic, partition, _), end in zip(runs, bounds):
                topics += [topic] * (end - start)
                partitions += [partition] * (end - start)
            columns["topic"], columns["partition"] = topics, partitions
        columns["offset"] = offsets
        # read from the messages only when a component reads them (most pipelines never do)
        columns["key"] = ReadColumn(messages, _key_text)
        columns["headers"] = ReadColumn(messages, _header_dict)
        columns["timestamp"] = ReadColumn(messages, _timestamp_ms)
        return SharedMeta(shared, columns)

    def _decode(self, messages: list[Any], meta: SharedMeta
                ) -> tuple[list[dict[str, Any]], list[Rejected] | None, list[int] | None]:
        """The records of the messages' values, the rejected ones, and (when some are) the indices of the messages
        that became records. Under ``decoding: json`` a batch of JSON values is decoded in one pass; if one is not
        JSON (or null), each is decoded on its own: a bad one is rejected (``on_error``) with its metadata, the
        others kept."""
        field = self.config.field
        values = list(map(_value, messages))
        decoding = self.config.decoding
        if decoding == "string":
            text = [None if value is None else value.decode("utf-8", "replace") for value in values]
            return [{field: value} for value in text], None, None
        if decoding != "json":
            return [{field: value} for value in values], None, None
        loads = orjson.loads
        try:
            decoded = list(map(loads, values))
        except orjson.JSONDecodeError:
            pass  # one is not JSON, or a null value (a tombstone): decoded one by one below
        else:
            if list(map(type, decoded)).count(dict) == len(decoded):  # the usual batch: JSON objects only
                return decoded, None, None
            return [value if type(value) is dict else {field: value} for value in decoded], None, None
        records: list[dict[str, Any]] = []
        rejects: list[Rejected] = []
        good: list[int] = []
        for index, value in enumerate(values):
            try:
                record = loads(value) if value is not None else None
            except orjson.JSONDecodeError as exc:
                rejects.append(Rejected(f"invalid JSON: {exc}", record={field: value.decode("utf-8", "replace")},
                                        meta=_meta_at(meta, index)))
                continue
            records.append(record if type(record) is dict else {field: record})
            good.append(index)
        if not rejects:
            return records, None, None
        return records, rejects, good

    def _consumer_error(self, error: Any, message: Any) -> None:
        code = error.code()
        if code == KafkaError._PARTITION_EOF:
            return
        reason = _FATAL_CODES.get(code)
        if reason is not None or error.fatal():
            where = f" {message.topic()!r}" if message.topic() else ""
            raise ConnectorError(f"source {self.id!r}: {reason or 'fatal consumer error'} on{where or ' topics '}"
                                 f"{'' if where else repr(self.config.topics)}: {error.str()}")
        logger.warning("source %r: consumer error: %s", self.id, error.str())

    # -- consumer lag ------------------------------------------------------------------------------
    def _measure_lag(self) -> None:
        """Per owned partition: its high watermark (as the last fetch saw it, no request) minus the acknowledged
        offset, where a restart would resume (before the first acknowledgement: the first offset read)."""
        self._lag_at = time.monotonic()
        lag = {}
        owned = self._offsets.owned()
        self._first_read = {k: v for k, v in self._first_read.items() if k in owned}
        for key in owned:
            at = self._offsets.acked(key)
            at = self._first_read.get(key) if at is None else at
            if at is None:
                continue  # nothing read yet: where it starts is not known
            try:
                _, high = self._consumer.get_watermark_offsets(TopicPartition(*split_key(key)), cached=True)
            except kafka.KafkaException as exc:
                logger.debug("source %r: no watermark for %s: %s", self.id, key, exc)
                continue
            if high is not None and high >= 0:
                lag[key] = max(0, high - at)
        self._lag = lag

    def lag(self) -> dict[str, int]:
        """Messages behind the high watermark per ``topic:partition`` owned now, measured in the reading thread
        at most every ``LAG_EVERY`` seconds."""
        return dict(self._lag)

    # -- acknowledgements, checkpoints, commits ----------------------------------------------------
    def acknowledge(self, position: Any) -> None:
        moved = self._offsets.acknowledge(position)
        if moved and self.config.enable_auto_commit and not self._transactional:
            acked = self._offsets.watermarks()
            self._consumer.store_offsets(offsets=[TopicPartition(*split_key(k), acked[k]) for k in moved])

    def checkpoint(self) -> dict[str, Any]:
        if self._consumer is not None and self._commits:
            self._commit(self._consumer, asynchronous=True)
        offsets = dict(self._restored)  # restored partitions this run was not assigned (yet)
        offsets.update(self._offsets.watermarks())
        return {"kafka_offsets": offsets}

    def _commit(self, consumer: Any, *, asynchronous: bool) -> None:
        if not self._commits:
            return
        pending = self._offsets.uncommitted()
        if pending:
            self._commit_offsets(consumer, pending, asynchronous=asynchronous)

    def _commit_offsets(self, consumer: Any, offsets: dict[str, int], *, asynchronous: bool) -> None:
        tps = [TopicPartition(*split_key(k), offset) for k, offset in offsets.items()]
        try:
            consumer.commit(offsets=tps, asynchronous=asynchronous)
        except kafka.KafkaException as exc:  # the checkpoint still holds them; the next commit retries
            logger.warning("source %r: committing offsets failed: %s", self.id, exc)
            return
        self._offsets.mark_committed(offsets)

    def _on_commit(self, error: Any, partitions: list[Any]) -> None:
        if error is not None:
            logger.warning("source %r: offset commit failed (retried at the next checkpoint): %s", self.id, error)
            self._offsets.mark_uncommitted([partition_key(tp.topic, tp.partition) for tp in partitions])

    # -- exactly-once handshake (exactly_once.TransactionalSource) ------------------------------
    def group_metadata(self) -> Any:
        if self._consumer is None:
            raise ConnectorError(f"source {self.id!r} is closed; no group metadata for the transaction")
        return self._consumer.consumer_group_metadata()

    def owns(self, topic: str, partition: int) -> bool:
        return self._offsets.owns(partition_key(topic, partition))


def _describe(partitions: list[Any]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" + (f"@{tp.offset}" if tp.offset >= 0 else "")
                     for tp in partitions) or "nothing"


def _meta_at(meta: SharedMeta, index: int) -> dict[str, Any]:
    """The metadata dict of record ``index`` (as :meth:`SharedMeta.dicts` makes it)."""
    return {**meta.shared, **{name: values[index] for name, values in meta.columns.items()}}
