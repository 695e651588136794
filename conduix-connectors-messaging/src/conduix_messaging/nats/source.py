"""``nats`` source: core NATS subjects (wildcards, queue groups) or a JetStream durable pull consumer.

JetStream messages are acknowledged only after every sink wrote them (at-least-once) and
nak'ed with a delay when they will not be (a component failed on them) or the pipeline stops or fails
before that; core NATS is best effort.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from operator import attrgetter
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from conduix.connector import Access, ComponentConfig, ConnectorError, Context, ReadColumn, SharedMeta, Source
from conduix_messaging._client import MessageSource
from conduix_messaging._common import PayloadFormat
from conduix_messaging.nats._connection import NatsConnectionConfig, connect, is_transient

__all__ = ["JetStreamSourceConfig", "NatsSource", "NatsSourceConfig"]

logger = logging.getLogger(__name__)

_HEADERS, _REPLY, _SUBJECT = attrgetter("headers"), attrgetter("reply"), attrgetter("subject")


class JetStreamSourceConfig(ComponentConfig):
    stream: str = Field(..., description="The stream to consume.")
    durable: str = Field(..., description="Durable consumer name; the server keeps its position across restarts.")
    create: bool = Field(False, description="Create the stream (file storage, on 'subjects') when it is missing.")
    deliver_policy: Literal["all", "new", "last"] = Field("all", description="Where a new durable consumer starts.")
    ack_wait: float = Field(30.0, gt=0, description="Seconds before the server redelivers an unacknowledged message.")
    nak_delay: float = Field(1.0, ge=0, description="Seconds before a message nak'ed on failure or shutdown "
                             "is redelivered.")
    fetch_timeout: float = Field(0.25, gt=0, description="Longest wait of one fetch for new messages.")


class NatsSourceConfig(NatsConnectionConfig):
    subjects: list[str] = Field(..., min_length=1, description="Subjects to read, wildcards allowed (orders.>).")
    queue_group: str | None = Field(None, description="Core NATS queue group: members share the messages.")
    jetstream: JetStreamSourceConfig | None = Field(None, description="Consume a JetStream stream through a "
                                                    "durable pull consumer (at-least-once) instead of core NATS.")
    format: PayloadFormat = Field("json", description="'json': the body is JSON (a non-object becomes "
                                  "{message: value}; invalid JSON goes to on_error); 'text'/'bytes': the body "
                                  "becomes {message: body} (a 'text' body that is not UTF-8 goes to on_error, its "
                                  "bytes kept in the dead letter).")
    max_in_flight: int = Field(10_000, ge=1, description="Messages read but not yet acknowledged downstream; "
                               "reading pauses at this bound.")

    @field_validator("subjects", mode="before")
    @classmethod
    def subjects_one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def check_jetstream(self) -> NatsSourceConfig:
        if self.jetstream is not None and len(self.subjects) != 1:
            raise ValueError("a JetStream consumer filters on one subject: give one 'subjects' entry "
                             "(a wildcard such as orders.> covers several)")
        if self.jetstream is not None and self.queue_group is not None:
            raise ValueError("'queue_group' is for core NATS; JetStream consumers sharing a 'durable' "
                             "already share its messages")
        return self


class NatsSource(MessageSource, Source[NatsSourceConfig]):
    """Reads NATS messages in batches; each record's metadata carries subject, headers and, for
    JetStream, stream, stream_seq and num_delivered."""

    Config = NatsSourceConfig
    protocol = "nats"
    is_transient = staticmethod(is_transient)

    @classmethod
    def access(cls, config: NatsSourceConfig) -> Access:
        return config.access()

    def __init__(self, config: NatsSourceConfig, context: Context) -> None:
        super().__init__(config, context)
        self._nc: Any = None
        self._psub: Any = None
        self._inbox: collections.deque[Any] = collections.deque()  # core NATS: appended on the loop
        self._ready = threading.Event()
        self._keepalive: asyncio.Future[None] | None = None
        self._in_flight = 0
        self._max_in_flight = config.max_in_flight
        self._seq = 0
        self._not_delivered: int | None = None  # JetStream: num_pending of the last fetch (0 after an empty one)

    # -- life cycle ----------------------------------------------------------------------
    def _connected(self) -> None:
        logger.info("nats source %r reading %s%s", self.id, ", ".join(self.config.subjects),
                    f" from stream {self.config.jetstream.stream}" if self.config.jetstream else "")

    async def _connect(self) -> None:
        cfg = self.config
        self._nc = await connect(cfg, self.id, lambda: self._closing)
        if cfg.jetstream is None:
            for subject in cfg.subjects:
                await self._nc.subscribe(subject, queue=cfg.queue_group or "", cb=self._on_message)
            return
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType
        from nats.js.errors import NotFoundError

        js_cfg = cfg.jetstream
        js = self._nc.jetstream()
        if js_cfg.create:
            try:
                await js.stream_info(js_cfg.stream)
            except NotFoundError:
                await js.add_stream(name=js_cfg.stream, subjects=cfg.subjects, storage=StorageType.FILE)
        consumer = ConsumerConfig(
            durable_name=js_cfg.durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=js_cfg.ack_wait,
            max_ack_pending=cfg.max_in_flight, deliver_policy=DeliverPolicy(js_cfg.deliver_policy),
            filter_subject=cfg.subjects[0])
        try:
            self._psub = await js.pull_subscribe(cfg.subjects[0], durable=js_cfg.durable, stream=js_cfg.stream,
                                                 config=consumer)
        except NotFoundError:
            raise ConnectorError(f"nats source {self.id!r}: stream {js_cfg.stream!r} does not exist on "
                                 f"{', '.join(cfg.servers)}; create it or set jetstream.create: true") from None
        self._keepalive = asyncio.ensure_future(self._keep_alive(js_cfg.ack_wait / 3))

    async def _keep_alive(self, interval: float) -> None:
        """Tell the server that messages still being written are in progress, so a slow or retrying
        sink does not make it redeliver them after ack_wait (duplicates, not losses)."""
        while True:
            await asyncio.sleep(interval)
            with self._pending_lock:
                held = [m for msgs in self._pending.values() for m in msgs]
            for msg in held:
                try:
                    await msg.in_progress()
                except Exception as exc:  # acked meanwhile, or disconnected: the next round tries again
                    logger.debug("nats source %r: in_progress failed: %s", self.id, exc)

    async def _on_message(self, msg: Any) -> None:
        inbox = self._inbox
        while len(inbox) >= self._max_in_flight:  # full: nats-py's own pending limit applies meanwhile
            await asyncio.sleep(0.005)
        inbox.append(msg)
        if not self._ready.is_set():
            self._ready.set()

    async def _disconnect(self) -> None:
        if self._nc is None:
            return
        if self._keepalive is not None:
            self._keepalive.cancel()
        unacked = self._all_pending()
        if unacked and self.config.jetstream is not None:
            logger.info("nats source %r: nak'ing %d unacknowledged message(s), redelivered in %.1fs",
                        self.id, len(unacked), self.config.jetstream.nak_delay)
            await self._nak(unacked)
        try:
            await self._nc.flush(timeout=5)
        except Exception as exc:
            logger.debug("nats source %r: flush at close failed: %s", self.id, exc)
        await self._nc.close()

    # -- reading -------------------------------------------------------------------------
    def _take(self, wanted: int) -> list[Any]:
        room = self.config.max_in_flight - self._in_flight
        if room <= 0:
            return []  # wait for acknowledgements before reading more
        jetstream = self.config.jetstream
        if jetstream is None:
            return self._take_received(min(wanted, room), 0.1)
        return self.call(self._fetch(min(wanted, room), jetstream.fetch_timeout), timeout=30)

    def _take_received(self, wanted: int, wait: float) -> list[Any]:
        """Core NATS: up to ``wanted`` received messages, waiting at most ``wait`` for the first one.
        The deque is filled on the loop and emptied here, without a hop to the loop per batch."""
        inbox = self._inbox
        if not inbox:
            self._ready.clear()
            if not inbox:  # checked again after clear(): a message appended in between is not missed
                self._ready.wait(wait)
        popleft = inbox.popleft
        return [popleft() for _ in range(min(wanted, len(inbox)))]

    async def _fetch(self, wanted: int, timeout: float) -> list[Any]:
        import nats.errors

        try:
            # nats-py's fetch can outlive its own timeout (seen under load): bound it here too; messages
            # a cancelled fetch had received are redelivered by the server after ack_wait
            fetched = list(await asyncio.wait_for(self._psub.fetch(batch=wanted, timeout=timeout), timeout + 2))
        except (nats.errors.TimeoutError, asyncio.TimeoutError):
            self._not_delivered = 0
            return []
        if fetched:
            self._not_delivered = int(fetched[-1].metadata.num_pending)
        return fetched

    def lag(self) -> dict[str, int] | None:
        """JetStream: the consumer's pending messages (not delivered yet, as the last fetch said, plus delivered
        and not acknowledged), keyed by stream; None for core NATS, which keeps no backlog."""
        jetstream = self.config.jetstream
        if jetstream is None or self._not_delivered is None:
            return None
        return {jetstream.stream: self._not_delivered + self._in_flight}

    def _metas(self, messages: list[Any]) -> list[dict[str, Any]] | SharedMeta:
        if self.config.jetstream is not None:
            return [self._meta(msg) for msg in messages]
        seq = self._seq
        self._seq = seq + len(messages)
        if any(map(_HEADERS, messages)) or any(map(_REPLY, messages)):
            return [self._meta(msg, n) for n, msg in enumerate(messages, seq + 1)]
        # core NATS, the common case: kept per batch, the dicts (the same as _meta's) made only when read
        subjects = list(map(_SUBJECT, messages))

        def position(n: int) -> str:
            return f"{subjects[n - seq - 1]}#{n}"
        return SharedMeta({"source": self.id}, {"subject": subjects, "position": ReadColumn(
            range(seq + 1, seq + 1 + len(subjects)), position)})

    def _meta(self, msg: Any, seq: int | None = None) -> dict[str, Any]:
        if seq is None:
            self._seq += 1
            seq = self._seq
        m: dict[str, Any] = {"source": self.id, "subject": msg.subject}
        if msg.headers:
            m["headers"] = dict(msg.headers)
        if self.config.jetstream is not None:
            md = msg.metadata
            m["stream"] = md.stream
            m["stream_seq"] = md.sequence.stream
            m["num_delivered"] = md.num_delivered
            m["position"] = f"{md.stream}#{md.sequence.stream}"
        else:
            if msg.reply:
                m["reply"] = msg.reply
            m["position"] = f"{msg.subject}#{seq}"
        return m

    _body = attrgetter("data")

    def _keeps(self, messages: list[Any]) -> bool:
        if self.config.jetstream is None:
            return False  # core NATS: nothing to acknowledge
        self._in_flight += len(messages)
        return True

    # -- acknowledgement -----------------------------------------------------------------
    def acknowledge(self, position: Any) -> None:
        msgs = self._take_pending(position) if position is not None else None
        if msgs:
            self._in_flight -= len(msgs)
            self.settle(self._ack(msgs))

    def nack(self, position: Any, error: BaseException | str) -> None:
        """A batch that will not be written: nak'ed now, redelivered after ``nak_delay``."""
        msgs = self._take_pending(position) if position is not None else None
        if msgs:
            self._in_flight -= len(msgs)
            logger.info("nats source %r: nak'ing %d message(s) not written (%s)", self.id, len(msgs), error)
            self.settle(self._nak(msgs))

    async def _ack(self, msgs: list[Any]) -> None:
        for msg in msgs:
            try:
                await msg.ack()
            except Exception as exc:
                logger.warning("nats source %r: ack of %d message(s) failed (%s); the server redelivers them "
                               "after ack_wait", self.id, len(msgs), exc)
                return

    async def _nak(self, msgs: list[Any]) -> None:
        assert self.config.jetstream is not None
        delay = self.config.jetstream.nak_delay
        for msg in msgs:
            try:
                await msg.nak(delay=delay)
            except Exception as exc:  # the server redelivers after ack_wait anyway
                logger.warning("nats source %r: nak failed (%s); redelivery after ack_wait", self.id, exc)
                return
