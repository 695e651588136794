"""A Redis client that keeps working through outages: backoff, circuit breaker, read cache, metrics."""

from conduix_control.redis_client._client import RedisMetrics, ResilientClient, ResilientSettings, Subscription

__all__ = ["RedisMetrics", "ResilientClient", "ResilientSettings", "Subscription"]
