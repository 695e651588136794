"""A small HTTP proxy in front of a real server that injects faults: whole-request error answers, connection
resets (before or after forwarding), answers cut off half way and, for Elasticsearch bulk requests,
item-level error answers for chosen documents (those items are not forwarded; the others are, and the
answers are merged in order).

Used by the Elasticsearch tests and, for resets and cut-off answers, by the S3 tests.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

ItemFault = Callable[[dict[str, Any], dict[str, Any] | None], int | None]
"""``(action line, document or None) -> status to answer instead of forwarding, or None``."""

_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "upgrade", "te",
        "content-length"}


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.lock = threading.Lock()
        # methods as keys; "*" matches any method
        self.fail_next: list[tuple[str, int]] = []  # (method, status) answered instead of forwarding
        self.reset_before: dict[str, int] = {}  # method -> how many requests to reset before forwarding
        self.reset_after: dict[str, int] = {}  # method -> how many to forward, then reset instead of answering
        self.item_fault: ItemFault | None = None
        self.down = False  # while set, every connection is reset: the server looks dead
        self.truncate: dict[str, int] = {}  # path substring -> how many answers to cut off half way through
        self.headers_seen: list[dict[str, str]] = []  # request headers, names in lower case
        self.requests = 0
        self.injected = 0
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def clear(self) -> None:
        with self.lock:
            self.fail_next.clear()
            self.reset_before.clear()
            self.reset_after.clear()
            self.item_fault = None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _take(self, table: dict[str, int], method: str) -> bool:
        with self.lock:
            key = method if table.get(method, 0) > 0 else "*"
            if table.get(key, 0) > 0:
                table[key] -= 1
                self.injected += 1
                return True
        return False

    def _take_fail(self, method: str) -> int | None:
        with self.lock:
            for i, (m, status) in enumerate(self.fail_next):
                if m in (method, "*"):
                    del self.fail_next[i]
                    self.injected += 1
                    return status
        return None

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, response.getheaders(), data
        finally:
            conn.close()


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        head = self.command == "HEAD"
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP and (head or name.lower() != "content-length"):
                self.send_header(name, value)
        if not head:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _handle(self) -> None:
        owner = self.owner
        method = self.command
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with owner.lock:
            owner.requests += 1
        with owner.lock:
            owner.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
        if owner.down or owner._take(owner.reset_before, method):
            self._reset()
            return
        status = owner._take_fail(method)
        if status is not None:
            payload = json.dumps({"error": {"type": "injected", "reason": f"injected {status}"}, "status": status})
            self._send(status, [("Content-Type", "application/json")], payload.encode())
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        if owner.item_fault is not None and self.path.split("?")[0].endswith("/_bulk"):
            status, out_headers, data = self._bulk(headers, body)
        else:
            status, out_headers, data = owner.forward(method, self.path, headers, body)
        if owner._take(owner.reset_after, method):
            self._reset()
            return
        if data and any(part in self.path and owner._take(owner.truncate, part) for part in list(owner.truncate)):
            self.send_response(status)
            for name, value in out_headers:
                if name.lower() not in _HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._reset()
            return
        self._send(status, out_headers, data)

    def _bulk(self, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        """Answer chosen items with an injected status; forward the others; merge the answers in order."""
        fault = self.owner.item_fault
        assert fault is not None
        lines = [line for line in body.split(b"\n") if line.strip()]
        items: list[tuple[dict[str, Any], dict[str, Any] | None, list[bytes]]] = []
        i = 0
        while i < len(lines):
            action = json.loads(lines[i])
            op = next(iter(action))
            if op == "delete":
                items.append((action, None, [lines[i]]))
                i += 1
            else:
                items.append((action, json.loads(lines[i + 1]), [lines[i], lines[i + 1]]))
                i += 2
        verdicts = [fault(action, doc) for action, doc, _ in items]
        forward = [raw for (_, _, raw), v in zip(items, verdicts) if v is None]
        answers: list[dict[str, Any]] = []
        out_headers: list[tuple[str, str]] = [("Content-Type", "application/json")]
        if forward:
            payload = b"\n".join(line for raw in forward for line in raw) + b"\n"
            status, out_headers, data = self.owner.forward("POST", self.path, headers, payload)
            if status >= 300:
                return status, out_headers, data
            answers = json.loads(data).get("items", [])
        merged: list[dict[str, Any]] = []
        it = iter(answers)
        for (action, _, _), verdict in zip(items, verdicts):
            if verdict is None:
                merged.append(next(it))
            else:
                with self.owner.lock:
                    self.owner.injected += 1
                op = next(iter(action))
                merged.append({op: {"status": verdict, "error": {
                    "type": "es_rejected_execution_exception" if verdict == 429 else "injected_exception",
                    "reason": f"injected {verdict}"}}})
        errors = any(next(iter(m.values())).get("status", 500) >= 300 for m in merged)
        return 200, [h for h in out_headers if h[0].lower() != "content-encoding"], json.dumps(
            {"errors": errors, "took": 1, "items": merged}).encode()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle
