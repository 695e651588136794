"""Examples that join two kinds of server run with the conduix CLI against the session's servers:
examples/s3_replay_to_elasticsearch.yaml (replaying what s3_archive_logs.yaml archived) and the forum-kafka
project (two pipelines joined by a Kafka topic)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from conduix.testing import eventually
from tests.conftest import ROOT, conduix
from tests.running import EXAMPLES, read_jsonl

pytestmark = [pytest.mark.integration("elasticsearch")]


@pytest.mark.integration("s3")
def test_s3_replay_to_elasticsearch_indexes_each_archived_event_once_however_often_it_runs(
        tmp_path: Path, s3_url: str, s3: Any, bucket: str, es: Any, es_url: str) -> None:
    service = f"svc{uuid.uuid4().hex[:8]}"
    logs = tmp_path / "app.jsonl"
    logs.write_text("".join(json.dumps({"event_id": f"e{n}", "service": service, "n": n,
                                        "timestamp": f"2024-0{1 + n % 2}-15T08:00:00Z"}) + "\n" for n in range(60)))
    env = {"LOGS": str(logs), "S3_BUCKET": bucket, "S3_ENDPOINT": s3_url, "ES_URL": es_url,
           "REJECTS": str(tmp_path / "rejects.jsonl")}
    archived = conduix("run", str(EXAMPLES / "s3_archive_logs.yaml"), env=env)
    assert archived.returncode == 0, archived.stderr
    s3.put_object(Bucket=bucket, Key=f"logs/{service}/broken.jsonl.gz", Body=gzip.compress(b'{"event_id": "x", \n'))
    for attempt in range(2):  # the second replay starts afresh (its own state): ids keep it idempotent
        proc = conduix("run", str(EXAMPLES / "s3_replay_to_elasticsearch.yaml"),
                       env={**env, "CONDUIX_STATE_DIR": str(tmp_path / f"state-{attempt}")})
        assert proc.returncode == 3, proc.stderr  # the broken line is a record error (archive: 1), not a success
        assert "record errors (archive: 1)" in proc.stderr
    es.indices.refresh(index=f"replay-{service}-*")
    assert es.count(index=f"replay-{service}-2024.01")["count"] == 30
    assert es.count(index=f"replay-{service}-2024.02")["count"] == 30
    assert es.get(index=f"replay-{service}-2024.02", id="e7")["_source"]["n"] == 7
    bad = read_jsonl(tmp_path / "rejects.jsonl")
    assert len(bad) == 2 and bad[0]["record"] == {"message": '{"event_id": "x", '}  # once per replay


@pytest.mark.integration("kafka")
def test_forum_kafka_project_normalizes_comments_into_the_topic_and_indexes_them(
        tmp_path: Path, broker: Any, names: Any, es: Any, es_url: str) -> None:
    """Both pipelines run at once; the comments arrive in Elasticsearch trimmed and lower-cased; SIGTERM ends
    the streaming project gracefully. (The topic, group and index get names of this test's own.)"""
    project = tmp_path / "forum-kafka"
    shutil.copytree(EXAMPLES / "forum-kafka", project)
    topic, index = names("comments"), f"forum-comments-{uuid.uuid4().hex[:8]}"
    broker.create_topics(topic)
    normalize, indexer = yaml.safe_load((project / "normalize.yaml").read_text()), \
        yaml.safe_load((project / "index.yaml").read_text())
    normalize["sinks"]["topic"]["topic"] = topic
    indexer["sources"]["topic"].update(topics=[topic], group_id=names("forum-indexer"), session_timeout_ms=6000)
    indexer["sinks"]["search"]["index"] = index
    (project / "normalize.yaml").write_text(yaml.safe_dump(normalize, sort_keys=False))
    (project / "index.yaml").write_text(yaml.safe_dump(indexer, sort_keys=False))

    env = {**os.environ, "KAFKA": broker.bootstrap, "ES_URL": es_url}
    log = tmp_path / "run-project.log"
    with open(log, "wb") as out:  # as the example says: from the repository, where examples/data is
        proc = subprocess.Popen([sys.executable, "-m", "conduix", "run-project", str(project), "--state-dir",
                                 str(tmp_path / "state")], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def indexed() -> int:
            assert proc.poll() is None, log.read_text()
            if not es.indices.exists(index=index):
                return 0
            es.indices.refresh(index=index)
            return int(es.count(index=index)["count"])

        eventually(lambda: indexed() == 2, 90, lambda: log.read_text()[-3000:])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert es.get(index=index, id="1")["_source"] == {"id": 1, "post_id": 7, "author": "ada", "text": "first!"}
    assert es.get(index=index, id="2")["_source"]["author"] == "linus"
