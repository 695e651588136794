"""``http_client`` source against a local test server: pagination, retries, parameters, auth."""

from __future__ import annotations

import pytest

from conduix.errors import ConfigError, ConnectorError
from conduix.testing import run_pipeline

from .conftest import Api, Seen

pytestmark = pytest.mark.integration("http")

ITEMS = [{"id": i} for i in range(250)]


def run_client(source: dict, **options: object):
    return run_pipeline({"sources": {"in": {"type": "http_client", **source}},
                         "sinks": {"out": {"type": "collect", "inputs": ["in"]}}}, **options)


def paged_api(api: Api, mode: str) -> None:
    def handler(req: Seen):
        q = req.query
        if mode == "next_link":
            start = int(q.get("from", 0))
            nxt = f"/items?from={start + 100}" if start + 100 < len(ITEMS) else None
            return 200, {}, {"data": {"items": ITEMS[start:start + 100]}, "links": {"next": nxt}}
        if mode == "header":
            start = int(q.get("from", 0))
            link = {"Link": f'<{api.url}/items?from={start + 100}>; rel="next"'} if start + 100 < len(ITEMS) else {}
            return 200, link, {"data": {"items": ITEMS[start:start + 100]}}
        if mode == "cursor":
            start = int(q.get("cursor", 0))
            nxt = str(start + 100) if start + 100 < len(ITEMS) else None
            return 200, {}, {"data": {"items": ITEMS[start:start + 100]}, "next_cursor": nxt}
        if mode == "page":
            start = (int(q["page"]) - 1) * int(q["per_page"])
            return 200, {}, {"data": {"items": ITEMS[start:start + int(q["per_page"])]}}
        start = int(q["offset"])
        return 200, {}, {"data": {"items": ITEMS[start:start + int(q["limit"])]}}

    api.handler = handler


@pytest.mark.parametrize(("mode", "pagination"), [
    ("next_link", {"type": "next_link", "next_path": ".links.next"}),
    ("header", {"type": "next_link", "next_path": "header"}),
    ("cursor", {"type": "cursor", "cursor_path": ".next_cursor", "cursor_param": "cursor"}),
    ("page", {"type": "page", "page_param": "page", "size_param": "per_page", "page_size": 100}),
    ("offset", {"type": "offset", "offset_param": "offset", "size_param": "limit", "page_size": 100}),
])
def test_pagination_reads_every_page_once(api: Api, mode: str, pagination: dict) -> None:
    paged_api(api, mode)
    result = run_client({"url": f"{api.url}/items", "records_path": ".data.items", "pagination": pagination})
    assert result.records("out") == ITEMS
    assert len(api.requests) == 3
    assert result.result.components["out"].meta[-1]["page"] == 3


def test_retries_429_and_5xx_honouring_retry_after(api: Api) -> None:
    answers = iter([(429, {"Retry-After": "1"}, {"error": "slow down"}), (503, {}, {"error": "busy"}),
                    (200, {}, [{"id": 1}, {"id": 2}])])
    api.handler = lambda req: next(answers)
    result = run_client({"url": f"{api.url}/x", "retries": {"max_attempts": 3, "initial": 0.05}})
    assert result.records("out") == [{"id": 1}, {"id": 2}]
    assert len(api.requests) == 3
    assert api.requests[1].time - api.requests[0].time >= 0.95  # it waited as Retry-After asked


def test_client_error_stops_with_the_url_and_status(api: Api) -> None:
    api.handler = lambda req: (404, {}, {"error": "no such board"})
    with pytest.raises(ConnectorError, match=r"/boards/7/posts answered HTTP 404 Not Found.*no such board"):
        run_client({"url": f"{api.url}/boards/7/posts"})
    assert len(api.requests) == 1  # a 404 is not retried


def test_url_template_from_parameters_and_bearer_auth(api: Api) -> None:
    api.handler = lambda req: (200, {}, {"posts": [{"title": "hi"}]}) if req.path == "/boards/42/posts" \
        else (404, {}, {})
    result = run_client({"url": api.url + "/boards/{board_id}/posts", "records_path": ".posts",
                         "auth": {"type": "bearer", "token": "s3cret"}, "params": {"state": "open"}},
                        parameters={"board_id": 42})
    assert result.records("out") == [{"title": "hi"}]
    assert api.requests[0].headers["authorization"] == "Bearer s3cret"
    assert api.requests[0].query == {"state": "open"}
    with pytest.raises(ConfigError, match=r"needs parameter.*'board_id'"):
        run_client({"url": api.url + "/boards/{board_id}/posts"})


