"""``elasticsearch`` stage: indexes each batch like the sink, then passes the written records on."""

from __future__ import annotations

from conduix.connector import SinkStage
from conduix_es.sink import ElasticsearchSink

__all__ = ["ElasticsearchStage"]


class ElasticsearchStage(SinkStage):
    """The ``ElasticsearchStage`` of the original README: writes like the ``elasticsearch`` sink (same options),
    then passes on the records Elasticsearch accepted; the rejected ones go where ``on_error`` says."""

    sink_class = ElasticsearchSink
