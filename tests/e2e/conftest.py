"""End-to-end fixtures: those of the connector test folders that are not the session's servers (these are
shared by every folder: tests/servers.py)."""

from tests.kafka.conftest import names, own_broker  # noqa: F401 (fixtures)
from tests.s3.conftest import bucket  # noqa: F401 (fixtures)
