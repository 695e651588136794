"""Fixtures for the Elasticsearch connector tests: unique index names and a fault-injecting proxy (the
session's server, noida-db, and its client: ``es_url`` and ``es`` from tests/servers.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.es.faultproxy import FaultProxy


@pytest.fixture
def index_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def proxy(es_url: str) -> Iterator[FaultProxy]:
    p = FaultProxy(es_url)
    try:
        yield p
    finally:
        p.close()
