"""Fixtures for the S3 connector tests: a fresh bucket per test (the session's moto server, with test
credentials in the environment, and its client: ``s3_url`` and ``s3`` from tests/servers.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"conduix-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name
