"""The HTTP examples (examples/http_api_to_file.yaml, http_file_to_collector.yaml) run as written with
``conduix run`` against a local HTTP server, their ${VARIABLES} pointing at it (the webhook example feeds
RabbitMQ: tests/messaging/test_examples.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.running import EXAMPLES, read_jsonl

from .conftest import Api, Seen

HTTP_EXAMPLES = ["http_api_to_file.yaml", "http_file_to_collector.yaml"]


@pytest.mark.parametrize("example", HTTP_EXAMPLES)
def test_example_validates(cli: Any, example: str) -> None:
    result = cli("validate", str(EXAMPLES / example))
    assert result.returncode == 0, result.stdout + result.stderr


def test_http_api_to_file_pages_through_the_api_with_its_token_into_the_file(
        cli: Any, api: Api, tmp_path: Path) -> None:
    pages = {None: ([{"id": 1}, {"id": 2}], "c2"), "c2": ([{"id": 3}], "c3"), "c3": ([{"id": 4}, {"id": 5}], None)}

    def answer(req: Seen) -> tuple[int, dict[str, str], Any]:
        if req.headers.get("authorization") != "Bearer s3cret":
            return 401, {}, {"error": "token"}
        records, following = pages[req.query.get("cursor")]
        return 200, {}, {"data": records, "meta": {"next_cursor": following}}

    api.handler = answer
    proc = cli("run", str(EXAMPLES / "http_api_to_file.yaml"), "--no-progress", cwd=tmp_path,
               env={"API_URL": f"{api.url}/v1/issues", "API_TOKEN": "s3cret"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert read_jsonl(tmp_path / ".conduix" / "issues.jsonl") == [{"id": i} for i in range(1, 6)]
    assert [(r.path, r.query) for r in api.requests] == [
        ("/v1/issues", {"state": "open", "per_page": "100"}),
        ("/v1/issues", {"state": "open", "per_page": "100", "cursor": "c2"}),
        ("/v1/issues", {"state": "open", "per_page": "100", "cursor": "c3"})]


def test_http_file_to_collector_ships_gzipped_ndjson_of_500_and_keeps_what_the_collector_refused(
        cli: Any, api: Api, tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps({"id": i, "level": "info"}) + "\n" for i in range(1200)))
    api.handler = lambda req: (400, {}, {"error": "bad"}) if {"id": 700, "level": "info"} in req.json() \
        else (200, {}, {"ok": True})
    proc = cli("run", str(EXAMPLES / "http_file_to_collector.yaml"), "--no-progress", cwd=tmp_path,
               env={"LOG_FILE": str(log), "COLLECTOR_URL": f"{api.url}/bulk"})
    assert proc.returncode == 3, proc.stdout + proc.stderr  # records failed on purpose: completed with errors
    assert "record errors (collector: 500)" in proc.stderr
    assert all(r.path == "/bulk" and r.headers["content-encoding"] == "gzip"
               and r.headers["content-type"].startswith("application/x-ndjson") for r in api.requests)
    sent = [r.json() for r in api.requests]
    assert all(len(records) <= 500 for records in sent)
    refused = next(records for records in sent if {"id": 700, "level": "info"} in records)
    accepted = [r["id"] for records in sent if records is not refused for r in records]
    assert sorted(accepted + [r["id"] for r in refused]) == list(range(1200))
    rejected = read_jsonl(tmp_path / ".conduix" / "rejected.jsonl")
    assert [d["record"] for d in rejected] == refused
    assert "HTTP 400" in rejected[0]["error"]
