"""aggregate: windows by event time (out of order, late records), sessions, hopping, sliding, max_groups."""

from __future__ import annotations

from typing import Any

import pytest

from conduix.config import pipeline_from_dict
from conduix.errors import ConfigError
from conduix.testing import run_pipeline, test_registry


def _run(stage: dict[str, Any], records: list[dict[str, Any]], *, batch_size: int = 2,
         late_sink: bool = False) -> Any:
    config: dict[str, Any] = {
        "sources": {"in": {"type": "list", "records": records, "batch_size": batch_size}},
        "transforms": {"agg": {"type": "aggregate", "inputs": ["in"], **stage}},
        "sinks": {"out": {"type": "collect", "inputs": ["agg"]}},
    }
    if late_sink:
        config["sinks"]["late"] = {"type": "collect", "inputs": ["agg.late"]}
    return run_pipeline(config)


def _by_window(records: list[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in ("window_start", *keys)): r for r in records}


def test_tumbling_event_time_with_out_of_order_and_late_records():
    records = [
        {"t": 0, "user": "a", "amount": 5},
        {"t": 3, "user": "b", "amount": 1},
        {"t": 1, "user": "a", "amount": 2},     # out of order, same window: counts
        {"t": 11, "user": "a", "amount": 7},    # watermark 11 - 2 = 9: window [0, 10) still open
        {"t": 9, "user": "b", "amount": 3},     # late by 2 s, within allowed_lateness: counts
        {"t": 13, "user": "a", "amount": 1},    # watermark 11: [0, 10) closes
        {"t": 4, "user": "a", "amount": 100},   # its window closed: late
        {"t": 25, "user": "a", "amount": 1},
    ]
    run = _run({"window": {"type": "tumbling", "size": "10s"}, "time_field": ".t", "allowed_lateness": 2,
                "late": "route", "group_by": [".user"], "timestamp_format": "unix",
                "aggregations": {"count": "count", "total": "sum(.amount)", "biggest": "max(.amount)",
                                 "amounts": {"type": "collect", "field": ".amount", "limit": 2},
                                 "first": "first(.amount)", "last": "last(.amount)"}},
               records, late_sink=True)
    out = _by_window(run.records("out"), "user")
    assert out[(0, "a")] == {"user": "a", "window_start": 0, "window_end": 10, "count": 2, "total": 7,
                             "biggest": 5, "amounts": [5, 2], "first": 5, "last": 2}
    assert out[(0, "b")]["count"] == 2 and out[(0, "b")]["total"] == 4
    assert out[(10, "a")]["count"] == 2 and out[(10, "a")]["total"] == 8
    assert out[(20, "a")]["count"] == 1  # emitted at end of input
    assert len(out) == 4
    assert run.records("late") == [{"t": 4, "user": "a", "amount": 100}]
    assert run.component("agg").late_records == 1


def test_late_records_are_dropped_by_default_and_windows_are_emitted_in_order():
    records = [{"t": f"2026-01-01T00:00:0{s}Z"} for s in (1, 2, 7, 3, 8)]
    run = _run({"window": {"type": "tumbling", "size": 5}, "time_field": ".t", "aggregations": {"n": "count"}},
               records, batch_size=1)
    assert [(r["window_start"], r["n"]) for r in run.records("out")] == [
        ("2026-01-01T00:00:00Z", 2), ("2026-01-01T00:00:05Z", 2)]
    assert run.component("agg").late_records == 1


def test_hopping_windows_count_a_record_in_every_window_it_falls_in():
    records = [{"t": t} for t in (1, 4, 6, 12)]
    run = _run({"window": {"type": "hopping", "size": 10, "hop": 5}, "time_field": ".t",
                "timestamp_format": "unix", "aggregations": {"n": "count", "avg": "avg(.t)"}}, records)
    got = {r["window_start"]: r["n"] for r in run.records("out")}
    assert got == {-5: 2, 0: 3, 5: 2, 10: 1}


