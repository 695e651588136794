"""Fencing tokens next to Redis checkpoints: a write carrying a stale lease token is rejected.

Every assignment of a pipeline (replica) to an agent gets a token from a per-pipeline counter
in the control plane's database; a reassignment always gets a larger one. The control plane
publishes the current token to Redis under ``{prefix}pipeline:{id}:lease`` (only ever raising it; the
prefix is the deployment's, see :mod:`conduix_control.keys`), and
agents save checkpoints with a Lua compare-and-set: the write happens only when the stored
token is not larger than the writer's. So an agent that was cut off, paused or slow and still
believes it owns the pipeline cannot move its checkpoint once another agent took over.
"""

from __future__ import annotations

import json
from typing import Any

from conduix.checkpoint import Checkpoint, RedisCheckpointStore, check_checkpoint
from conduix.redaction import redact_url
from conduix_control.errors import StaleLeaseError

__all__ = ["FencedRedisCheckpointStore", "lease_key", "raise_token"]

#: Raise ``KEYS[1]`` to ``ARGV[1]`` unless it is larger already; returns the stored token.
RAISE_TOKEN = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local tok = tonumber(ARGV[1])
if tok > cur then redis.call('SET', KEYS[1], ARGV[1]) return tok end
return cur
"""

#: Save the checkpoint ``KEYS[2]`` only if the lease token ``KEYS[1]`` is not larger than ``ARGV[1]``.
FENCED_SET = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local tok = tonumber(ARGV[1])
if cur > tok then return cur end
if tok > cur then redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('SET', KEYS[2], ARGV[2])
return 0
"""


def lease_key(pipeline_id: str, prefix: str = "") -> str:
    """Redis key of a pipeline's current fencing token, next to its checkpoint key."""
    return f"{prefix}pipeline:{pipeline_id}:lease"


def raise_token(client: Any, pipeline_id: str, token: int, prefix: str = "") -> int:
    """Make ``token`` the pipeline's current token unless a larger one is stored; returns the stored one.

    ``client`` is a :class:`~conduix_control.redis_client.ResilientClient` or a ``redis.Redis``.
    """
    keys, args = [lease_key(pipeline_id, prefix)], [token]
    if hasattr(client, "call"):
        return int(client.eval(RAISE_TOKEN, keys, args))
    return int(client.eval(RAISE_TOKEN, 1, *keys, *args))


class FencedRedisCheckpointStore(RedisCheckpointStore):
    """A :class:`RedisCheckpointStore` whose saves carry a lease token and fail once it is stale.

    The saved checkpoint also records ``lease_token``, so one can tell which holder wrote it.
    A rejected write raises :class:`StaleLeaseError` (a ``CheckpointError``) and counts in ``rejected``.
    """

    def __init__(self, url: str, token: int, *, timeout: float = 0.5, prefix: str = "",
                 lease_id: str | None = None) -> None:
        super().__init__(url, timeout=timeout, prefix=prefix)
        self.token = token
        self.lease_id = lease_id  #: whose lease fences the writes (default: the checkpoint's own id)
        self.rejected = 0

    def load(self, pipeline_id: str) -> Checkpoint | None:
        data = super().load(pipeline_id)
        if data is not None:
            data.pop("lease_token", None)  # bookkeeping of this store, not part of the pipeline's state
        return data

    def save(self, pipeline_id: str, checkpoint: Checkpoint) -> None:
        key = self.key_for(pipeline_id)
        data = {**checkpoint, "lease_token": self.token}
        check_checkpoint(data, f"for pipeline {pipeline_id!r}")
        lease = lease_key(self.lease_id or pipeline_id, self.prefix)
        current = self._call(f"fenced SET {key}", self.client.eval, FENCED_SET, 2, lease, key, self.token,
                             json.dumps(data, sort_keys=True))
        if int(current):
            self.rejected += 1
            raise StaleLeaseError(
                f"checkpoint of {pipeline_id} rejected: this agent's lease token {self.token} is stale "
                f"(current token {int(current)}); another agent owns the pipeline now, so this run stops"
            )

    def __repr__(self) -> str:
        return f"FencedRedisCheckpointStore({redact_url(self.url)!r}, token={self.token})"


