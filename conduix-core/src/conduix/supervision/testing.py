"""A :class:`WorkerTask` for tests and demos: a sequence-number source with a file sink.

``sequence_task`` writes ``0, 1, 2, ...`` one per line to ``<directory>/<worker_id>.out``
and checkpoints the next number to write (a :class:`FileCheckpointStore` in
``<directory>/checkpoints``) every ``checkpoint_every`` records and on a graceful
stop; a restarted task resumes from its checkpoint, so a checker finds no gap
and at most ``checkpoint_every`` duplicates per crash. Every start and stop is
appended to ``<directory>/events.log`` (``start <worker_id> <pid> <resume_from>``)
so tests can check which workers restarted, and in which order.

``spin=N`` burns CPU for each record (a CPU-bound stage), ``interval=0`` writes
as fast as it can: together they show one worker process per core scaling.

Failure injection: ``fail_at=N`` fails once record ``N`` is written, either by
raising in the task thread (``fail_mode="raise"``) or by blocking in
``status()`` so the worker stops answering heartbeats (``fail_mode="hang"``).
With ``fail_once=True`` only the first incarnation fails; with ``fail_while=PATH``
only while that file exists (a crash loop a test can end).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Literal

from conduix.checkpoint import FileCheckpointStore

__all__ = ["SequenceTask", "read_events", "read_sequence", "sequence_task"]


class SequenceTask:
    """See the module docstring."""

    def __init__(self, worker_id: str, directory: str | os.PathLike[str], *, interval: float = 0.005,
                 checkpoint_every: int = 10, fail_at: int | None = None,
                 fail_mode: Literal["raise", "hang"] = "raise", fail_once: bool = False,
                 fail_while: str | None = None, limit: int | None = None, spin: int = 0) -> None:
        self.worker_id = worker_id
        self.directory = Path(directory)
        self.interval = interval
        self.checkpoint_every = checkpoint_every
        self.fail_at = fail_at
        self.fail_mode = fail_mode
        self.fail_once = fail_once
        self.fail_while = fail_while
        self.limit = limit
        self.spin = spin
        self.store = FileCheckpointStore(self.directory / "checkpoints")
        self.error: BaseException | None = None
        self.next = 0
        self.resumed_from = 0
        self._stop = threading.Event()
        self._hang = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"task-{worker_id}", daemon=True)

    def _event(self, text: str) -> None:
        with open(self.directory / "events.log", "a") as events:
            events.write(f"{text}\n")

    def _checkpoint(self) -> None:
        now = time.time()
        self.store.save(self.worker_id, {
            "pipeline": self.worker_id, "timestamp": now, "processed_count": self.next,
            "sources": {"sequence": {"timestamp": now, "position": {"next": self.next}}}, "stages": {},
        })

    def start(self) -> None:
        checkpoint = self.store.load(self.worker_id)
        if checkpoint is not None:
            self.next = self.resumed_from = int(checkpoint["sources"]["sequence"]["position"]["next"])
        self._event(f"start {self.worker_id} {os.getpid()} {self.next}")
        self._thread.start()

    def _should_fail(self) -> bool:
        if self.fail_at is None or self.next < self.fail_at:
            return False
        if self.fail_while is not None and not os.path.exists(self.fail_while):
            return False
        marker = self.directory / f"{self.worker_id}.failed"
        if self.fail_once and marker.exists():
            return False
        marker.touch()
        return True

    def _run(self) -> None:
        try:
            with open(self.directory / f"{self.worker_id}.out", "a", buffering=1) as out:
                while not self._stop.is_set() and (self.limit is None or self.next < self.limit):
                    if self._should_fail():
                        if self.fail_mode == "hang":
                            self._hang.set()
                            self._stop.wait()
                            return
                        raise RuntimeError(f"{self.worker_id}: injected failure at record {self.next}")
                    if self.spin:
                        _burn(self.spin)
                    out.write(f"{self.next}\n")
                    self.next += 1
                    if self.next % self.checkpoint_every == 0:
                        self._checkpoint()
                    if self.interval:
                        time.sleep(self.interval)
            self._checkpoint()
            self._event(f"stop {self.worker_id} {os.getpid()} {self.next}")
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def status(self) -> dict[str, Any]:
        if self._hang.is_set():
            threading.Event().wait()  # a deadlocked task: the worker stops answering
        return {"next": self.next, "resumed_from": self.resumed_from}


def _burn(iterations: int) -> int:
    """CPU-bound work standing in for an expensive stage (``spin`` iterations per record)."""
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def sequence_task(**kwargs: Any) -> SequenceTask:
    """Task factory for :class:`conduix.supervision.TaskSpec`: ``"conduix.supervision.testing:sequence_task"``."""
    return SequenceTask(**kwargs)


def read_events(directory: str | os.PathLike[str]) -> list[tuple[str, str, int, int]]:
    """``(event, worker_id, pid, position)`` lines of ``events.log``, in order."""
    path = Path(directory) / "events.log"
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        kind, worker, pid, position = line.split()
        events.append((kind, worker, int(pid), int(position)))
    return events


def read_sequence(directory: str | os.PathLike[str], worker_id: str) -> list[int]:
    """The numbers a sequence task wrote, in order (a torn last line from a kill is dropped)."""
    path = Path(directory) / f"{worker_id}.out"
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]
    return [int(line) for line in lines if line]
