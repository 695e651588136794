"""What the NATS and AMQP sources and sinks share: an asyncio client library driven from a component's thread.

:class:`AsyncClient` owns the event-loop thread (:class:`~conduix_messaging._loop.LoopThread`): ``open()``
connects on it and gives up when ``stop()`` comes first, a failed ``open()`` closes what it started (the
runtime closes only components that opened), ``close()`` disconnects and stops the loop, and failures a
reconnect can cure become ``RetryableError``. :class:`MessageSource` adds reading messages in batches and
handing them back (ack, nack); :class:`PublishingSink` publishing a batch so that a retried ``write``
resumes where the last attempt stopped (what the server already confirmed is not sent again).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
from collections.abc import Coroutine
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

import orjson

from conduix.connector import Batch, ConnectorError, Rejected, RetryableError, SharedMeta, trace_headers
from conduix_messaging._common import decode_payload
from conduix_messaging._loop import Cancelled, LoopThread

__all__ = ["AsyncClient", "MessageSource", "PublishingSink", "outcomes"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
loads = orjson.loads


class AsyncClient:
    """The event loop and connection life cycle of one source or sink (a mixin before Source / Sink)."""

    protocol: ClassVar[str]
    """``nats`` or ``amqp``: names the loop thread and the component in messages."""

    id: str
    kind: ClassVar[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop: LoopThread | None = None
        self._closing = False  # close() runs: connection losses from now on are ours, not worth a warning
        self._stopped = False  # stop() came: open() gives up, a source reads no more

    @property
    def what(self) -> str:
        return f"{self.protocol} {self.kind} {self.id!r}"

    # -- to implement -----------------------------------------------------------------------
    async def _connect(self) -> None:
        """Connect (and subscribe, declare, ...), on the loop."""
        raise NotImplementedError

    async def _disconnect(self) -> None:
        """Close the connection, on the loop (after what is still owed to the server went out)."""
        raise NotImplementedError

    @staticmethod
    def is_transient(exc: BaseException) -> bool:
        """A failure that reconnecting or waiting can cure."""
        raise NotImplementedError

    # -- life cycle -------------------------------------------------------------------------
    def open(self) -> None:
        self._loop = LoopThread(f"conduix-{self.protocol}-{self.id}").start()
        try:
            self._loop.run(self._connect(), cancel_if=lambda: self._stopped)
        except Cancelled:  # asked to stop while still connecting: nothing was read or written
            self.close()
            if self.kind == "sink":  # the runtime then hands what waited for this sink back to its sources
                raise ConnectorError(f"{self.what} stopped before it could connect") from None
            logger.info("%s stopped before it could connect", self.what)
            return
        except BaseException:
            self.close()  # the runtime does not close a component whose open() failed: stop the loop here
            raise
        self._connected()

    def _connected(self) -> None:
        """Called once ``open()`` connected (a log line saying what was connected to)."""

    def stop(self) -> None:
        self._stopped = True

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return
        self._closing = True
        self._before_close()
        loop.shut_down(self._disconnect, self.what)
        self._loop = None

    def _before_close(self) -> None:
        """In the component's thread, before the connection is closed."""

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait; a failure reconnecting can cure becomes a RetryableError."""
        assert self._loop is not None, f"{self.what} is not open"
        try:
            return self._loop.run(coro, timeout=timeout)
        except Exception as exc:
            if self.is_transient(exc):
                raise RetryableError(f"{self.what}: {type(exc).__name__}: {exc}") from exc
            raise


class MessageSource(AsyncClient):
    """Reads messages in batches (``_receive``), one record per message; a batch's messages are kept until
    every sink wrote them (``acknowledge``) or the runtime gives them back (``nack``). Acks going out are
    waited for at close."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[int, list[Any]] = {}  # position -> the messages of the batch, until settled
        self._pending_lock = threading.Lock()
        self._ids = itertools.count()
        self._settling: set[concurrent.futures.Future[None]] = set()
        self._settling_lock = threading.Lock()
        self._settle_order = asyncio.Lock()

    # -- to implement -----------------------------------------------------------------------
    async def _receive(self, wanted: int) -> list[Any]:
        """Up to ``wanted`` messages, waiting a little for the first one; on the loop."""
        raise NotImplementedError

    def _meta(self, message: Any) -> dict[str, Any]:
        """The record metadata of a message (``source`` and ``position`` are set here)."""
        raise NotImplementedError

    _body: ClassVar[attrgetter[bytes]]
    """The body of a message: an ``operator.attrgetter``, so that a batch's bodies are read in C."""

    def _keeps(self, messages: list[Any]) -> bool:
        """Whether the batch's messages wait for an acknowledgement (False: best effort, no position)."""
        return True

    # -- reading ----------------------------------------------------------------------------
    def read(self, max_records: int) -> Batch | None:
        if self._stopped:
            return Batch([])
        messages = self._take(max_records)
        if not messages:
            return Batch([])
        return self._batch(messages)

    def _take(self, wanted: int) -> list[Any]:
        return self.call(self._receive(wanted), timeout=30)

    def _metas(self, messages: list[Any]) -> list[dict[str, Any]] | SharedMeta:
        """The metadata of messages that all became records (a source may build them faster together)."""
        meta = self._meta
        return [meta(message) for message in messages]

    def _batch(self, messages: list[Any]) -> Batch:
        fmt = self.config.format  # type: ignore[attr-defined]
        if fmt == "json":  # the common case: every body a JSON object, decoded in one pass
            try:
                records = list(map(loads, map(self._body, messages)))
            except orjson.JSONDecodeError:
                pass  # one is not JSON: the loop below rejects it and keeps the others
            else:
                if set(map(type, records)) != {dict}:
                    records = [value if type(value) is dict else {"message": value} for value in records]
                return self._batch_of(messages, records, self._metas(messages), None)
        records = []
        meta: list[dict[str, Any]] = []
        rejects: list[Rejected] = []
        for message in messages:
            m = self._meta(message)
            body = self._body(message)
            try:
                records.append(decode_payload(body, fmt))
            except ValueError as exc:
                text = body.decode("utf-8", errors="replace")
                raw = body if text.encode() != body else None  # bytes the text cannot give back
                rejects.append(Rejected(str(exc), record={"message": text}, meta=m, raw=raw))
                continue
            meta.append(m)
        return self._batch_of(messages, records, meta, rejects or None)

    def _batch_of(self, messages: list[Any], records: list[dict[str, Any]],
                  meta: list[dict[str, Any]] | SharedMeta, rejects: list[Rejected] | None) -> Batch:
        position: int | None = None
        if self._keeps(messages):
            position = next(self._ids)
            with self._pending_lock:
                self._pending[position] = messages
        return Batch(records, meta, position=position, rejects=rejects)

    def _take_pending(self, position: Any) -> list[Any] | None:
        with self._pending_lock:
            return self._pending.pop(position, None)

    def _all_pending(self) -> list[Any]:
        """Every message not acknowledged yet (at close), in the order they were read."""
        with self._pending_lock:
            messages = [m for position in sorted(self._pending) for m in self._pending[position]]
            self._pending.clear()
        return messages

    # -- settling ---------------------------------------------------------------------------
    def settle(self, coro: Coroutine[Any, Any, None]) -> None:
        """Send acks / naks on the loop without waiting, one settling after the other in the order they were
        asked for (a multiple ack must not overtake a reject); close() waits for them (a lost one means a
        redelivery, never a loss)."""
        assert self._loop is not None
        future = self._loop.submit(self._in_order(coro))
        with self._settling_lock:
            self._settling.add(future)
        future.add_done_callback(self._settled)

    async def _in_order(self, coro: Coroutine[Any, Any, None]) -> None:
        async with self._settle_order:
            await coro

    def _settled(self, future: concurrent.futures.Future[None]) -> None:
        with self._settling_lock:
            self._settling.discard(future)

    def _before_close(self) -> None:
        with self._settling_lock:
            settling = list(self._settling)
        concurrent.futures.wait(settling, timeout=10)  # acks go out before the connection closes


