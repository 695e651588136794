"""``nats`` sink: core publish (flushed) or JetStream publish, returning only once the server acked."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from pydantic import Field

from conduix.components import Batch, ComponentConfig, Context, Rejected, Sink
from conduix.errors import ConfigError, RetryableError
from conduix.observability.tracing import trace_headers
from conduix_messaging._common import PayloadFormat, Template, encode_record
from conduix_messaging._loop import LoopThread
from conduix_messaging.nats._connection import NatsConnectionConfig, connect, is_transient

__all__ = ["JetStreamSinkConfig", "NatsSink", "NatsSinkConfig"]

logger = logging.getLogger(__name__)


class JetStreamSinkConfig(ComponentConfig):
    expected_stream: str | None = Field(None, description="Fail unless the subject belongs to this stream.")
    ack_timeout: float = Field(5.0, gt=0, description="Seconds to wait for the stream's acks of one batch.")
    msg_id: str | None = Field(None, description="Template of the Nats-Msg-Id header ('{id}'): the stream "
                               "drops duplicates of a retried publish within its duplicate window.")


class NatsSinkConfig(NatsConnectionConfig):
    subject: str = Field(..., description="Subject to publish to; '{field}' is filled from each record "
                         "(orders.{region}).")
    jetstream: JetStreamSinkConfig | None = Field(None, description="Publish to JetStream and wait for the "
                                                  "stream's ack of every message (at-least-once).")
    format: PayloadFormat = Field("json", description="'json': the record as JSON; 'text'/'bytes': the value "
                                  "of 'field'.")
    field: str = Field("message", description="The record field sent with format text/bytes.")
    headers: dict[str, str] = Field(default_factory=dict, description="Headers on every message; values are "
                                    "templates too.")
    flush_timeout: float = Field(5.0, gt=0, description="Core NATS: seconds for the server to confirm a batch "
                                 "was received (flush).")


class NatsSink(Sink[NatsSinkConfig]):
    """Publishes each record as one message. A batch counts as written when the server confirmed it:
    the JetStream ack of every message, or (core NATS) a flush round trip."""

    Config = NatsSinkConfig

    def __init__(self, config: NatsSinkConfig, context: Context) -> None:
        super().__init__(config, context)
        self.subject = Template(config.subject, what="subject")
        self.header_templates = {k: Template(v, what=f"header {k!r}") for k, v in config.headers.items()}
        js = config.jetstream
        self.msg_id = Template(js.msg_id, what="msg_id") if js is not None and js.msg_id else None
        if self.subject.static and any(c in config.subject for c in "*> "):
            raise ConfigError(f"sink {context.component_id!r}: cannot publish to subject {config.subject!r}",
                              path="subject", hint="wildcards and spaces are for subscriptions")
        self._plain = self.subject.static and not config.headers and self.msg_id is None and config.format == "json"
        self._loop: LoopThread | None = None
        self._closing = False
        self._nc: Any = None
        self._js: Any = None
        self._resume: tuple[Batch, set[int]] | None = None

    def open(self) -> None:
        self._loop = LoopThread(f"conduix-nats-{self.id}").start()
        try:
            self._loop.run(self._open())
        except BaseException:
            self.close()  # the runtime does not close a component whose open() failed: stop the loop here
            raise

    async def _open(self) -> None:
        self._nc = await connect(self.config, self.id, lambda: self._closing)
        if self.config.jetstream is not None:
            self._js = self._nc.jetstream(timeout=self.config.jetstream.ack_timeout)

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return
        self._closing = True
        nc = self._nc
        loop.shut_down(nc.drain if nc is not None else None, f"nats sink {self.id!r}")
        self._loop = None

    # -- writing -------------------------------------------------------------------------
    def write(self, batch: Batch) -> list[Rejected] | None:
        assert self._loop is not None
        # a retried batch resumes: what the server already acked is not sent again
        done = self._resume[1] if self._resume is not None and self._resume[0] is batch else set()
        messages, rejected = self._messages(batch, done)
        if not messages:
            return rejected or None
        try:
            if self._js is not None:
                failed = self._loop.run(self._publish_js(messages, done), timeout=self._js_timeout() + 10)
            else:
                failed = self._loop.run(self._publish_core(messages), timeout=self.config.flush_timeout + 10)
        except Exception as exc:
            self._resume = (batch, done)
            if is_transient(exc):
                raise RetryableError(f"nats sink {self.id!r}: {type(exc).__name__}: {exc}") from exc
            raise
        retry: list[BaseException] = []
        for index, error in failed:
            if is_transient(error):
                retry.append(error)
            else:
                rejected.append(Rejected(f"{type(error).__name__}: {error}", index=index))
                done.add(index)
        if retry:
            self._resume = (batch, done)
            from nats.js.errors import NoStreamResponseError

            hint = ("; no stream listens on the subject: create one, or check 'subject'"
                    if isinstance(retry[0], NoStreamResponseError) else "")
            raise RetryableError(f"nats sink {self.id!r}: {len(retry)} of {len(messages)} message(s) not "
                                 f"acknowledged by the stream ({type(retry[0]).__name__}: {retry[0]}){hint}")
        self._resume = None
        return rejected or None

    def _js_timeout(self) -> float:
        assert self.config.jetstream is not None
        return self.config.jetstream.ack_timeout

    def _messages(self, batch: Batch, done: set[int]) -> tuple[list[tuple[int, str, bytes, Any]], list[Rejected]]:
        cfg = self.config
        out: list[tuple[int, str, bytes, Any]] = []
        rejected: list[Rejected] = []
        traced = trace_headers(batch) or None  # W3C trace context: the next pipeline continues the trace
        if self._plain:  # the common case, kept lean: one subject, the record as JSON, no other headers
            dumps = orjson.dumps
            text = cfg.subject
            for index, record in enumerate(batch.records):
                if done and index in done:
                    continue
                try:
                    out.append((index, text, dumps(record, default=str), traced))
                except TypeError as exc:
                    rejected.append(Rejected(f"cannot build the message: {exc}", index=index))
                    done.add(index)
            return out, rejected
        subject = self.subject
        headers = self.header_templates
        msg_id = self.msg_id
        for index, record in enumerate(batch.records):
            if index in done:
                continue
            try:
                subj = subject.render(record)
                data = encode_record(record, cfg.format, cfg.field)
                hdr = {k: t.render(record) for k, t in headers.items()} or None
                if msg_id is not None:
                    hdr = {**(hdr or {}), "Nats-Msg-Id": msg_id.render(record)}
                if traced:
                    hdr = {**(hdr or {}), **traced}
            except (KeyError, TypeError, ValueError) as exc:
                rejected.append(Rejected(f"cannot build the message: {exc}", index=index))
                done.add(index)
                continue
            out.append((index, subj, data, hdr))
        return out, rejected

    async def _publish_core(self, messages: list[tuple[int, str, bytes, Any]]) -> list[tuple[int, BaseException]]:
        import nats.errors

        nc = self._nc
        failed: list[tuple[int, BaseException]] = []
        for index, subj, data, hdr in messages:
            try:
                await nc.publish(subj, data, headers=hdr)
            except nats.errors.MaxPayloadError as exc:
                failed.append((index, exc))
        await nc.flush(timeout=self.config.flush_timeout)  # the server has everything sent before this
        return failed

    async def _publish_js(self, messages: list[tuple[int, str, bytes, Any]],
                          done: set[int]) -> list[tuple[int, BaseException]]:
        # concurrent requests over the connection's shared reply inbox; js.publish_async is not used
        # because nats-py 2.x drops its API errors (wrong stream, ...) into the error callback
        js = self._js
        timeout = self._js_timeout()
        assert self.config.jetstream is not None
        stream = self.config.jetstream.expected_stream
        tasks = [asyncio.ensure_future(js.publish(subj, data, timeout=timeout, stream=stream, headers=hdr))
                 for _, subj, data, hdr in messages]
        _, pending = await asyncio.wait(tasks, timeout=timeout + 1)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)  # cancelled for good before they are looked at
        failed: list[tuple[int, BaseException]] = []
        for (index, _, _, _), task in zip(messages, tasks):
            if task.cancelled():
                failed.append((index, TimeoutError(f"no ack within {timeout}s")))
            elif task.exception() is not None:
                failed.append((index, task.exception()))
            else:
                done.add(index)
        return failed
