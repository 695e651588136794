"""ResilientClient: redis-py with reconnect backoff, a circuit breaker, a local read cache and metrics."""

from __future__ import annotations

import difflib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import pybreaker
import redis
from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.backoff import AbstractBackoff
from redis.retry import Retry

from conduix.durations import Seconds
from conduix.errors import ConfigError
from conduix.redaction import redact_url
from conduix_control.errors import RedisUnavailableError

__all__ = ["RedisMetrics", "ResilientClient", "ResilientSettings", "Subscription"]

logger = logging.getLogger(__name__)

_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError, OSError)


class ResilientSettings(BaseModel):
    """The README's ResilientClient settings, by its names. Durations are seconds or strings (``100ms``, ``30s``,
    ``5m``). Set them in the settings file (``redis:`` in the ``agent`` or ``control`` section), on the command
    line (``--redis NAME=VALUE``) or as ``CONDUIX_REDIS_<NAME>`` (upper case); see :meth:`load`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_retries: int = Field(0, ge=0, description="Reconnect attempts of a lost subscription before it gives up; "
                             "0: retry forever.")
    initial_backoff: Seconds = Field(0.1, gt=0, description="First wait before a reconnect or command retry.")
    max_backoff: Seconds = Field(30.0, gt=0, description="Longest wait between reconnect attempts.")
    backoff_multiplier: float = Field(2.0, ge=1, description="Factor between one wait and the next (with jitter).")
    failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open the circuit breaker.")
    success_threshold: int = Field(2, ge=1, description="Successful trial calls that close it again.")
    open_timeout: Seconds = Field(30.0, gt=0, description="How long the circuit stays open before a trial call.")
    enable_local_cache: bool = Field(True, description="Answer reads from a local cache while Redis is unavailable.")
    local_cache_ttl: Seconds = Field(300.0, gt=0, description="How long a read stays in that cache.")
    local_cache_max_size: int = Field(1000, ge=1, description="Entries in that cache.")
    command_retries: int = Field(1, ge=0, description="Retries of one command before it counts as a failure for "
                                 "the circuit breaker.")
    socket_timeout: Seconds = Field(1.0, gt=0, description="Connect and read timeout, so a paused Redis cannot "
                                    "hang a call.")

    @classmethod
    def load(cls, given: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None, *,
             given_wins: bool = True) -> ResilientSettings:
        """Settings from ``given`` (the settings file's ``redis:`` mapping or ``--redis`` options) and the
        ``CONDUIX_REDIS_<NAME>`` environment variables; ``given_wins``: the command line beats the environment,
        which beats the file. A bad value is one :class:`~conduix.errors.ConfigError` naming each setting."""
        env = os.environ if environ is None else environ
        from_env: dict[str, tuple[str, Any]] = {}
        for name in cls.model_fields:
            for variable in (f"CONDUIX_REDIS_{name.upper()}", *_OLD_NAMES.get(name, ())):
                if env.get(variable) is not None:
                    from_env[name] = (variable, env[variable])
                    break
        from_given: dict[str, tuple[str, Any]] = {}
        for key, value in (given or {}).items():
            name = str(key).replace("-", "_")
            from_given[name] = (f"Redis client setting {name}", value)
        merged = {**from_env, **from_given} if given_wins else {**from_given, **from_env}
        try:
            return cls.model_validate({name: value for name, (_, value) in merged.items()})
        except ValidationError as exc:
            raise ConfigError.collect([_setting_error(err, merged) for err in exc.errors(include_url=False)]) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ResilientSettings:
        """Defaults overridden by the ``CONDUIX_REDIS_<NAME>`` environment variables."""
        return cls.load(None, environ)


#: older environment variable names, still read
_OLD_NAMES = {
    "initial_backoff": ("CONDUIX_REDIS_BACKOFF_BASE",), "max_backoff": ("CONDUIX_REDIS_BACKOFF_CAP",),
    "failure_threshold": ("CONDUIX_REDIS_BREAKER_FAIL_MAX",),
    "success_threshold": ("CONDUIX_REDIS_BREAKER_SUCCESS_THRESHOLD",),
    "open_timeout": ("CONDUIX_REDIS_BREAKER_RESET_TIMEOUT",), "local_cache_ttl": ("CONDUIX_REDIS_CACHE_TTL",),
    "local_cache_max_size": ("CONDUIX_REDIS_CACHE_MAXSIZE",),
}


def _setting_error(err: Any, given: dict[str, tuple[str, Any]]) -> ConfigError:
    name = str(err["loc"][0]) if err["loc"] else "?"
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(name, list(ResilientSettings.model_fields), n=1, cutoff=0.6)
        return ConfigError(f"unknown Redis client setting {name!r}",
                           hint=f"did you mean {close[0]!r}?" if close else
                           f"the settings are: {', '.join(ResilientSettings.model_fields)}")
    where, value = given[name]
    message = str(err.get("ctx", {}).get("error") or err["msg"])
    description = ResilientSettings.model_fields[name].description
    return ConfigError(f"{where}={value!r}: {message}", hint=f"{name}: {description}")


class Backoff(AbstractBackoff):
    """``initial_backoff * backoff_multiplier ** (failures - 1)``, at most ``max_backoff``, with jitter (±20%)."""

    def __init__(self, settings: ResilientSettings) -> None:
        self.settings = settings

    def reset(self) -> None:
        pass

    def compute(self, failures: int) -> float:
        s = self.settings
        base = min(s.max_backoff, s.initial_backoff * s.backoff_multiplier ** max(0, failures - 1))
        return float(base * random.uniform(0.8, 1.2))


@dataclass
class RedisMetrics:
    """Counters of one client; ``latency_*`` are over successful calls."""

    requests: int = 0
    failures: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    reconnects: int = 0
    breaker_trips: int = 0
    latency_total: float = 0.0
    latency_max: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, float]:
        with self._lock:
            data: dict[str, float] = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        ok = data["requests"] - data["failures"]
        data["latency_avg"] = data["latency_total"] / ok if ok > 0 else 0.0
        return data

    def summary(self) -> dict[str, float]:
        """The counters under the original README's names (``TotalRequests``... ``AverageLatencyMs``), as the
        agent serves them in JSON; ``/metrics`` has them as ``conduix_redis_*`` (docs/observability.md)."""
        data = self.as_dict()
        return {"TotalRequests": data["requests"], "SuccessfulRequests": data["requests"] - data["failures"],
                "FailedRequests": data["failures"], "CacheHits": data["cache_hits"],
                "CacheMisses": data["cache_misses"], "ReconnectAttempts": data["reconnects"],
                "CircuitBreakerTrips": data["breaker_trips"], "AverageLatencyMs": data["latency_avg"] * 1000}

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


class _TripCounter(pybreaker.CircuitBreakerListener):
    def __init__(self, metrics: RedisMetrics, url: str) -> None:
        self.metrics = metrics
        self.url = url
        self.opened_at = 0.0

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        name = getattr(new_state, "name", str(new_state))
        if name == pybreaker.STATE_OPEN:
            self.opened_at = time.monotonic()
            self.metrics.add(breaker_trips=1)
            logger.warning("Redis at %s: circuit breaker open for %.0f s", self.url, cb.reset_timeout)
        elif name == pybreaker.STATE_CLOSED:
            logger.info("Redis at %s: circuit breaker closed again", self.url)


class ResilientClient:
    """One Redis connection pool used through a circuit breaker, with a TTL cache for reads.

    - Commands use redis-py's :class:`~redis.retry.Retry` with exponential backoff and jitter
      (``command_retries`` retries); a command that still fails counts against the breaker.
    - After ``failure_threshold`` consecutive failures the breaker opens: calls fail at once with
      :class:`RedisUnavailableError` for ``open_timeout`` seconds, then one trial call is
      let through; ``success_threshold`` successes close it.
    - Reads (:meth:`get`) remember their answer for ``local_cache_ttl`` seconds and serve it while Redis
      is unavailable (``enable_local_cache``).
    - :meth:`subscribe` keeps a pub/sub subscription alive: it reconnects with backoff
      (``initial_backoff`` times ``backoff_multiplier`` per failure up to ``max_backoff``; ``max_retries``
      attempts, unlimited by default) and
      re-subscribes on its own.
    """

    def __init__(self, url: str, settings: ResilientSettings | None = None) -> None:
        self.url = url
        self.settings = settings or ResilientSettings()
        s = self.settings
        self.metrics = RedisMetrics()
        self._trips = _TripCounter(self.metrics, redact_url(url))
        self.redis: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=s.socket_timeout, socket_connect_timeout=s.socket_timeout,
            retry=Retry(Backoff(s), s.command_retries),
            health_check_interval=0,
        )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=s.failure_threshold, reset_timeout=s.open_timeout,
            success_threshold=s.success_threshold,
            exclude=[lambda exc: not isinstance(exc, _UNAVAILABLE)],
            listeners=[self._trips], name=f"redis {redact_url(url)}",
        )
        self.cache: TTLCache[str, Any] = TTLCache(maxsize=s.local_cache_max_size, ttl=s.local_cache_ttl)
        self._cache_lock = threading.Lock()
        self.connected: bool | None = None  #: whether the last call reached Redis (None before the first)

    @property
    def breaker_open(self) -> bool:
        """The circuit breaker is open (calls fail at once) or half-open (waiting for a trial call's answer)."""
        return bool(self.breaker.current_state != pybreaker.STATE_CLOSED)

    @property
    def available(self) -> bool:
        """False while the circuit breaker is open and not yet due for a trial call."""
        if self.breaker.current_state != pybreaker.STATE_OPEN:
            return True
        return time.monotonic() - self._trips.opened_at >= self.breaker.reset_timeout

    def call(self, what: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one redis-py call through the breaker; raise :class:`RedisUnavailableError` when Redis is down."""
        self.metrics.add(requests=1)
        started = time.monotonic()
        try:
            result = self.breaker.call(func, *args, **kwargs)
        except pybreaker.CircuitBreakerError as exc:
            self.metrics.add(failures=1)
            self.connected = False
            raise RedisUnavailableError(f"Redis at {redact_url(self.url)} is unavailable ({what}): "
                                        "circuit breaker open") from exc
        except _UNAVAILABLE as exc:
            self.metrics.add(failures=1)
            self.connected = False
            raise RedisUnavailableError(f"Redis at {redact_url(self.url)} is unavailable ({what}): {exc}") from exc
        except redis.RedisError:
            self.metrics.add(failures=1)
            raise
        elapsed = time.monotonic() - started
        self.connected = True
        with self.metrics._lock:
            self.metrics.latency_total += elapsed
            self.metrics.latency_max = max(self.metrics.latency_max, elapsed)
        return result

    def ping(self) -> bool:
        """True when Redis answered; never raises."""
        try:
            return bool(self.call("PING", self.redis.ping))
        except (RedisUnavailableError, redis.RedisError):
            return False

    def get(self, key: str) -> Any:
        """GET, answered from the local cache while Redis is unavailable (if the key was read before)."""
        try:
            value = self.call(f"GET {key}", self.redis.get, key)
        except RedisUnavailableError:
            with self._cache_lock:
                if key in self.cache:
                    self.metrics.add(cache_hits=1)
                    return self.cache[key]
            self.metrics.add(cache_misses=1)
            raise
        self._remember(key, value)
        return value

    def _remember(self, key: str, value: Any) -> None:
        if self.settings.enable_local_cache:
            with self._cache_lock:
                self.cache[key] = value

    def set(self, key: str, value: str | bytes, *, ex: float | None = None) -> None:
        px = int(ex * 1000) if ex is not None else None
        self.call(f"SET {key}", self.redis.set, key, value, px=px)
        self._remember(key, value.encode() if isinstance(value, str) else value)

    def mget(self, keys: list[str]) -> list[Any]:
        return list(self.call("MGET", self.redis.mget, keys)) if keys else []

    def publish(self, channel: str, message: str) -> int:
        """PUBLISH; returns how many subscribers received it."""
        return int(self.call(f"PUBLISH {channel}", self.redis.publish, channel, message))

    def eval(self, script: str, keys: list[str], args: list[Any]) -> Any:
        return self.call("EVAL", self.redis.eval, script, len(keys), *keys, *args)

    def subscribe(self, channel: str, handler: Callable[[bytes], None]) -> Subscription:
        """Deliver every message on ``channel`` to ``handler`` from a background thread, reconnecting forever."""
        return Subscription(self, channel, handler).start()

    def close(self) -> None:
        self.redis.close()


class Subscription:
    """A pub/sub subscription that reconnects with exponential backoff and re-subscribes by itself."""

    def __init__(self, client: ResilientClient, channel: str, handler: Callable[[bytes], None]) -> None:
        self.client = client
        self.channel = channel
        self.handler = handler
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"redis-sub-{channel}", daemon=True)
        s = client.settings
        self._backoff = Backoff(s)

    def start(self) -> Subscription:
        self._thread.start()
        return self

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            pubsub = self.client.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                if failures:
                    self.client.metrics.add(reconnects=1)
                    logger.info("re-subscribed to %s after %d failed attempts", self.channel, failures)
                failures = 0
                self.connected.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        self.handler(message["data"])
            except _UNAVAILABLE as exc:
                self.connected.clear()
                failures += 1
                limit = self.client.settings.max_retries
                if 0 < limit < failures:
                    logger.error("giving up on subscription %s after %d attempts: %s", self.channel, failures, exc)
                    return
                delay = self._backoff.compute(failures)
                logger.debug("subscription %s lost (%s); reconnecting in %.2f s", self.channel, exc, delay)
                self._stop.wait(delay)
            finally:
                self.connected.clear()
                try:
                    pubsub.close()
                except _UNAVAILABLE:
                    pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
