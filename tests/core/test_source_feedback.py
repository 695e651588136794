"""What the runtime tells sources besides acknowledgements: a negative acknowledgement per batch that will not
be written, ``stop()`` reaching a sink still opening, and checkpoints while backpressure holds a source."""

from __future__ import annotations

import threading
from typing import Any

from pydantic import Field

from conduix import Pipeline
from conduix.connector import Batch, ComponentConfig, Context, Emit, Sink, Source, Stage, release, test_host
from conduix.testing import eventually


class Counting(ComponentConfig):
    batches: int = 5
    size: int = Field(2, ge=1)


class CountingSource(Source[Counting]):
    """Batches of ``size`` numbers at positions 0, 1, 2...; remembers acknowledgements and nacks; its
    checkpoint is the number of batches acknowledged."""

    Config = Counting

    def __init__(self, config: Counting, context: Context) -> None:
        super().__init__(config, context)
        self.reads = 0
        self.acked: list[int] = []
        self.nacked: list[tuple[int, str]] = []

    def read(self, max_records: int) -> Batch | None:
        if self.reads >= self.config.batches:
            return None
        position = self.reads
        self.reads += 1
        return Batch([{"n": position * self.config.size + i} for i in range(self.config.size)], position=position)

    def acknowledge(self, position: Any) -> None:
        self.acked.append(position)

    def nack(self, position: Any, error: BaseException | str) -> None:
        self.nacked.append((position, str(error)))

    def checkpoint(self) -> dict[str, Any] | None:
        return {"acked": sorted(self.acked)}


class FailOnThird(Stage[ComponentConfig]):
    def process(self, batch: Batch, emit: Emit) -> None:
        if any(r["n"] == 4 for r in batch.records):
            raise ValueError("cannot handle n=4")
        emit(batch)


class Collect(Sink[ComponentConfig]):
    def __init__(self, config: ComponentConfig, context: Context) -> None:
        super().__init__(config, context)
        self.records: list[dict[str, Any]] = []

    def write(self, batch: Batch) -> None:
        self.records.extend(batch.records)


def pipeline(transforms: dict[str, Any], sink: str, settings: dict[str, Any] | None = None,
             **components: Any) -> Pipeline:
    last = list(transforms)[-1] if transforms else "numbers"
    return Pipeline.from_dict({
        "settings": settings or {},
        "sources": {"numbers": {"type": "counting"}},
        "transforms": transforms,
        "sinks": {"out": {"type": sink, "inputs": [last]}},
    }, host=test_host(), components={"counting": CountingSource, "collect_all": Collect, **components})


def test_a_batch_a_component_fails_on_goes_back_to_its_source_as_a_nack(tmp_path):
    run = pipeline({"fail": {"type": "fail_on_third", "inputs": ["numbers"]}}, "collect_all",
                   fail_on_third=FailOnThird).start(state_dir=tmp_path)
    assert run.join(30) and not run.result.ok
    source = run.result.components["numbers"]
    assert [p for p, _ in source.nacked] == [2] and "n=4" in source.nacked[0][1]
    assert set(source.acked) <= {0, 1}  # those written before the failure, as far as they were taken
    assert 2 not in source.checkpoint()["acked"]


class Connecting(Sink[ComponentConfig]):
    """A sink whose server never answers: open() waits until stop() tells it to give up."""

    def __init__(self, config: ComponentConfig, context: Context) -> None:
        super().__init__(config, context)
        self.stopped = threading.Event()
        self.opening = threading.Event()

    def open(self) -> None:
        self.opening.set()
        self.stopped.wait()
        raise ConnectionError("gave up connecting: the run is stopping")

    def stop(self) -> None:
        self.stopped.set()

    def write(self, batch: Batch) -> None:
        raise AssertionError("never opened, never written")


def test_stop_reaches_a_sink_still_opening_and_what_it_had_goes_back_unwritten(tmp_path):
    run = pipeline({}, "connecting", settings={"queue_size": 2}, connecting=Connecting).start(state_dir=tmp_path)
    sink = run.nodes["out"].component
    eventually(sink.opening.is_set, 10, "the sink to start opening")
    source = run.nodes["numbers"].component
    eventually(lambda: source.reads >= 3, 10, "the source to fill the queue")
    run.stop()
    assert run.join(30)
    assert run.result.ok, run.result.error  # a stop, not a failure
    assert source.acked == [] and sorted(p for p, _ in source.nacked) == list(range(source.reads))
    assert all("stopped before it could open" in error for _, error in source.nacked)


class Gated(Sink[ComponentConfig]):
    """Holds the first batch (completes it later, like a sink with delivery reports), then waits on a gate
    for the next one: the queue in front of it stays full."""

    def __init__(self, config: ComponentConfig, context: Context) -> None:
        super().__init__(config, context)
        self.gate = threading.Event()
        self.held: tuple[Any, ...] | None = None

    def write(self, batch: Batch) -> None:
        if self.held is None:
            self.held = batch.hold()
        else:
            self.gate.wait()


class Checkpoints:
    """An in-memory checkpoint store."""

    def __init__(self) -> None:
        self.saved: dict[str, Any] = {}

    def load(self, pipeline_id: str) -> dict[str, Any] | None:
        return self.saved.get(pipeline_id)

    def save(self, pipeline_id: str, checkpoint: dict[str, Any]) -> None:
        self.saved[pipeline_id] = checkpoint


def test_a_source_held_by_backpressure_still_takes_acknowledgements_and_checkpoints(tmp_path):
    store = Checkpoints()
    p = pipeline({}, "gated", settings={"queue_size": 1, "checkpoint": {"interval": 0.05}}, gated=Gated)
    run = p.create_run(state_dir=tmp_path, checkpoints=store).start()
    sink, source = run.nodes["out"].component, run.nodes["numbers"].component
    try:
        # batch 0 held by the sink, batch 1 in its write, batch 2 in the queue, batch 3 read: the source waits
        eventually(lambda: source.reads == 4 and sink.held is not None, 10, "the source to be held by the queue")
        assert store.load(p.name) is None
        release(sink.held)  # batch 0 is complete now, while the source still waits in front of the full queue
        saved = eventually(lambda: (store.load(p.name) or {}).get("sources", {}).get("numbers"), 10,
                           "a checkpoint while the source is held")
        assert saved["position"] == {"acked": [0]}
        assert source.reads == 4 and not sink.gate.is_set()  # still held: taken without waiting for the sink
    finally:
        sink.gate.set()
    assert run.join(30) and run.result.ok
    assert store.load(p.name)["sources"]["numbers"]["position"] == {"acked": [0, 1, 2, 3, 4]}
