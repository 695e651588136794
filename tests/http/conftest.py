"""A local HTTP test server whose answers each test scripts, and pipeline helpers."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conduix.testing import eventually


@dataclass
class Seen:
    """One request the test server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    time: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        data = gzip.decompress(self.body) if self.headers.get("content-encoding") == "gzip" else self.body
        if self.headers.get("content-type", "").startswith("application/x-ndjson"):
            return [json.loads(line) for line in data.splitlines() if line.strip()]
        return json.loads(data)


Answer = tuple[int, dict[str, str], Any]
Handler = Callable[[Seen], Answer]


class Api:
    """``api.handler = lambda req: (200, {}, {...})``; ``api.requests`` lists what arrived."""

    def __init__(self, port: int = 0) -> None:
        self.handler: Handler = lambda req: (404, {}, {"error": "no handler"})
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        api = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, url.path, {k: v[-1] for k, v in parse_qs(url.query).items()},
                            {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with api.lock:
                    api.requests.append(seen)
                status, headers, body = api.handler(seen)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    try:
        yield server
    finally:
        server.close()


def start_pipeline(config: dict[str, Any], state_dir: Any) -> Any:
    from conduix.config import pipeline_from_dict
    from conduix.runtime import PipelineRun
    from conduix.testing import test_registry

    return PipelineRun(pipeline_from_dict(config, registry=test_registry()), state_dir=state_dir).start()


def server_url(run: Any, source_id: str = "in") -> str:
    """The URL of a running pipeline's http_server source (listening on a free port)."""
    eventually(lambda: run.nodes[source_id].opened.is_set() or run.done, 10, "the server to listen")
    assert not run.done, run.error
    component = run.nodes[source_id].component
    return f"http://127.0.0.1:{component.port}{component.config.path}"
