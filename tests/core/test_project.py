"""Pipelines of pipelines: children per parent record, streaming, retries, validation, run records."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conduix.errors import ConfigError
from conduix.project import ChildRequest, ProjectRunner, RunStore, load_project
from tests.conftest import conduix


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))


def forum(tmp_path: Path, *, start: str = "after_parent", flaky: bool = False) -> Path:
    """boards (3) -> posts (2 per board) -> comments (2 per post), into JSON lines files."""
    project, out = tmp_path / "forum", tmp_path / "out"
    write(tmp_path / "udfs", "forum_udfs.py", f"""
        import os

        def flaky(record):
            marker = {str(tmp_path / "failed-once")!r} + f"-{{record['board_id']}}-{{record['post']}}"
            if record["board_id"] == "1" and record["post"] == "0" and not os.path.exists(marker):
                open(marker, "w").close()
                raise ConnectionError("comments API answered 503")
            return record
    """)
    write(project, "boards.yaml", f"""
        name: boards
        data_type: board
        sources:
          api: {{type: generate, count: 3, sequence_field: board_id, record: {{kind: board}}}}
        sinks:
          out: {{type: file, inputs: [api], path: "{out}/boards.jsonl"}}
    """)
    write(project, "posts.yaml", f"""
        name: posts
        data_type: post
        parent: board
        child: {{start: {start}, concurrency: 2, retries: 0}}
        sources:
          api:
            type: generate
            count: 2
            sequence_field: post
            record: {{board_id: "${{params.board_id}}", kind: post}}
        sinks:
          out: {{type: file, inputs: [api], path: "{out}/posts.jsonl"}}
    """)
    transforms = ""
    if flaky:
        transforms = (f"transforms:\n  check:\n    type: python\n    inputs: [api]\n"
                      f"    function: forum_udfs:flaky\n    python_path: [\"{tmp_path / 'udfs'}\"]\n")
    (project / "comments.yaml").write_text(textwrap.dedent(f"""\
        name: comments
        data_type: comment
        parent: posts
        child: {{start: {start}, concurrency: 3, retries: 2, retry_delay: 0.05}}
        sources:
          api:
            type: generate
            count: 2
            sequence_field: comment
            record: {{board_id: "${{params.board_id}}", post: "${{params.post}}"}}
        sinks:
          out: {{type: file, inputs: [{"check" if flaky else "api"}], path: "{out}/comments.jsonl"}}
    """) + transforms)
    return project


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("start", ["after_parent", "streaming"])
def test_every_comment_of_every_post_of_every_board_arrives_exactly_once(tmp_path, start):
    runner = ProjectRunner(load_project(forum(tmp_path, start=start)), state_dir=tmp_path / "state")
    assert runner.run()
    comments = lines(tmp_path / "out" / "comments.jsonl")
    keys = sorted((c["board_id"], c["post"], c["comment"]) for c in comments)
    assert keys == [(str(b), str(p), c) for b in range(3) for p in range(2) for c in range(2)]
    records = runner.store.list()
    assert len(records) == 1 + 3 + 6 and all(r.status == "succeeded" for r in records)
    posts = [r for r in records if r.pipeline == "posts"]
    board_run = next(r for r in records if r.pipeline == "boards")
    assert {r.parent_run for r in posts} == {board_run.id}
    assert sorted(r.parameters["board_id"] for r in posts) == [0, 1, 2]


def test_a_failing_child_run_is_retried_and_nothing_is_duplicated(tmp_path):
    runner = ProjectRunner(load_project(forum(tmp_path, flaky=True)), state_dir=tmp_path / "state")
    assert runner.run()
    comments = lines(tmp_path / "out" / "comments.jsonl")
    assert len(comments) == 12
    retried = [r for r in runner.store.list(pipeline="comments") if r.attempt == 2]
    assert len(retried) == 1 and retried[0].parameters == {"board_id": "1", "post": 0, "kind": "post"}
    assert retried[0].status == "succeeded"


def test_runs_retry_and_backfill_from_the_cli(tmp_path):
    project = forum(tmp_path)
    state = tmp_path / "state"
    (tmp_path / "udfs").mkdir(exist_ok=True)
    proc = conduix("run-project", str(project), "--state-dir", str(state))
    assert proc.returncode == 0, proc.stderr
    assert "10 runs succeeded, 0 failed" in proc.stderr
    listing = conduix("runs", "--state-dir", str(state))
    assert listing.returncode == 0
    assert listing.stdout.count("comments") == 6 and "    " in listing.stdout  # children indented under parents
    runs = json.loads(conduix("runs", "--state-dir", str(state), "--json").stdout)
    one_post = next(r for r in runs if r["pipeline"] == "posts")
    again = conduix("retry", one_post["id"], "--state-dir", str(state))
    assert again.returncode == 0, again.stderr
    assert "3 runs succeeded" not in again.stderr  # the counts include the runs of before
    backfill = conduix("backfill", str(project), "posts", "--param", "board_id=42", "--state-dir", str(state))
    assert backfill.returncode == 0, backfill.stderr
    comments = lines(tmp_path / "out" / "comments.jsonl")
    assert sum(1 for c in comments if c["board_id"] == "42") == 4
    graph = conduix("graph", str(project))
    assert graph.stdout.splitlines() == ["boards [board]", "  posts [post] (per parent record)",
                                         "    comments [comment] (per parent record)"]


def test_a_cycle_is_rejected_naming_its_pipelines(tmp_path):
    for name, parent in (("a", "c"), ("b", "a"), ("c", "b")):
        write(tmp_path / "p", f"{name}.yaml", f"""
            name: {name}
            data_type: t_{name}
            parent: {parent}
            sources: {{g: {{type: generate, count: 1}}}}
            sinks: {{o: {{type: blackhole, inputs: [g]}}}}
        """)
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path / "p")
    assert "the pipelines form a cycle" in str(info.value)
    assert all(name in str(info.value) for name in ("a", "b", "c"))


def test_unknown_parent_and_trigger_mismatch_are_clear_errors(tmp_path):
    write(tmp_path / "p", "a.yaml", """
        name: a
        data_type: board
        sources: {g: {type: generate, count: 1}}
        transforms:
          t: {type: trigger, inputs: [g], pipeline: c}
        sinks: {o: {type: blackhole, inputs: [t]}}
    """)
    write(tmp_path / "p", "b.yaml", """
        name: b
        data_type: post
        parent: bord
        sources: {g: {type: generate, count: 1}}
        sinks: {o: {type: blackhole, inputs: [g]}}
    """)
    write(tmp_path / "p", "c.yaml", """
        name: c
        data_type: comment
        parent: b
        sources: {g: {type: generate, count: 1}}
        sinks: {o: {type: blackhole, inputs: [g]}}
    """)
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path / "p")
    assert "parent 'bord' is neither a pipeline nor a data type" in str(info.value)
    assert "did you mean 'board'" in str(info.value)
    (tmp_path / "p" / "b.yaml").write_text((tmp_path / "p" / "b.yaml").read_text().replace("bord", "board"))
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path / "p")
    assert "trigger 't' starts 'c', whose parent is 'b', not 'a'" in str(info.value)


def test_trigger_stage_starts_child_runs_explicitly(tmp_path):
    out = tmp_path / "out"
    write(tmp_path / "p", "orders.yaml", """
        name: orders
        sources: {g: {type: generate, count: 3, sequence_field: order_id}}
        transforms:
          t: {type: trigger, inputs: [g], pipeline: invoice, parameters: {id: .order_id}}
        sinks: {o: {type: blackhole, inputs: [t]}}
    """)
    write(tmp_path / "p", "invoice.yaml", f"""
        name: invoice
        sources: {{g: {{type: generate, count: 1, record: {{order: "${{params.id}}"}}}}}}
        sinks: {{o: {{type: file, inputs: [g], path: "{out}/invoices.jsonl"}}}}
    """)
    runner = ProjectRunner(load_project(tmp_path / "p"), state_dir=tmp_path / "state")
    assert runner.run([ChildRequest("orders", {})])
    assert sorted(r["order"] for r in lines(out / "invoices.jsonl")) == ["0", "1", "2"]
    assert len(RunStore(tmp_path / "state").list(pipeline="invoice")) == 3


def test_a_trigger_whose_target_declares_the_parent_runs_each_child_once(tmp_path):
    out = tmp_path / "out"
    write(tmp_path / "p", "orders.yaml", """
        name: orders
        sources: {g: {type: generate, count: 3, sequence_field: order_id}}
        transforms:
          t: {type: trigger, inputs: [g], pipeline: invoice, parameters: {id: .order_id}}
        sinks: {o: {type: blackhole, inputs: [t]}}
    """)
    write(tmp_path / "p", "invoice.yaml", f"""
        name: invoice
        parent: orders
        child: {{parameters: {{id: .order_id}}}}
        sources: {{g: {{type: generate, count: 1, record: {{order: "${{params.id}}"}}}}}}
        sinks: {{o: {{type: file, inputs: [g], path: "{out}/invoices.jsonl"}}}}
    """)
    runner = ProjectRunner(load_project(tmp_path / "p"), state_dir=tmp_path / "state")
    assert runner.run([ChildRequest("orders", {})])
    assert sorted(r["order"] for r in lines(out / "invoices.jsonl")) == ["0", "1", "2"]  # was: each twice
    assert len(RunStore(tmp_path / "state").list(pipeline="invoice")) == 3


def test_trigger_outside_a_project_says_how_to_run_it(tmp_path):
    write(tmp_path, "p.yaml", """
        sources: {g: {type: generate, count: 1}}
        transforms:
          t: {type: trigger, inputs: [g], pipeline: other}
        sinks: {o: {type: blackhole, inputs: [t]}}
    """)
    proc = conduix("run", str(tmp_path / "p.yaml"))
    assert proc.returncode == 1 and "conduix run-project" in proc.stderr


def test_the_kafka_boundary_example_is_a_valid_project_of_two_roots():
    project = load_project(Path(__file__).resolve().parents[2] / "examples" / "forum-kafka")
    assert sorted(project.roots()) == ["index", "normalize"]  # joined by a topic: both start at once
    assert [(r.parent, r.child, r.kind) for r in project.relations] == [("normalize", "index", "boundary")]


def test_a_streaming_project_runs_until_sigterm_then_stops_gracefully(tmp_path):
    import signal
    import subprocess
    import sys

    from conduix.testing import eventually
    from tests.conftest import ROOT

    out = tmp_path / "out.jsonl"
    write(tmp_path / "p", "stream.yaml", f"""
        name: stream
        sources: {{g: {{type: generate, rate: 200}}}}
        sinks: {{o: {{type: file, inputs: [g], path: "{out}"}}}}
    """)
    proc = subprocess.Popen([sys.executable, "-m", "conduix", "run-project", str(tmp_path / "p"), "--state-dir",
                             str(tmp_path / "state")], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    eventually(lambda: out.exists() and out.read_text(), 30, "records written")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "1 runs succeeded" in stderr
    seqs = [json.loads(line)["seq"] for line in out.read_text().splitlines()]
    assert seqs == list(range(len(seqs)))


def test_run_records_keep_the_error_counts_of_each_component(tmp_path):
    write(tmp_path / "p", "parse.yaml", """
        name: parse
        sources:
          g: {type: generate, count: 10, records: [{message: '{"ok": 1}'}, {message: oops}]}
        transforms:
          p: {type: remap, inputs: [g], source: . = parse_json!(.message)}
        sinks: {o: {type: blackhole, inputs: [p]}}
    """)
    proc = conduix("run-project", str(tmp_path / "p"), "--state-dir", str(tmp_path / "state"))
    assert proc.returncode == 0, proc.stderr
    assert "1 with record errors, see `conduix runs`" in proc.stderr
    [record] = json.loads(conduix("runs", "--state-dir", str(tmp_path / "state"), "--json").stdout)
    assert (record["status"], record["errors"]) == ("succeeded", {"p": 5})
    listed = conduix("runs", "--state-dir", str(tmp_path / "state")).stdout
    assert "errors 5 (p: 5)" in listed


def test_a_run_store_written_before_runs_kept_their_errors_is_read_and_extended(tmp_path):
    import sqlite3

    db = sqlite3.connect(str(tmp_path / "runs.sqlite"))
    db.execute("""CREATE TABLE runs (id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, project TEXT,
        parameters TEXT NOT NULL, parent_run TEXT, status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1,
        records_in INTEGER NOT NULL DEFAULT 0, records_out INTEGER NOT NULL DEFAULT 0, error TEXT,
        started REAL, ended REAL, created REAL NOT NULL)""")
    db.execute("INSERT INTO runs (id, pipeline, parameters, status, created) "
               "VALUES ('old1', 'p', '{}', 'succeeded', 1)")
    db.commit()
    db.close()
    store = RunStore(tmp_path)
    assert store.get("old1").errors == {}
    store.ended("old1", "succeeded", errors={"p": 2})
    assert store.get("old1").errors == {"p": 2}
