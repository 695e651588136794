"""``http_server`` source: answers after acknowledgement, backpressure, auth, bad input."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import orjson
import pytest

from conduix.testing import eventually

from .conftest import server_url, start_pipeline

pytestmark = pytest.mark.integration("http")


def pipeline(tmp_path: Path, source: dict, *, delay: float | None = None):
    config: dict = {"settings": {"batch_size": 100},
                    "sources": {"in": {"type": "http_server", "port": 0, "path": "/ingest", **source}},
                    "sinks": {"out": {"type": "collect", "inputs": ["slow" if delay else "in"]}}}
    if delay:
        config["transforms"] = {"slow": {"type": "python", "inputs": ["in"], "mode": "batch",
                                         "function": "tests.messaging.helpers:slow", "options": {"delay": delay}}}
    return start_pipeline(config, tmp_path)


def collected(run) -> list[dict]:
    return run.nodes["out"].component.records


def test_answers_200_after_the_sink_wrote_json_and_json_lines(tmp_path: Path) -> None:
    run = pipeline(tmp_path, {})
    try:
        url = server_url(run)
        one = httpx.post(url, json={"id": 1})
        assert one.status_code == 200 and one.json() == {"accepted": 1}
        assert {"id": 1} in collected(run)  # written before the answer
        many = httpx.post(url, json=[{"id": 2}, {"id": 3}])
        assert many.status_code == 200 and many.json() == {"accepted": 2}
        lines = httpx.post(url, content=b'{"id": 4}\n\n{"id": 5}\n', headers={"Content-Type": "application/x-ndjson"})
        assert lines.status_code == 200 and lines.json() == {"accepted": 2}
        assert [r["id"] for r in collected(run)] == [1, 2, 3, 4, 5]
        bad = httpx.post(url, content=b'{"id": 6}\n{oops\n', headers={"Content-Type": "application/x-ndjson"})
        assert bad.status_code == 400 and "line 2 is not JSON" in bad.json()["error"]
        assert httpx.post(url, json=[1, 2]).status_code == 400
        assert httpx.get(url).status_code == 405
        assert httpx.post(url.replace("/ingest", "/other"), json={}).status_code == 404
        meta = run.nodes["out"].component.meta[0]
        assert meta["path"] == "/ingest" and meta["remote"] == "127.0.0.1"
    finally:
        run.stop()
        assert run.join(20)
    assert run.error is None
    assert [r["id"] for r in collected(run)] == [1, 2, 3, 4, 5]  # nothing from the rejected bodies


def test_ack_false_answers_202_at_once(tmp_path: Path) -> None:
    run = pipeline(tmp_path, {"ack": False})
    try:
        url = server_url(run)
        answer = httpx.post(url, json=[{"id": 1}, {"id": 2}])
        assert answer.status_code == 202 and answer.json() == {"accepted": 2}
        eventually(lambda: len(collected(run)) == 2, 10, "the records to arrive")
    finally:
        run.stop()
        assert run.join(20)


def test_bearer_token_and_body_limit(tmp_path: Path) -> None:
    run = pipeline(tmp_path, {"auth_token": "t0ken", "max_body_bytes": 1000})
    try:
        url = server_url(run)
        assert httpx.post(url, json={"id": 1}).status_code == 401
        assert httpx.post(url, json={"id": 1}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        good = {"Authorization": "Bearer t0ken"}
        assert httpx.post(url, json={"id": 1}, headers=good).status_code == 200
        assert httpx.post(url, json=[{"pad": "x" * 2000}], headers=good).status_code == 413
    finally:
        run.stop()
        assert run.join(20)
    assert collected(run) == [{"id": 1}]


def test_concurrent_posts_get_429_when_full_and_nothing_answered_200_is_lost(tmp_path: Path) -> None:
    run = pipeline(tmp_path, {"max_pending": 40}, delay=0.2)  # 5 requests waiting at once fill it
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    url = server_url(run)

    def client(worker: int) -> None:
        with httpx.Client(timeout=30) as http:
            for n in range(25):
                request_id = worker * 1000 + n
                body = [{"request": request_id, "i": i} for i in range(10)]
                status = http.post(url, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
                with lock:
                    statuses[request_id] = status.status_code

    threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        run.stop()
        assert run.join(30)
    assert run.error is None
    assert set(statuses.values()) <= {200, 429}
    ok = {r for r, s in statuses.items() if s == 200}
    refused = {r for r, s in statuses.items() if s == 429}
    assert refused, "the server must push back when more than max_pending records wait"
    assert ok, "and accept what fits"
    got: dict[int, int] = {}
    for record in collected(run):
        got[record["request"]] = got.get(record["request"], 0) + 1
    assert {r for r in ok} <= set(got) and all(got[r] == 10 for r in ok)  # every record answered 200 is there
    assert not refused & set(got)  # and nothing it refused got in


def test_after_stop_new_requests_get_503(tmp_path: Path) -> None:
    run = pipeline(tmp_path, {})
    url = server_url(run)
    run.nodes["in"].component.stop()  # what PipelineRun.stop() does first, before the drain closes the server
    answer = httpx.post(url, json={"id": 1})
    assert answer.status_code == 503 and answer.headers["retry-after"]
    run.stop()
    assert run.join(20)
    assert collected(run) == []


def test_request_not_acknowledged_within_ack_timeout_gets_503(tmp_path: Path) -> None:
    run = pipeline(tmp_path, {"ack_timeout": 0.3}, delay=1.5)
    try:
        url = server_url(run)
        answer = httpx.post(url, json={"id": 1}, timeout=10)
        assert answer.status_code == 503 and "may still be delivered" in answer.json()["error"]
        eventually(lambda: collected(run) == [{"id": 1}], 10, "the record, delivered after all")
    finally:
        run.stop()
        assert run.join(20)


def test_port_in_use_fails_the_run_clearly(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        run = start_pipeline({"sources": {"in": {"type": "http_server", "port": port}},
                              "sinks": {"out": {"type": "collect", "inputs": ["in"]}}}, tmp_path)
        assert run.join(20)
    assert run.error is not None
    assert f"cannot listen on 127.0.0.1:{port}" in str(run.error)
