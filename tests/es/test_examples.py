"""The Elasticsearch examples (examples/es_*.yaml) run with ``conduix run`` against the session's server,
their ${VARIABLES} pointing at it, and do what their comments say (s3_replay_to_elasticsearch.yaml, which
needs S3 too: tests/e2e/test_examples.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import conduix
from tests.es.test_es_source import index_docs
from tests.running import EXAMPLES, load_example, read_jsonl, until

pytestmark = pytest.mark.integration("elasticsearch")


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("es_*.yaml")))
def test_examples_are_valid(example: str) -> None:
    proc = conduix("validate", str(EXAMPLES / example))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_incremental_export_example_runs(tmp_path: Path, es: Any, es_url: str, index_name: str) -> None:
    index_docs(es, index_name, [{"seq": n, "event_id": f"e-{n:03d}", "level": "error" if n % 3 == 0 else "info",
                                 "@timestamp": f"2024-05-01T00:00:{n:02d}Z"} for n in range(30)])
    export = tmp_path / "errors.jsonl"
    env = {"ES_URL": es_url, "ES_INDEX": index_name, "EXPORT": str(export)}
    for _ in range(2):  # the second run finds nothing new
        proc = conduix("run", str(EXAMPLES / "es_incremental_export.yaml"), env=env)
        assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["seq"] for line in export.read_text().splitlines()] == list(range(0, 30, 3))


def test_logs_to_daily_indices_follows_the_files_into_one_index_per_service_and_day(
        tmp_path: Path, es: Any, es_url: str, conduix_process: Any) -> None:
    """Records go to logs-<service>-<day of their @timestamp>; lines appended later follow; a record without
    'service' goes to the rejects file."""
    api, web = f"api{uuid.uuid4().hex[:8]}", f"web{uuid.uuid4().hex[:8]}"
    logs = tmp_path / "logs"
    logs.mkdir()

    def line(n: int, service: str | None) -> str:
        record = {"n": n, "@timestamp": f"2024-03-0{1 + n % 2}T12:00:00Z", "message": f"event {n}"}
        return json.dumps({**record, "service": service} if service else record) + "\n"

    (logs / "api.jsonl").write_text("".join(line(n, api) for n in range(100)))
    (logs / "web.jsonl").write_text("".join(line(n, web) for n in range(40)) + line(999, None))
    rejects = tmp_path / "rejects.jsonl"
    proc = conduix_process(load_example("es_logs_to_daily_indices.yaml"), cwd=tmp_path,
                           env={"LOGS": str(logs / "*.jsonl"), "ES_URL": es_url, "REJECTS": str(rejects)}).start()

    def count(service: str) -> int:
        es.indices.refresh(index=f"logs-{service}-*", allow_no_indices=True)
        return int(es.count(index=f"logs-{service}-*", allow_no_indices=True)["count"])

    until(proc, lambda: count(api) == 100 and count(web) == 40 and len(read_jsonl(rejects)) == 1)
    with (logs / "web.jsonl").open("a") as f:  # follow: true
        f.write("".join(line(n, web) for n in range(40, 50)))
    until(proc, lambda: count(web) == 50)
    code = proc.stop()  # records failed on purpose: completed with errors, exit 3
    assert code == 3 and "record errors (search: 1)" in proc.output(), proc.output()
    assert es.count(index=f"logs-{api}-2024.03.01")["count"] == 50
    assert es.count(index=f"logs-{api}-2024.03.02")["count"] == 50
    assert es.count(index=f"logs-{web}-2024.03.02")["count"] == 25
    assert read_jsonl(rejects)[0]["record"]["n"] == 999
