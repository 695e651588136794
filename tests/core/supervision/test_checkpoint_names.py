"""Each supervised worker's checkpoint id, as docs/supervision.md gives it: the pipeline's name for a single
worker, ``<pipeline>.<worker id>`` when there are several."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from conduix import Pipeline
from conduix.runtime.supervised import build_tree
from conduix.supervision import SupervisorSpec


def checkpoint_ids(text: str, tmp_path: Path) -> dict[str, str]:
    tree = build_tree(Pipeline.from_text(textwrap.dedent(text)).spec, tmp_path)
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        for child in node.children:
            if isinstance(child, SupervisorSpec):
                walk(child)
            else:
                found[child.id] = child.task.kwargs["checkpoint_id"]

    walk(tree)
    return found


FLAT = """
    name: orders
    supervision: {max_restarts: 2}
    settings: {workers: WORKERS}
    sources: {gen: {type: generate, count: 1}}
    sinks: {out: {type: blackhole, inputs: [gen]}}
"""

ACTOR = """
    name: orders
    type: actor
    children:
      - id: SourceSupervisor
        type: supervisor
        children:
          - {id: KafkaSource, type: source, component: {type: generate, count: 1}}
SECOND
      - {id: out, type: sink, inputs: [KafkaSource], component: {type: blackhole}}
"""


@pytest.mark.parametrize(("text", "expected"), [
    (FLAT.replace("WORKERS", "1"), {"worker": "orders"}),
    (FLAT.replace("WORKERS", "2"), {"worker-0": "orders.worker-0", "worker-1": "orders.worker-1"}),
    (ACTOR.replace("SECOND", ""), {"KafkaSource": "orders"}),  # was orders.KafkaSource
    (ACTOR.replace("SECOND", "          - {id: other, type: source, component: {type: generate, count: 1}}"),
     {"KafkaSource": "orders.KafkaSource", "other": "orders.other"}),
])
def test_checkpoint_ids_of_supervised_workers(tmp_path: Path, text: str, expected: dict[str, str]) -> None:
    assert checkpoint_ids(text, tmp_path) == expected
