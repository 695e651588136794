"""The Redis store against the shared Redis (unique pipeline ids, cleaned up)."""

from __future__ import annotations

import json

import pytest

from conduix.checkpoint import RedisCheckpointStore, StoreUnavailableError
from conduix.errors import CheckpointError
from conduix.redaction import redact_url
from conduix.supervision import free_port
from tests.core.checkpoint.conftest import SHARED_REDIS_URL, make_checkpoint

pytestmark = pytest.mark.integration("redis")


def test_round_trip_under_the_documented_key(shared_redis, pipeline_id):
    store = RedisCheckpointStore(SHARED_REDIS_URL)
    assert store.load(pipeline_id) is None
    checkpoint = make_checkpoint(pipeline_id, {"k": (5.0, {"kafka_offsets": {"t:0": 7, "t:1": 9}})}, processed=16)
    store.save(pipeline_id, checkpoint)
    assert json.loads(shared_redis.get(f"pipeline:{pipeline_id}:checkpoint")) == checkpoint
    assert store.load(pipeline_id) == checkpoint
    assert pipeline_id in store.list()
    store.delete(pipeline_id)
    assert store.load(pipeline_id) is None and pipeline_id not in store.list()
    store.close()


def test_a_corrupt_value_raises_an_error_naming_the_key(shared_redis, pipeline_id):
    shared_redis.set(f"pipeline:{pipeline_id}:checkpoint", b"not json{")
    store = RedisCheckpointStore(SHARED_REDIS_URL)
    with pytest.raises(CheckpointError) as caught:
        store.load(pipeline_id)
    assert f"pipeline:{pipeline_id}:checkpoint" in str(caught.value)
    assert f"conduix checkpoint reset {pipeline_id} --yes" in str(caught.value)
    assert not isinstance(caught.value, StoreUnavailableError)


def test_an_unreachable_redis_is_reported_as_unavailable_without_the_password():
    url = f"redis://user:s3cret@127.0.0.1:{free_port()}/0"
    store = RedisCheckpointStore(url, timeout=0.5)
    with pytest.raises(StoreUnavailableError) as caught:
        store.save("p", make_checkpoint("p", {}, timestamp=1.0))
    assert "s3cret" not in str(caught.value) and "user:***@127.0.0.1" in str(caught.value)
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