def test_session_windows_merge_when_a_record_bridges_them():
    records = [{"k": "x", "t": 0}, {"k": "x", "t": 10}, {"k": "y", "t": 1}, {"k": "x", "t": 5},
               {"k": "x", "t": 30}]
    run = _run({"window": {"type": "session", "gap": 6}, "time_field": ".t", "group_by": [".k"],
                "allowed_lateness": 10,
                "timestamp_format": "unix", "aggregations": {"n": "count", "ts": "collect(.t)"}}, records,
               batch_size=1)
    got = sorted((r["k"], r["window_start"], r["window_end"], r["n"], sorted(r["ts"])) for r in run.records("out"))
    assert got == [("x", 0, 16, 3, [0, 5, 10]), ("x", 30, 36, 1, [30]), ("y", 1, 7, 1, [1])]


def test_sliding_windows_emit_per_record_over_the_size_before_it():
    records = [{"t": 0, "v": 1}, {"t": 3, "v": 2}, {"t": 6, "v": 4}, {"t": 20, "v": 8}]
    run = _run({"window": {"type": "sliding", "size": 5}, "time_field": ".t", "timestamp_format": "unix",
                "aggregations": {"total": "sum(.v)", "n": "count"}}, records)
    assert [(r["window_end"], r["total"], r["n"]) for r in run.records("out")] == [
        (0, 1, 1), (3, 3, 2), (6, 6, 2), (20, 8, 1)]


def test_processing_time_windows_close_at_end_of_input_with_count_distinct_and_nested_groups():
    records = [{"user": {"id": i % 2}, "page": p} for i, p in enumerate("aabbc")]
    run = _run({"window": {"type": "tumbling", "size": "1h"}, "group_by": [".user.id"],
                "aggregations": {"pages": "count_distinct(.page)", "n": "count"}}, records)
    got = {r["id"]: (r["pages"], r["n"]) for r in run.records("out")}
    assert got == {0: (3, 3), 1: (2, 2)}
    assert all(r["window_start"].endswith(":00:00Z") for r in run.records("out"))


@pytest.mark.parametrize("policy", ["emit_oldest", "drop"])
def test_max_groups_bounds_the_groups_of_one_window(policy):
    records = [{"k": "a", "t": 0}, {"k": "b", "t": 10}, {"k": "c", "t": 20}, {"k": "a", "t": 21}]
    run = _run({"window": {"type": "tumbling", "size": 100}, "time_field": ".t", "group_by": [".k"],
                "timestamp_format": "unix", "max_groups": 1, "when_full": policy,
                "aggregations": {"n": "count"}}, records, batch_size=1)
    # the only open window cannot close early: records that need a new group in it are dropped
    assert [(r["k"], r["n"]) for r in run.records("out")] == [("a", 2)]
    assert run.component("agg").dropped_records == 2


def test_max_groups_emit_oldest_closes_the_earliest_window_early():
    records = [{"k": "a", "t": 0}, {"k": "b", "t": 10}, {"k": "a", "t": 1}]
    run = _run({"window": {"type": "tumbling", "size": 10}, "time_field": ".t", "group_by": [".k"],
                "allowed_lateness": 100, "timestamp_format": "unix", "max_groups": 1,
                "aggregations": {"n": "count"}}, records, batch_size=1)
    got = [(r["k"], r["window_start"], r.get("partial", False), r["n"]) for r in run.records("out")]
    assert got == [("a", 0, True, 1), ("b", 10, True, 1), ("a", 0, False, 1)]


def test_a_record_with_a_bad_value_goes_to_dead_letters_and_the_others_count_once():
    records = [{"t": 1, "v": 1}, {"t": 2, "v": "x"}, {"t": 3, "v": 2}, {"t": 4}]
    config = {
        "sources": {"in": {"type": "list", "records": records}},
        "transforms": {"agg": {"type": "aggregate", "inputs": ["in"], "on_error": "dead_letter",
                               "window": {"type": "tumbling", "size": 10}, "time_field": ".t",
                               "aggregations": {"n": "count", "total": "sum(.v)"}}},
        "sinks": {"out": {"type": "collect", "inputs": ["agg"]},
                  "dlq": {"type": "collect", "inputs": ["agg.dead_letter"]}},
    }
    run = run_pipeline(config)
    assert [(r["n"], r["total"]) for r in run.records("out")] == [(3, 3)]  # a missing value is skipped
    [dead] = run.records("dlq")
    assert dead["record"] == {"t": 2, "v": "x"} and "needs a number" in dead["error"]
    assert run.component("in").acknowledged == [(0, 4)]


