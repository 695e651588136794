"""The HTTP endpoint of a process running pipelines: /metrics, /health, /ready, /status, /tap.

Served by ``conduix run --metrics-port`` (and by the agent). It binds to loopback
unless told otherwise.
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import orjson

from conduix.observability.tap import Tap

if TYPE_CHECKING:
    from conduix.observability.telemetry import Telemetry
    from conduix.runtime.runner import PipelineRun

__all__ = ["ObservabilityServer"]

logger = logging.getLogger(__name__)


class ObservabilityServer:
    """Serves the runs attached to ``telemetry``; ``start()`` runs it in a daemon thread."""

    def __init__(self, telemetry: Telemetry, host: str = "127.0.0.1", port: int = 0) -> None:
        self.telemetry = telemetry
        handler = _handler_for(self)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="conduix-observability",
                                       daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{self.port}"

    def start(self) -> ObservabilityServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- answers --------------------------------------------------------------------------------
    def runs(self) -> list[PipelineRun]:
        return list(self.telemetry.runs)

    def ready(self) -> tuple[bool, list[str]]:
        reasons = []
        runs = self.runs()
        if not runs:
            reasons.append("no pipeline is running")
        for run in runs:
            reasons.extend(run.not_ready())
        return not reasons, reasons

    def find(self, pipeline: str | None, component: str) -> PipelineRun | None:
        for run in self.runs():
            if (pipeline is None or run.spec.name == pipeline) and component in run.nodes:
                return run
        return None


def _handler_for(server: ObservabilityServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("observability %s", format % args)

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            parts = [p for p in url.path.split("/") if p]
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path == "/health":
                self._send(200, b'{"status":"alive"}')
            elif url.path == "/ready":
                ok, reasons = server.ready()
                self._send(200 if ok else 503, orjson.dumps({"ready": ok, "reasons": reasons}))
            elif url.path == "/metrics":
                self._send(200, server.telemetry.prometheus_text(), "text/plain; version=0.0.4; charset=utf-8")
            elif url.path == "/status":
                self._send(200, orjson.dumps({"pipelines": [run.status() for run in server.runs()]}))
            elif parts and parts[0] == "tap" and len(parts) in (2, 3):
                self._tap(parts[1] if len(parts) == 3 else None, parts[-1], query)
            else:
                self._send(404, b'{"error":"not found: try /metrics, /health, /ready, /status, /tap/COMPONENT"}')

        def _tap(self, pipeline: str | None, component: str, query: dict[str, str]) -> None:
            run = server.find(pipeline, component)
            if run is None:
                known = [f"{r.spec.name}/{c}" for r in server.runs() for c in r.nodes]
                self._send(404, orjson.dumps({"error": f"no component {component!r}", "known": known}))
                return
            limit = int(query.get("limit", "20"))
            timeout = float(query.get("timeout", "30"))
            tap = Tap(query.get("output"))
            node = run.nodes[component]
            node.taps.append(tap)
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
                sent, deadline = 0, time.monotonic() + timeout
                while sent < limit and time.monotonic() < deadline and not run.done:
                    try:
                        line = tap.samples.get(timeout=0.2)
                    except Exception:
                        continue
                    self.wfile.write(line + b"\n")
                    self.wfile.flush()
                    sent += 1
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                node.taps.remove(tap)

    return Handler
