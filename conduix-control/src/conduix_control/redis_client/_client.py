"""ResilientClient: redis-py with reconnect backoff, a circuit breaker, a local read cache and metrics."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import pybreaker
import redis
from cachetools import TTLCache
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from conduix.checkpoint.redis_store import redact_url
from conduix_control.errors import RedisUnavailableError

__all__ = ["RedisMetrics", "ResilientClient", "ResilientSettings", "Subscription"]

logger = logging.getLogger(__name__)

_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError, OSError)


@dataclass
class ResilientSettings:
    """The README's settings; every field can be overridden by ``CONDUIX_REDIS_<FIELD>`` (upper case)."""

    backoff_base: float = 0.1  #: first reconnect delay (s), doubled per failure (with jitter)...
    backoff_cap: float = 30.0  #: ...up to this
    reconnect_attempts: int = -1  #: reconnect attempts of a subscription; -1 = unlimited
    command_retries: int = 1  #: retries of one command before it counts as a failure for the breaker
    socket_timeout: float = 1.0  #: connect and read timeout (s), so a paused Redis cannot hang a call
    breaker_fail_max: int = 5  #: consecutive failures that open the circuit
    breaker_success_threshold: int = 2  #: successes in half-open state that close it again
    breaker_reset_timeout: float = 30.0  #: seconds the circuit stays open before a trial call
    cache_ttl: float = 300.0  #: seconds a read is served from the local cache while Redis is unavailable
    cache_maxsize: int = 1000  #: entries in that cache

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> ResilientSettings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"CONDUIX_REDIS_{f.name.upper()}")
            if raw is not None:
                values[f.name] = int(raw) if f.type in ("int", int) else float(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


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
    - After ``breaker_fail_max`` consecutive failures the breaker opens: calls fail at once with
      :class:`RedisUnavailableError` for ``breaker_reset_timeout`` seconds, then one trial call is
      let through; ``breaker_success_threshold`` successes close it.
    - Reads (:meth:`get`) remember their answer for ``cache_ttl`` seconds and serve it while Redis
      is unavailable.
    - :meth:`subscribe` keeps a pub/sub subscription alive: it reconnects with backoff
      (``backoff_base`` doubling to ``backoff_cap``, unlimited attempts by default) and
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
            retry=Retry(ExponentialWithJitterBackoff(cap=s.backoff_cap, base=s.backoff_base), s.command_retries),
            health_check_interval=0,
        )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=s.breaker_fail_max, reset_timeout=s.breaker_reset_timeout,
            success_threshold=s.breaker_success_threshold,
            exclude=[lambda exc: not isinstance(exc, _UNAVAILABLE)],
            listeners=[self._trips], name=f"redis {redact_url(url)}",
        )
        self.cache: TTLCache[str, Any] = TTLCache(maxsize=s.cache_maxsize, ttl=s.cache_ttl)
        self._cache_lock = threading.Lock()

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
            raise RedisUnavailableError(f"Redis at {redact_url(self.url)} is unavailable ({what}): "
                                        "circuit breaker open") from exc
        except _UNAVAILABLE as exc:
            self.metrics.add(failures=1)
            raise RedisUnavailableError(f"Redis at {redact_url(self.url)} is unavailable ({what}): {exc}") from exc
        except redis.RedisError:
            self.metrics.add(failures=1)
            raise
        elapsed = time.monotonic() - started
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
        with self._cache_lock:
            self.cache[key] = value
        return value

    def set(self, key: str, value: str | bytes, *, ex: float | None = None) -> None:
        px = int(ex * 1000) if ex is not None else None
        self.call(f"SET {key}", self.redis.set, key, value, px=px)
        with self._cache_lock:
            self.cache[key] = value.encode() if isinstance(value, str) else value

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
        self._backoff = ExponentialWithJitterBackoff(cap=s.backoff_cap, base=s.backoff_base)

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
                limit = self.client.settings.reconnect_attempts
                if 0 <= limit < failures:
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
