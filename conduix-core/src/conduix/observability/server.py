"""The HTTP endpoint of a process running pipelines: /metrics, /health, /ready, /status, /tap.

Served by ``conduix run --metrics-port`` (and by the agent, with a backend of its own). It binds to
loopback unless told otherwise.
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


class InProcessBackend:
    """What the endpoint serves for runs in this process: their telemetry, status, readiness and taps."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def runs(self) -> list[PipelineRun]:
        return list(self.telemetry.runs)

    def metrics_text(self) -> bytes:
        return self.telemetry.prometheus_text()

    def status(self) -> dict[str, Any]:
        return {"pipelines": [run.status() for run in self.runs()]}

    def ready(self) -> tuple[bool, list[str]]:
        reasons = []
        runs = self.runs()
        if not runs:
            reasons.append("no pipeline is running")
        for run in runs:
            reasons.extend(run.not_ready())
        return not reasons, reasons

    def tap_target(self, pipeline: str | None, component: str) -> tuple[PipelineRun | None, list[str]]:
        """The run holding ``component`` (or None), and the components one could tap instead."""
        for run in self.runs():
            if (pipeline is None or run.spec.name == pipeline) and component in run.nodes:
                return run, []
        return None, [f"{r.spec.name}/{c}" for r in self.runs() for c in r.nodes]


class ObservabilityServer:
    """Serves a backend (the runs attached to a Telemetry, or a supervision tree); ``start()`` runs it in a
    daemon thread."""

    def __init__(self, backend: Telemetry | Any, host: str = "127.0.0.1", port: int = 0) -> None:
        from conduix.observability.telemetry import Telemetry

        self.backend = InProcessBackend(backend) if isinstance(backend, Telemetry) else backend
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
                health = getattr(server.backend, "health", None)  # a backend may say more than "alive"
                self._send(200, orjson.dumps(health() if health is not None else {"status": "alive"}, default=str))
            elif url.path == "/ready":
                ok, reasons = server.backend.ready()
                self._send(200 if ok else 503, orjson.dumps({"ready": ok, "reasons": reasons}))
            elif url.path == "/metrics":
                self._send(200, server.backend.metrics_text(), "text/plain; version=0.0.4; charset=utf-8")
            elif url.path == "/status":
                self._send(200, orjson.dumps(server.backend.status(), default=str))
            elif parts and parts[0] == "tap" and len(parts) in (2, 3):
                self._tap(parts[1] if len(parts) == 3 else None, parts[-1], query)
            else:
                self._send(404, b'{"error":"not found: try /metrics, /health, /ready, /status, /tap/COMPONENT"}')

        def _tap(self, pipeline: str | None, component: str, query: dict[str, str]) -> None:
            run, known = server.backend.tap_target(pipeline, component)
            if run is None:
                error = f"no component {component!r}" if known or not hasattr(server.backend, "tree") else (
                    "taps need an in-process run: records stay inside the worker processes of a supervised run")
                self._send(404, orjson.dumps({"error": error, "known": known}))
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
