"""What to supervise: plain, picklable descriptions of a supervision tree.

The pipeline runtime builds these from the configuration (the hierarchical
``type: actor`` format, or a default tree for the flat format) and hands the
root to :meth:`conduix.supervision.SupervisionSystem.start`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from conduix.errors import ConfigError

__all__ = ["BackoffSpec", "ChildSpec", "Strategy", "SupervisorSpec", "TaskSpec", "WorkerSpec"]

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


@dataclass(frozen=True)
class TaskSpec:
    """How a worker process builds its task: ``factory`` is ``"module:function"``.

    The function is imported and called with ``**kwargs`` inside the worker
    process and must return a :class:`conduix.supervision.task.WorkerTask`.
    ``kwargs`` travel pickled, so keep them plain data (config dicts, ids).
    """

    factory: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        module, _, name = self.factory.partition(":")
        if not module or not name:
            raise ConfigError(f"task factory {self.factory!r} must look like 'package.module:function'")


@dataclass(frozen=True)
class BackoffSpec:
    """Delay before a restart: ``initial * multiplier ** n`` capped at ``max``, n = restarts so far in the
    window; ``jitter`` is a fraction (0.1 = up to 10% shorter or longer) spreading simultaneous restarts."""

    initial: float = 1.0
    max: float = 16.0
    multiplier: float = 2.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.max < self.initial:
            raise ConfigError(f"backoff needs 0 <= initial <= max, got initial={self.initial} max={self.max}")
        if self.multiplier < 1:
            raise ConfigError(f"backoff multiplier must be >= 1, got {self.multiplier}")
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"backoff jitter must be in [0, 1), got {self.jitter}")


@dataclass(frozen=True)
class WorkerSpec:
    """One worker process running one task (for example one slice of a pipeline).

    ``heartbeat_timeout``: a worker that answers no status ping for this long
    (counted from its creation) is killed and restarted. ``stop_timeout``: how
    long a graceful stop may take before the process is killed.
    """

    id: str
    task: TaskSpec
    heartbeat_timeout: float = 10.0
    stop_timeout: float = 5.0

    def __post_init__(self) -> None:
        _check_id(self.id)
        if self.heartbeat_timeout <= 0 or self.stop_timeout <= 0:
            raise ConfigError(f"worker {self.id!r}: heartbeat_timeout and stop_timeout must be > 0")


@dataclass(frozen=True)
class SupervisorSpec:
    """A supervisor and its children, restarted by ``strategy`` within a budget.

    More than ``max_restarts`` restarts within ``within_seconds`` and the
    supervisor gives up: it stops its children and escalates to its parent
    (which counts that as a failure of this supervisor); the root pauses the
    tree instead, keeping the reason, until resumed.
    """

    id: str
    children: list[ChildSpec] = field(default_factory=list)
    strategy: Strategy = "one_for_one"
    max_restarts: int = 3
    within_seconds: float = 60.0
    backoff: BackoffSpec = field(default_factory=BackoffSpec)
    heartbeat_timeout: float = 10.0

    def __post_init__(self) -> None:
        _check_id(self.id)
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"supervisor {self.id!r}: unknown strategy {self.strategy!r}",
                hint=f"use one of {', '.join(STRATEGIES)}",
            )
        if self.max_restarts < 0 or self.within_seconds <= 0:
            raise ConfigError(f"supervisor {self.id!r}: needs max_restarts >= 0 and within_seconds > 0")
        seen: set[str] = set()
        for child in self.children:
            if not isinstance(child, (WorkerSpec, SupervisorSpec)):
                raise ConfigError(f"supervisor {self.id!r}: child {child!r} is not a WorkerSpec or SupervisorSpec")
            if child.id in seen:
                raise ConfigError(f"supervisor {self.id!r}: two children are named {child.id!r}")
            seen.add(child.id)

    def walk(self) -> list[ChildSpec]:
        """This supervisor and every descendant, depth first."""
        found: list[ChildSpec] = [self]
        for child in self.children:
            found.extend(child.walk() if isinstance(child, SupervisorSpec) else [child])
        return found


ChildSpec = WorkerSpec | SupervisorSpec


def _check_id(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"a supervision id must be a non-empty string, got {value!r}")