@pytest.mark.parametrize(("window", "problem"), [
    ({"type": "tumbling"}, "needs 'size'"),
    ({"type": "session", "size": 5}, "takes 'gap'"),
    ({"type": "hopping", "size": 5}, "'hop'"),
    ({"type": "tumbling", "size": "ten"}, "not a duration"),
])
def test_window_config_errors_say_what_to_write(window, problem):
    with pytest.raises(ConfigError, match=problem):
        pipeline_from_dict({
            "sources": {"in": {"type": "list"}},
            "transforms": {"agg": {"type": "aggregate", "inputs": ["in"], "window": window,
                                   "aggregations": {"n": "count"}}},
            "sinks": {"out": {"type": "collect", "inputs": ["agg"]}}}, registry=test_registry())


def test_aggregation_config_errors():
    with pytest.raises(ConfigError, match="needs a 'field'"):
        pipeline_from_dict({
            "sources": {"in": {"type": "list"}},
            "transforms": {"agg": {"type": "aggregate", "inputs": ["in"], "window": {"size": 5},
                                   "aggregations": {"n": "sum"}}},
            "sinks": {"out": {"type": "collect", "inputs": ["agg"]}}}, registry=test_registry())


def test_after_a_crash_replayed_records_of_delivered_windows_are_not_counted_again(tmp_path):
    from conduix.builtins.aggregate import AggregateConfig, AggregateStage
    from conduix.components import Batch, Context

    config = AggregateConfig.model_validate({"window": {"size": 10}, "time_field": ".t", "timestamp_format": "unix",
                                             "aggregations": {"n": "count"}})

    def stage() -> AggregateStage:
        s = AggregateStage(config, Context("agg", pipeline="p", state_dir=tmp_path))
        s.open()
        return s

    first = stage()
    out: list[Batch] = []
    first.process(Batch([{"t": t} for t in range(8)]), lambda b, o=None: out.append(b))
    first.process(Batch([{"t": t} for t in range(8, 14)]), lambda b, o=None: out.append(b))  # closes [0, 10)
    [window] = out
    assert window.records == [{"window_start": 0, "window_end": 10, "n": 10}]
    for token in window.acks:  # every sink wrote it
        token.add(1)
        token.settle()
    # crash: the second batch was never acknowledged (it holds records of the open window [10, 20)) and replays
    second = stage()
    out.clear()
    second.process(Batch([{"t": t} for t in range(8, 14)]), lambda b, o=None: out.append(b))
    second.finish(lambda b, o=None: out.append(b))
    assert [r for b in out for r in b.records] == [{"window_start": 10, "window_end": 20, "n": 4}]
    assert second.replayed_records == 2
    assert not (tmp_path / "aggregate").joinpath("p", "agg.json").exists()  # finished: nothing to recognise


def test_processing_time_windows_close_when_a_later_batch_arrives(monkeypatch):
    from conduix.builtins import aggregate
    from conduix.components import Batch, Context

    now = [100.0]
    monkeypatch.setattr(aggregate.time, "time", lambda: now[0])
    stage = aggregate.AggregateStage(aggregate.AggregateConfig.model_validate({
        "window": {"size": 10}, "group_by": [".k"], "timestamp_format": "unix", "aggregations": {"n": "count"}}),
        Context("agg"))
    out: list[Batch] = []
    stage.process(Batch([{"k": "a"}, {"k": "b"}, {"k": "a"}]), lambda b, o=None: out.append(b))
    now[0] = 109.9
    stage.process(Batch([{"k": "a"}]), lambda b, o=None: out.append(b))
    assert out == []  # the window [100, 110) is still open
    now[0] = 110.0
    stage.process(Batch([{"k": "b"}]), lambda b, o=None: out.append(b))
    assert sorted((r["k"], r["n"]) for b in out for r in b.records) == [("a", 3), ("b", 1)]
    out.clear()
    stage.finish(lambda b, o=None: out.append(b))
    assert [r for b in out for r in b.records] == [{"k": "b", "window_start": 110, "window_end": 120, "n": 1}]
