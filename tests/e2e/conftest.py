"""End-to-end fixtures: the servers of the connector test folders, reused."""

from tests.es.conftest import es, es_url  # noqa: F401 (fixtures)
