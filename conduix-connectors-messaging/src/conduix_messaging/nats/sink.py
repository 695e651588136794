"""``nats`` sink: core publish (flushed) or JetStream publish, returning only once the server acked."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from pydantic import Field

from conduix.connector import Access, ComponentConfig, ConfigError, Context, Sink, Template, TemplateText
from conduix_messaging._client import PublishingSink, outcomes
from conduix_messaging._common import PayloadFormat, encode_record
from conduix_messaging.nats._connection import NatsConnectionConfig, connect, is_transient

__all__ = ["JetStreamSinkConfig", "NatsSink", "NatsSinkConfig"]

logger = logging.getLogger(__name__)


class JetStreamSinkConfig(ComponentConfig):
    expected_stream: str | None = Field(None, description="Fail unless the subject belongs to this stream.")
    ack_timeout: float = Field(5.0, gt=0, description="Seconds to wait for the stream's acks of one batch.")
    msg_id: TemplateText | None = Field(None, description="Template of the Nats-Msg-Id header ('{{ id }}'): the stream "
                               "drops duplicates of a retried publish within its duplicate window.")


class NatsSinkConfig(NatsConnectionConfig):
    subject: TemplateText = Field(..., description="Subject to publish to, a template: '{{ field }}' is filled "
                                  "from each record (orders.{{ region }}).")
    jetstream: JetStreamSinkConfig | None = Field(None, description="Publish to JetStream and wait for the "
                                                  "stream's ack of every message (at-least-once).")
    format: PayloadFormat = Field("json", description="'json': the record as JSON; 'text'/'bytes': the value "
                                  "of 'field'.")
    field: str = Field("message", description="The record field sent with format text/bytes.")
    headers: dict[str, TemplateText] = Field(default_factory=dict, description="Headers on every message; "
                                             "values are templates too.")
    flush_timeout: float = Field(5.0, gt=0, description="Core NATS: seconds for the server to confirm a batch "
                                 "was received (flush).")


class NatsSink(PublishingSink, Sink[NatsSinkConfig]):
    """Publishes each record as one message. A batch counts as written when the server confirmed it:
    the JetStream ack of every message, or (core NATS) a flush round trip."""

    Config = NatsSinkConfig
    protocol = "nats"
    is_transient = staticmethod(is_transient)
    confirmed = "acknowledged by the stream"

    @classmethod
    def access(cls, config: NatsSinkConfig) -> Access:
        return config.access()

    def __init__(self, config: NatsSinkConfig, context: Context) -> None:
        super().__init__(config, context)
        self.subject = Template(config.subject, option="subject")
        self.header_templates = {k: Template(v, option=f"headers.{k}") for k, v in config.headers.items()}
        js = config.jetstream
        self.msg_id = Template(js.msg_id, option="jetstream.msg_id") if js is not None and js.msg_id else None
        if self.subject.is_static and any(c in config.subject for c in "*> "):
            raise ConfigError(f"sink {context.component_id!r}: cannot publish to subject {config.subject!r}",
                              path="subject", hint="wildcards and spaces are for subscriptions")
        if self.subject.is_static and not config.headers and self.msg_id is None and config.format == "json":
            self._message = self._plain_message  # type: ignore[method-assign]
            self._all_messages = self._plain_messages  # type: ignore[method-assign]
        self._nc: Any = None
        self._js: Any = None

    async def _connect(self) -> None:
        self._nc = await connect(self.config, self.id, lambda: self._closing)
        if self.config.jetstream is not None:
            self._js = self._nc.jetstream(timeout=self.config.jetstream.ack_timeout)

    async def _disconnect(self) -> None:
        if self._nc is not None:
            await self._nc.drain()

    # -- writing -------------------------------------------------------------------------
    def _plain_message(self, record: dict[str, Any], traced: dict[str, str]) -> tuple[str, bytes, Any]:
        """The common case, kept lean: one subject, the record as JSON, no other headers."""
        return self.config.subject, orjson.dumps(record, default=str), traced or None

    def _plain_messages(self, records: list[dict[str, Any]], traced: dict[str, str]) -> list[tuple[str, bytes, Any]]:
        """:meth:`_plain_message` of every record, in one comprehension."""
        subject, headers, dumps = self.config.subject, traced or None, orjson.dumps
        return [(subject, dumps(record, default=str), headers) for record in records]

    def _message(self, record: dict[str, Any], traced: dict[str, str]) -> tuple[str, bytes, Any]:
        cfg = self.config
        hdr = {k: t.render(record) for k, t in self.header_templates.items()} or None
        if self.msg_id is not None:
            hdr = {**(hdr or {}), "Nats-Msg-Id": self.msg_id.render(record)}
        if traced:
            hdr = {**(hdr or {}), **traced}
        return self.subject.render(record), encode_record(record, cfg.format, cfg.field), hdr

    def _publish_timeout(self) -> float:
        jetstream = self.config.jetstream
        return jetstream.ack_timeout if jetstream is not None else self.config.flush_timeout

    def _hint(self, error: BaseException) -> str:
        from nats.js.errors import NoStreamResponseError

        return "; no stream listens on the subject: create one, or check 'subject'" \
            if isinstance(error, NoStreamResponseError) else ""

    async def _publish(self, messages: list[tuple[int, Any]], done: set[int]) -> list[tuple[int, BaseException]]:
        if self._js is None:
            return await self._publish_core(messages, done)
        # concurrent requests over the connection's shared reply inbox; js.publish_async is not used
        # because nats-py 2.x drops its API errors (wrong stream, ...) into the error callback
        js, timeout = self._js, self._publish_timeout()
        assert self.config.jetstream is not None
        stream = self.config.jetstream.expected_stream
        tasks = [asyncio.ensure_future(js.publish(subj, data, timeout=timeout, stream=stream, headers=hdr))
                 for _, (subj, data, hdr) in messages]
        return await outcomes(messages, tasks, timeout + 1, done, "ack")

    async def _publish_core(self, messages: list[tuple[int, Any]], done: set[int]) -> list[tuple[int, BaseException]]:
        import nats.errors

        nc = self._nc
        failed: list[tuple[int, BaseException]] = []
        for index, (subj, data, hdr) in messages:
            try:
                await nc.publish(subj, data, headers=hdr)
            except nats.errors.MaxPayloadError as exc:
                failed.append((index, exc))
        await nc.flush(timeout=self.config.flush_timeout)  # the server has everything sent before this
        return failed
