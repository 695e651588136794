"""``http`` sink against a local test server: batching, retries that do not resend, 4xx to on_error."""

from __future__ import annotations

import pytest

from conduix.testing import eventually, run_pipeline

from .conftest import Api, Seen

pytestmark = pytest.mark.integration("http")

RECORDS = [{"id": i} for i in range(250)]


def run_sink(api: Api, sink: dict, records: list[dict] = RECORDS):
    sinks: dict = {"out": {"type": "http", "inputs": ["in"], "url": f"{api.url}/bulk", **sink}}
    if sink.get("on_error") == "dead_letter":
        sinks["dead"] = {"type": "collect", "inputs": ["out.dead_letter"]}
    return run_pipeline({"settings": {"batch_size": 250}, "sources": {"in": {"type": "list", "records": records}},
                         "sinks": sinks})


@pytest.mark.parametrize("sink", [{"max_records": 100}, {"max_records": 100, "encoding": "ndjson",
                                                          "compression": "gzip", "method": "PUT"}])
def test_batched_requests_carry_every_record(api: Api, sink: dict) -> None:
    api.handler = lambda req: (200, {}, {"ok": True})
    run_sink(api, {**sink, "headers": {"X-Api-Key": "k"}})
    assert [len(r.json()) for r in api.requests] == [100, 100, 50]
    assert [x for r in api.requests for x in r.json()] == RECORDS
    assert {r.method for r in api.requests} == {sink.get("method", "POST")}
    assert api.requests[0].headers["x-api-key"] == "k"


def test_5xx_is_retried_without_resending_what_succeeded(api: Api) -> None:
    calls = {"n": 0}

    def handler(req: Seen):
        calls["n"] += 1
        return (503, {"Retry-After": "1"}, {"error": "busy"}) if calls["n"] == 2 else (200, {}, {})

    api.handler = handler
    result = run_sink(api, {"max_records": 100, "retry": {"initial": 0.05}})
    assert result.ok
    bodies = [r.json() for r in api.requests]
    assert len(bodies) == 4  # chunk 1, chunk 2 (503), chunk 2 again, chunk 3: chunk 1 not sent twice
    assert bodies[1] == bodies[2]
    assert [x for b in bodies[:1] + bodies[2:] for x in b] == RECORDS
    assert api.requests[2].time - api.requests[1].time >= 0.95  # Retry-After honoured
    assert result.result.stats["out"].retries == 1


def test_4xx_records_go_to_dead_letter_the_rest_is_written(api: Api) -> None:
    api.handler = lambda req: (422, {}, {"error": "bad id"}) if req.json()[0]["id"] == 100 else (200, {}, {})
    result = run_sink(api, {"max_records": 100, "on_error": "dead_letter"})
    dead = result.records("dead")
    assert [d["record"]["id"] for d in dead] == list(range(100, 200))
    assert "HTTP 422" in dead[0]["error"] and "bad id" in dead[0]["error"]
    assert result.result.stats["out"].records_out == 150
    assert len(api.requests) == 3  # a 4xx is not retried


def test_4xx_stops_the_run_by_default(api: Api) -> None:
    api.handler = lambda req: (400, {}, {"error": "schema"})
    result = run_pipeline({"sources": {"in": {"type": "list", "records": [{"id": 1}]}},
                           "sinks": {"out": {"type": "http", "inputs": ["in"], "url": f"{api.url}/bulk"}}},
                          raise_on_error=False)
    assert not result.ok
    assert "HTTP 400" in str(result.result.error) and "out" in str(result.result.error)


def test_endpoint_down_then_up_delivers_everything_once(tmp_path) -> None:
    import socket

    from .conftest import start_pipeline

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = start_pipeline({
        "sources": {"in": {"type": "list", "records": RECORDS}},
        "sinks": {"out": {"type": "http", "inputs": ["in"], "url": f"http://127.0.0.1:{port}/bulk",
                          "max_records": 100, "retry": {"initial": 0.1, "max": 0.5}}}}, tmp_path)
    eventually(lambda: run.stats()["out"].retries >= 3, 20, "the refused connection retried 3 times")
    assert not run.done and run.nodes["in"].component.acknowledged == []
    api = Api(port)
    try:
        api.handler = lambda req: (200, {}, {})
        assert run.join(30), run.status()
    finally:
        api.close()
    assert run.error is None
    assert [x for r in api.requests for x in r.json()] == RECORDS
    assert run.nodes["out"].stats.retries > 0
