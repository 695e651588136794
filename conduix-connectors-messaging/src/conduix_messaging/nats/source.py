"""``nats`` source: core NATS subjects (wildcards, queue groups) or a JetStream durable pull consumer.

JetStream messages are acknowledged only after every sink wrote them (at-least-once) and
nak'ed with a delay when the pipeline stops or fails before that; core NATS is best effort.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import logging
import threading
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from conduix.components import Batch, ComponentConfig, Context, Rejected, Source
from conduix.errors import ConnectorError, RetryableError
from conduix_messaging._common import PayloadFormat, decode_payload
from conduix_messaging._loop import Cancelled, LoopThread
from conduix_messaging.nats._connection import NatsConnectionConfig, connect, is_transient

__all__ = ["JetStreamSourceConfig", "NatsSource", "NatsSourceConfig"]

logger = logging.getLogger(__name__)


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
                                  "becomes {message: body}.")
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


class NatsSource(Source[NatsSourceConfig]):
    """Reads NATS messages in batches; each record's metadata carries subject, headers and, for
    JetStream, stream, stream_seq and num_delivered."""

    Config = NatsSourceConfig

    def __init__(self, config: NatsSourceConfig, context: Context) -> None:
        super().__init__(config, context)
        self._loop: LoopThread | None = None
        self._closing = False
        self._acking: set[concurrent.futures.Future[None]] = set()
        self._ack_lock = threading.Lock()
        self._nc: Any = None
        self._psub: Any = None
        self._inbox: collections.deque[Any] = collections.deque()  # core NATS: appended on the loop
        self._ready = threading.Event()
        self._pending: dict[int, list[Any]] = {}
        self._pending_lock = threading.Lock()
        self._keepalive: asyncio.Future[None] | None = None
        self._in_flight = 0
        self._seq = 0
        self._ids = itertools.count()
        self._stopped = False

    # -- life cycle ----------------------------------------------------------------------
    def open(self) -> None:
        self._loop = LoopThread(f"conduix-nats-{self.id}").start()
        try:
            self._loop.run(self._open(), cancel_if=lambda: self._stopped)
        except Cancelled:  # asked to stop while still connecting: nothing was read, nothing to drain
            logger.info("source %r stopped before it could connect", self.id)
            return
        except BaseException:
            self.close()  # the runtime does not close a component whose open() failed: stop the loop here
            raise
        logger.info("nats source %r reading %s%s", self.id, ", ".join(self.config.subjects),
                    f" from stream {self.config.jetstream.stream}" if self.config.jetstream else "")

    async def _open(self) -> None:
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
        while len(inbox) >= self.config.max_in_flight:  # full: nats-py's own pending limit applies meanwhile
            await asyncio.sleep(0.005)
        inbox.append(msg)
        if not self._ready.is_set():
            self._ready.set()

    def stop(self) -> None:
        self._stopped = True

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return
        self._closing = True
        with self._ack_lock:
            acking = list(self._acking)
        concurrent.futures.wait(acking, timeout=10)  # acks go out before the connection closes
        loop.shut_down(self._close if self._nc is not None else None, f"nats source {self.id!r}")
        self._loop = None

    async def _close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        with self._pending_lock:
            unacked = [m for msgs in self._pending.values() for m in msgs]
            self._pending.clear()
        if unacked and self.config.jetstream is not None:
            delay = self.config.jetstream.nak_delay
            logger.info("nats source %r: nak'ing %d unacknowledged message(s), redelivered in %.1fs",
                        self.id, len(unacked), delay)
            for msg in unacked:
                try:
                    await msg.nak(delay=delay)
                except Exception as exc:  # the server redelivers after ack_wait anyway
                    logger.warning("nats source %r: nak failed (%s); redelivery after ack_wait", self.id, exc)
                    break
        try:
            await self._nc.flush(timeout=5)
        except Exception as exc:
            logger.debug("nats source %r: flush at close failed: %s", self.id, exc)
        await self._nc.close()

    # -- reading -------------------------------------------------------------------------
    def read(self, max_records: int) -> Batch | None:
        assert self._loop is not None
        if self._stopped:
            return Batch([])
        cfg = self.config
        room = cfg.max_in_flight - self._in_flight
        if room <= 0:
            return Batch([])  # wait for acknowledgements before reading more
        wanted = min(max_records, room)
        try:
            if cfg.jetstream is None:
                msgs = self._take(wanted, 0.1)
            else:
                msgs = self._loop.run(self._fetch(wanted, cfg.jetstream.fetch_timeout), timeout=30)
        except Exception as exc:
            if is_transient(exc):
                raise RetryableError(f"nats source {self.id!r}: {type(exc).__name__}: {exc}") from exc
            raise
        if not msgs:
            return Batch([])
        return self._batch(msgs)

    def _take(self, wanted: int, wait: float) -> list[Any]:
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
            return list(await asyncio.wait_for(self._psub.fetch(batch=wanted, timeout=timeout), timeout + 2))
        except (nats.errors.TimeoutError, asyncio.TimeoutError):
            return []

    def _batch(self, msgs: list[Any]) -> Batch:
        cfg = self.config
        fmt = cfg.format
        js = cfg.jetstream is not None
        records: list[dict[str, Any]] = []
        meta: list[dict[str, Any]] = []
        rejects: list[Rejected] = []
        source = self.id
        for msg in msgs:
            self._seq += 1
            m: dict[str, Any] = {"source": source, "subject": msg.subject}
            if msg.headers:
                m["headers"] = dict(msg.headers)
            if js:
                md = msg.metadata
                m["stream"] = md.stream
                m["stream_seq"] = md.sequence.stream
                m["num_delivered"] = md.num_delivered
                m["position"] = f"{md.stream}#{md.sequence.stream}"
            elif msg.reply:
                m["reply"] = msg.reply
            try:
                records.append(decode_payload(msg.data, fmt))
            except ValueError as exc:
                m.setdefault("position", f"{msg.subject}#{self._seq}")  # core NATS: where the reject came from
                rejects.append(Rejected(str(exc), record={"message": msg.data.decode("utf-8", errors="replace")},
                                        meta=m))
                continue
            meta.append(m)
        position: int | None = None
        if js:
            position = next(self._ids)
            with self._pending_lock:
                self._pending[position] = msgs
            self._in_flight += len(msgs)
        return Batch(records, meta, position=position, rejects=rejects or None)

    # -- acknowledgement -----------------------------------------------------------------
    def _track(self, future: concurrent.futures.Future[None]) -> None:
        with self._ack_lock:
            self._acking.add(future)
        future.add_done_callback(self._untrack)

    def _untrack(self, future: concurrent.futures.Future[None]) -> None:
        with self._ack_lock:
            self._acking.discard(future)

    def acknowledge(self, position: Any) -> None:
        if position is None:
            return
        with self._pending_lock:
            msgs = self._pending.pop(position, None)
        if not msgs:
            return
        self._in_flight -= len(msgs)
        assert self._loop is not None
        # a lost ack means a redelivery, never a loss
        self._track(self._loop.submit(self._ack(msgs)))

    async def _ack(self, msgs: list[Any]) -> None:
        for msg in msgs:
            try:
                await msg.ack()
            except Exception as exc:
                logger.warning("nats source %r: ack of %d message(s) failed (%s); the server redelivers them "
                               "after ack_wait", self.id, len(msgs), exc)
                return
