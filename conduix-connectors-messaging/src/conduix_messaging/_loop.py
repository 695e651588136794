"""A dedicated asyncio event loop in a thread, owned by one component.

nats-py and aio-pika are asyncio libraries while Conduix components run in
plain threads. Each connector starts one loop thread in ``open()`` and stops it
in ``close()``; the component's thread hands coroutines over with
:meth:`LoopThread.run` (waits for the result) or :meth:`LoopThread.submit`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["Cancelled", "LoopThread"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Cancelled(Exception):
    """:meth:`LoopThread.run` gave up because its ``cancel_if`` became true."""


class LoopThread:
    """An event loop running in its own daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._on_loop_error)
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = False

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Connection errors left in futures nobody awaits (the clients' own bookkeeping when a link
        drops) are expected during an outage: noted at debug level, without formatting a traceback
        in whatever thread the garbage collector finalizes them. Anything else: asyncio's default."""
        exc = context.get("exception")
        if exc is not None and (isinstance(exc, (OSError, asyncio.CancelledError))
                                or type(exc).__module__.split(".")[0] in ("aiormq", "aio_pika", "nats")):
            logger.debug("%s: %s: %s: %s", self.name, context.get("message"), type(exc).__name__, exc)
            return
        loop.default_exception_handler(context)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # cancel whatever is still pending so the loop closes cleanly
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def start(self) -> LoopThread:
        self._thread.start()
        self._started = True
        return self

    @property
    def running(self) -> bool:
        return self._started and self._thread.is_alive()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None,
            cancel_if: Callable[[], bool] | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (raises what it raised); gives up after
        ``timeout`` seconds, or as soon as ``cancel_if()`` is true (checked every 0.1 s)."""
        future = self.submit(coro)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = 0.1 if cancel_if is not None else None
            if deadline is not None:
                left = deadline - time.monotonic()
                step = left if step is None else min(step, left)
            try:
                return future.result(max(step, 0.0) if step is not None else None)
            except concurrent.futures.TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    future.cancel()
                    raise TimeoutError(f"{self.name}: no answer within {timeout}s") from None
                if cancel_if is not None and cancel_if():
                    future.cancel()
                    raise Cancelled(f"{self.name}: cancelled") from None

    def call_soon(self, callback: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(callback, *args)

    def shut_down(self, closing: Callable[[], Coroutine[Any, Any, Any]] | None, what: str) -> None:
        """Run ``closing()`` (closing a connection) on the loop when it runs, log if that fails, then stop."""
        try:
            if closing is not None and self.running:
                self.run(closing(), timeout=15)
        except Exception as exc:
            logger.warning("%s: closing the connection failed: %s", what, exc)
        finally:
            self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop (after pending callbacks) and wait for its thread."""
        if not self._started:
            self.loop.close()
            return
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("event loop thread %s did not stop within %.0fs", self.name, timeout)
