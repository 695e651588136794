"""The threads of a running pipeline: one per source and sink (and fan-in stage), joined by bounded
queues; single-input stages run in their upstream's thread. One module per node kind."""

from conduix.runtime.nodes.base import END, Aborted, Edge, Node, RunControl
from conduix.runtime.nodes.sink import SinkNode
from conduix.runtime.nodes.source import SourceNode
from conduix.runtime.nodes.stage import StageNode

__all__ = ["END", "Aborted", "Edge", "Node", "RunControl", "SinkNode", "SourceNode", "StageNode"]