def test_rate_limit_spaces_requests(api: Api) -> None:
    paged_api(api, "page")
    run_client({"url": f"{api.url}/items", "records_path": ".data.items", "rate_limit": 4,
                "pagination": {"type": "page", "size_param": "per_page", "page_size": 50, "page_param": "page"}})
    assert len(api.requests) == 6  # 250 records in pages of 50, then an empty page
    # at most 4 requests per second: 5 intervals of 0.25 s (less a margin for when each request reached the server)
    assert api.requests[-1].time - api.requests[0].time >= 1.0


def test_non_json_page_is_rejected_to_dead_letter(api: Api) -> None:
    api.handler = lambda req: (200, {"Content-Type": "text/html"}, b"<html>maintenance</html>")
    result = run_pipeline({
        "sources": {"in": {"type": "http_client", "url": f"{api.url}/x", "on_error": "dead_letter"}},
        "sinks": {"out": {"type": "collect", "inputs": ["in"]},
                  "dead": {"type": "collect", "inputs": ["in.dead_letter"]}}})
    assert result.records("out") == []
    dead = result.records("dead")
    assert dead[0]["record"] == {"message": "<html>maintenance</html>"} and "not JSON" in dead[0]["error"]


def test_interval_fetches_again_until_stopped(api: Api, tmp_path) -> None:
    from conduix.testing import eventually

    from .conftest import start_pipeline

    rounds = {"n": 0}

    def handler(req: Seen):
        rounds["n"] += 1
        return 200, {}, [{"round": rounds["n"]}]

    api.handler = handler
    run = start_pipeline({"sources": {"in": {"type": "http_client", "url": f"{api.url}/feed", "interval": 0.1}},
                          "sinks": {"out": {"type": "collect", "inputs": ["in"]}}}, tmp_path)
    try:
        eventually(lambda: len(run.nodes["out"].component.records) >= 3, 20, "three rounds")
    finally:
        run.stop()
        assert run.join(20)
    assert run.error is None
    assert [r["round"] for r in run.nodes["out"].component.records][:3] == [1, 2, 3]


def test_post_with_json_body_and_basic_auth(api: Api) -> None:
    api.handler = lambda req: (200, {}, {"hits": {"hits": [{"_id": "a"}, {"_id": "b"}]}})
    result = run_client({"url": f"{api.url}/search", "method": "POST", "body": {"query": {"match_all": {}}},
                         "records_path": ".hits.hits", "auth": {"type": "basic", "username": "u", "password": "p"}})
    assert result.records("out") == [{"_id": "a"}, {"_id": "b"}]
    request = api.requests[0]
    assert request.method == "POST" and request.json() == {"query": {"match_all": {}}}
    assert request.headers["authorization"] == "Basic dTpw"


def test_path_extractor_and_retry_after_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    import email.utils
    import time

    from conduix.builtins.http_client import extract, retry_after

    body = {"data": {"items": [{"id": 1}, {"id": 2}]}, "n": None}
    assert extract(body, ".data.items.1") == {"id": 2}
    assert extract(body, ".") is body and extract(body, "") is body
    assert extract(body, ".data.missing") is None and extract(body, ".n.x") is None
    assert extract(body, ".data.items.7") is None
    assert retry_after("3", cap=30) == 3 and retry_after("300", cap=30) == 30
    assert retry_after(None, cap=30) is None and retry_after("soon", cap=30) is None
    now = 1_700_000_000.0
    monkeypatch.setattr(time, "time", lambda: now)  # the clock stands still: an HTTP date is an exact delay
    assert retry_after(email.utils.formatdate(now + 10, usegmt=True), cap=30) == 10
    assert retry_after(email.utils.formatdate(now + 100, usegmt=True), cap=30) == 30
    assert retry_after(email.utils.formatdate(now - 10, usegmt=True), cap=30) == 0


def test_no_content_ends_the_pages(api: Api) -> None:
    api.handler = lambda req: (204, {}, b"")
    result = run_client({"url": f"{api.url}/empty", "pagination": {"type": "page"}})
    assert result.records("out") == [] and len(api.requests) == 1
