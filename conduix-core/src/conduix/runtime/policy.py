"""Error policies (stop / drop / dead_letter) and retries with backoff, applied by the runtime."""

from __future__ import annotations

import base64
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from conduix.components import Batch, Rejected
from conduix.config.model import ComponentPolicy, RetrySettings
from conduix.errors import ComponentError, RetryableError

__all__ = ["DEAD_LETTER", "Failure", "Retrier", "dead_letter_record", "describe_position"]

logger = logging.getLogger(__name__)

DEAD_LETTER = "dead_letter"
T = TypeVar("T")


class Aborted(Exception):
    """The run is being torn down after a failure; leave quietly."""


@dataclass
class Failure:
    """One record that failed for good, with what is known of where it came from."""

    record: dict[str, Any]
    meta: dict[str, Any]
    error: BaseException | str
    position: str
    raw: bytes | None = None
    """The input exactly as the source read it, when ``record`` could not hold it (bytes that do not decode)."""

    @classmethod
    def of(cls, batch: Batch, error: BaseException | str, index: int | None = None, *,
           record: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> Failure:
        """Record ``index`` of ``batch`` (or the ``record`` and ``meta`` given, e.g. a source's reject)."""
        if index is not None:
            record = batch.records[index] if record is None else record
            meta = batch.meta_at(index) if meta is None else meta
        return cls(record or {}, meta or {}, error, describe_position(batch, index, meta or {}))

    @classmethod
    def rejected(cls, batch: Batch, reject: Rejected) -> Failure:
        """What a component handed back as :class:`~conduix.components.Rejected`."""
        failure = cls.of(batch, reject.error, reject.index, record=reject.record, meta=reject.meta)
        failure.raw = reject.raw
        return failure


class Retrier:
    """Calls a function, repeating it on RetryableError with exponential backoff and jitter."""

    def __init__(self, settings: RetrySettings, aborted: threading.Event, kind: str, component: str,
                 stats: Any = None) -> None:
        self.settings = settings
        self.aborted = aborted
        self.kind = kind
        self.component = component
        self.stats = stats

    def delay(self, attempt: int) -> float:
        s = self.settings
        base = min(s.max, s.initial * s.multiplier ** (attempt - 1))
        return max(0.0, base * (1 + random.uniform(-s.jitter, s.jitter)))

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn(*args)
            except RetryableError as exc:
                limit = self.settings.max_attempts
                if limit is not None and attempt >= limit:
                    raise ComponentError(f"{self.kind} {self.component!r} gave up after {attempt} attempts: "
                                         f"{exc}", component=self.component) from exc
                wait = exc.retry_after if exc.retry_after is not None else self.delay(attempt)
                if self.stats is not None:
                    self.stats.retries += 1
                level = logging.WARNING if attempt & (attempt - 1) == 0 else logging.DEBUG  # 1, 2, 4, 8, ...
                logger.log(level, "%s %r: %s; retry %d in %.2fs", self.kind, self.component, exc, attempt, wait)
                if self.aborted.wait(wait):
                    raise Aborted from None


def describe_position(batch: Batch, index: int | None, meta: dict[str, Any] | None = None) -> str:
    """Where a record came from, as precisely as its metadata tells."""
    meta = meta if meta is not None else (batch.meta_at(index) if index is not None else {})
    if "file" in meta and "line" in meta:
        return f"{meta['file']}:{meta['line']}"
    if "topic" in meta and "partition" in meta and "offset" in meta:
        return f"{meta['topic']}[{meta['partition']}]@{meta['offset']}"
    for key in ("offset", "line", "position"):
        if key in meta:
            return f"{key} {meta[key]}"
    pos = batch.position
    if index is not None and isinstance(pos, tuple) and len(pos) == 2 and isinstance(pos[0], int):
        return f"sequence {pos[0] + index}"
    if index is not None:
        return f"index {index} of the batch at {pos!r}"
    return f"the batch at {pos!r}"


def dead_letter_record(failure: Failure, component: str, pipeline: str) -> dict[str, Any]:
    """What a dead-letter output carries for one failed record."""
    error = failure.error
    letter = {
        "record": failure.record,
        "error": str(error),
        "error_type": type(error).__name__ if isinstance(error, BaseException) else "Error",
        "component": component,
        "pipeline": pipeline,
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "position": failure.position,
        "metadata": failure.meta,
    }
    if failure.raw is not None:
        letter["raw_base64"] = base64.b64encode(failure.raw).decode("ascii")
    return letter


def apply_policy(policy: ComponentPolicy, failures: list[Failure], *, kind: str, component: str,
                 pipeline: str, batch: Batch, emit: Callable[..., None], stats: Any) -> None:
    """Send failed records where ``on_error`` says; ``stop`` raises naming the first one."""
    if not failures:
        return
    first = failures[0]
    if policy.on_error == "stop":
        error = ComponentError(f"{kind} {component!r} failed on the record at {first.position}: "
                               f"{_describe(first.error)}"
                               + (f" (and {len(failures) - 1} more records)" if len(failures) > 1 else ""),
                               component=component, position=first.position)
        if isinstance(first.error, BaseException):
            error.__cause__ = first.error
        raise error
    for failure in failures:
        stats.count_error(failure.error)
    if policy.on_error == "drop":
        stats.dropped += len(failures)
        logger.warning("%s %r dropped %d record(s); first at %s: %s", kind, component, len(failures),
                       first.position, _describe(first.error))
        return
    stats.dead_letters += len(failures)
    logger.info("%s %r sent %d record(s) to %s.%s; first at %s: %s", kind, component, len(failures),
                component, DEAD_LETTER, first.position, _describe(first.error))
    records = [dead_letter_record(f, component, pipeline) for f in failures]
    emit(batch.derive(records, [f.meta for f in failures]), DEAD_LETTER)


def _describe(error: BaseException | str) -> str:
    if isinstance(error, ComponentError):
        return str(error)
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return error