class PublishingSink(AsyncClient):
    """Publishes each record as one message: ``write`` builds the messages (``_message``), publishes them
    (``_publish``) and sorts out what failed: transient failures make the runtime retry the batch, and the
    retry publishes only what was not confirmed yet; other failures reject their records (``on_error``)."""

    confirmed: ClassVar[str] = "confirmed"
    """How the server's word for a message is called in the retry message (confirmed, acknowledged...)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resume: tuple[Batch, set[int]] | None = None

    # -- to implement -----------------------------------------------------------------------
    def _message(self, record: dict[str, Any], traced: dict[str, str]) -> Any:
        """The message for one record (raises TypeError / ValueError when it cannot be built)."""
        raise NotImplementedError

    def _all_messages(self, records: list[dict[str, Any]], traced: dict[str, str]) -> list[Any]:
        """The messages of all ``records`` (raises as :meth:`_message` does); a sink may build them faster."""
        build = self._message
        return [build(record, traced) for record in records]

    async def _publish(self, messages: list[tuple[int, Any]], done: set[int]) -> list[tuple[int, BaseException]]:
        """Publish ``(index, message)`` pairs on the loop; add each confirmed index to ``done``; return the
        failures ``(index, error)``."""
        raise NotImplementedError

    def _publish_timeout(self) -> float:
        raise NotImplementedError

    def _describe(self, error: BaseException) -> str:
        """A permanent failure of one message, for the reject."""
        return f"{type(error).__name__}: {error}"

    def _hint(self, error: BaseException) -> str:
        """A hint added to the retry message, from its first transient failure."""
        return ""

    # -- writing ----------------------------------------------------------------------------
    def write(self, batch: Batch) -> list[Rejected] | None:
        # a retried batch resumes: what the server already confirmed is not published again
        done = self._resume[1] if self._resume is not None and self._resume[0] is batch else set()
        messages, rejected = self._messages(batch, done)
        if not messages:
            self._resume = None
            return rejected or None
        self._resume = (batch, done)
        failed = self.call(self._publish(messages, done), timeout=self._publish_timeout() + 10)
        retry: list[BaseException] = []
        for index, error in failed:
            if self.is_transient(error):
                retry.append(error)
            else:
                rejected.append(Rejected(self._describe(error), index=index))
                done.add(index)
        if retry:
            raise RetryableError(f"{self.what}: {len(retry)} of {len(messages)} message(s) not {self.confirmed} "
                                 f"({type(retry[0]).__name__}: {retry[0]}){self._hint(retry[0])}")
        self._resume = None
        return rejected or None

    def _messages(self, batch: Batch, done: set[int]) -> tuple[list[tuple[int, Any]], list[Rejected]]:
        out: list[tuple[int, Any]] = []
        rejected: list[Rejected] = []
        traced = trace_headers(batch)  # W3C trace context: the next pipeline continues the trace
        build = self._message
        if not done:  # the common case: every message builds, in one pass
            try:
                return list(enumerate(self._all_messages(batch.records, traced))), rejected
            except (TypeError, ValueError, KeyError):
                pass  # one cannot be built: the loop below rejects it and keeps the others
        for index, record in enumerate(batch.records):
            if done and index in done:
                continue
            try:
                out.append((index, build(record, traced)))
            except (TypeError, ValueError, KeyError) as exc:
                rejected.append(Rejected(f"cannot build the message: {exc}", index=index))
                done.add(index)
        return out, rejected


async def outcomes(messages: list[tuple[int, Any]], tasks: list[asyncio.Future[Any]], timeout: float,
                   done: set[int], word: str = "confirm") -> list[tuple[int, BaseException]]:
    """Wait at most ``timeout`` seconds for the publish ``tasks`` of ``messages``; add the confirmed indices to
    ``done`` and return the failures, counting a task still running then as failed (cancelled)."""
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)  # cancelled for good before they are looked at
    failed: list[tuple[int, BaseException]] = []
    for (index, _), task in zip(messages, tasks):
        if task.cancelled():
            failed.append((index, TimeoutError(f"no {word} within {timeout:g}s")))
        elif task.exception() is not None:
            failed.append((index, task.exception()))  # type: ignore[arg-type]
        else:
            done.add(index)
    return failed
