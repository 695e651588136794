"""The pipelines-of-pipelines example (examples/forum): boards -> posts -> comments from a paginated
HTTP API into Elasticsearch and JSON lines files, with a failing child run retried."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from tests.conftest import ROOT, conduix

pytestmark = pytest.mark.integration("elasticsearch")

FORUM = ROOT / "examples" / "forum"


@pytest.fixture
def api():
    import sys

    sys.path.insert(0, str(FORUM))
    try:
        from api_server import ForumServer
    finally:
        sys.path.remove(str(FORUM))
    server = ForumServer(("127.0.0.1", 0), failures={"/posts/201/comments": 3})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_every_comment_of_every_post_of_every_board_arrives_exactly_once(tmp_path: Path, api, es, es_url):
    out = tmp_path / "out"
    env = {"FORUM_API": api.url, "ES_URL": es_url, "FORUM_OUT": str(out)}
    proc = conduix("run-project", str(FORUM), "--state-dir", str(tmp_path / "state"), env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "13 runs succeeded, 0 failed" in proc.stderr  # 1 boards + 3 posts + 9 comments runs

    comments = [json.loads(line) for line in (out / "comments.jsonl").read_text().splitlines()]
    expected = {post * 1000 + c for board in (1, 2, 3) for post in (board * 100 + p for p in (1, 2, 3))
                for c in range(1, 6)}
    assert sorted(c["id"] for c in comments) == sorted(expected)  # every one, exactly once
    es.indices.refresh(index="forum-*")
    assert es.count(index="forum-comments")["count"] == 45
    assert es.count(index="forum-posts")["count"] == 9
    assert es.count(index="forum-boards")["count"] == 3

    # the comments of post 201 failed twice (503 past the source's own retries) and were retried as a run
    runs = json.loads(conduix("runs", "--state-dir", str(tmp_path / "state"), "--json").stdout)
    retried = [r for r in runs if r["pipeline"] == "comments" and r["parameters"] == {"post_id": 201}]
    assert len(retried) == 1 and retried[0]["attempt"] == 2 and retried[0]["status"] == "succeeded"
    assert api.requests["/posts/201/comments"] >= 4
    assert os.path.exists(out / "boards.jsonl")
