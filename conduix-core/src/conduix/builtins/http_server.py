"""``http_server`` source: receives JSON / JSON-lines POSTs and answers once the records are safe.

With ``ack: true`` (the default) a request is answered 200 only after every sink wrote its
records, so a client that got 200 knows they were delivered; 202 with ``ack: false``. When more
than ``max_pending`` records wait, it answers 429 (Retry-After), and 503 while shutting down.

It runs uvicorn (an asyncio HTTP server with a hardened parser, keep-alive and slow-client
timeouts) in one thread: thousands of clients waiting for their acknowledgement cost no threads.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import queue
import threading
from typing import Any, Literal

import orjson
from pydantic import Field, SecretStr

from conduix.components import Batch, ComponentConfig, Context, Source
from conduix.errors import ConnectorError

__all__ = ["HttpServerSource"]

logger = logging.getLogger(__name__)

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/jsonlines")


class HttpServerConfig(ComponentConfig):
    host: str = Field("127.0.0.1", description="Address to listen on; 0.0.0.0 for every interface.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on (0: any free port).")
    path: str = Field("/", description="The path records are POSTed to.")
    format: Literal["auto", "json", "ndjson"] = Field(
        "auto", description="'json': an object or an array of objects; 'ndjson': one object per line; 'auto': "
        "by Content-Type (application/x-ndjson or application/jsonl are JSON lines).")
    ack: bool = Field(True, description="Answer 200 once every sink wrote the records; false: 202 on receipt.")
    auth_token: SecretStr | None = Field(None, description="Require 'Authorization: Bearer <token>' (401 otherwise).")
    max_pending: int = Field(10_000, ge=1, description="Records received but not yet acknowledged; beyond it "
                             "requests get 429.")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Larger bodies get 413.")
    ack_timeout: float = Field(60.0, gt=0, description="Seconds a request waits for its acknowledgement before "
                               "503 (its records may still be delivered).")


class _Request:
    __slots__ = ("future", "loop", "meta", "records")

    def __init__(self, records: list[dict[str, Any]], meta: dict[str, Any], loop: asyncio.AbstractEventLoop,
                 future: asyncio.Future[int] | None) -> None:
        self.records = records
        self.meta = meta
        self.loop = loop
        self.future = future

    def answer(self, status: int) -> None:
        if self.future is not None:
            self.loop.call_soon_threadsafe(_settle, self.future, status)


def _settle(future: asyncio.Future[int], status: int) -> None:
    if not future.done():
        future.set_result(status)


class HttpServerSource(Source[HttpServerConfig]):
    """Receives records over HTTP; see the module docstring for the answers it gives."""

    Config = HttpServerConfig

    def __init__(self, config: HttpServerConfig, context: Context) -> None:
        super().__init__(config, context)
        self._intake: queue.Queue[_Request] = queue.Queue()
        self._pending: dict[int, list[_Request]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._reserved = 0
        self._stopping = False
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._requests = itertools.count(1)
        self.port: int | None = None

    # -- life cycle ----------------------------------------------------------------------
    def open(self) -> None:
        import uvicorn

        cfg = self.config
        config = uvicorn.Config(self._app, host=cfg.host, port=cfg.port, lifespan="off", interface="asgi3",
                                log_level="warning", access_log=False, proxy_headers=False,
                                timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        errors: list[BaseException] = []

        def serve() -> None:
            try:
                asyncio.run(self._server.serve())
            except BaseException as exc:  # SystemExit from uvicorn when the port is taken
                errors.append(exc)

        self._thread = threading.Thread(target=serve, name=f"conduix-http-{self.id}", daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.02)
        if not self._server.started:
            raise ConnectorError(f"source {self.id!r}: cannot listen on {cfg.host}:{cfg.port}"
                                 f"{f': {errors[0]}' if errors else ''}; is the port in use?")
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1] if sockets else cfg.port
        logger.info("source %r listening on http://%s:%s%s", self.id, cfg.host, self.port, cfg.path)

    def stop(self) -> None:
        self._stopping = True  # new requests get 503; what was received drains

    def close(self) -> None:
        self._stopping = True
        for requests in self._pending.values():
            for request in requests:
                request.answer(503)
        self._pending.clear()
        while True:
            try:
                self._intake.get_nowait().answer(503)
            except queue.Empty:
                break
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    # -- the pipeline side -----------------------------------------------------------------
    def read(self, max_records: int) -> Batch | None:
        try:
            first = self._intake.get(timeout=0.1)
        except queue.Empty:
            return Batch([])
        taken = [first]
        count = len(first.records)
        while count < max_records:  # whole requests only: each is answered once for all its records
            try:
                request = self._intake.get_nowait()
            except queue.Empty:
                break
            taken.append(request)
            count += len(request.records)
        records: list[dict[str, Any]] = []
        meta: list[dict[str, Any]] = []
        for request in taken:
            records.extend(request.records)
            meta.extend(dict(request.meta, index=i) for i in range(len(request.records)))
        position = next(self._ids)
        self._pending[position] = taken
        return Batch(records, meta, position=position)

    def acknowledge(self, position: Any) -> None:
        requests = self._pending.pop(position, [])
        released = 0
        for request in requests:
            request.answer(200)
            released += len(request.records)
        with self._lock:
            self._reserved -= released

    # -- the HTTP side ---------------------------------------------------------------------
    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        cfg = self.config
        if scope["path"] != cfg.path:
            return await _reply(send, 404, {"error": f"not found; POST records to {cfg.path}"})
        if scope["method"] != "POST":
            return await _reply(send, 405, {"error": "use POST"}, [(b"allow", b"POST")])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if cfg.auth_token is not None and not hmac.compare_digest(
                headers.get("authorization", "").encode(), f"Bearer {cfg.auth_token.get_secret_value()}".encode()):
            return await _reply(send, 401, {"error": "missing or wrong bearer token"},
                                [(b"www-authenticate", b"Bearer")])
        if self._stopping:
            return await _reply(send, 503, {"error": "shutting down"}, [(b"retry-after", b"5")])
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > cfg.max_body_bytes:
                return await _reply(send, 413, {"error": f"body larger than {cfg.max_body_bytes} bytes"})
        try:
            records = self._parse(bytes(body), headers.get("content-type", ""))
        except ValueError as exc:
            return await _reply(send, 400, {"error": str(exc)})
        n = len(records)
        if not n:
            return await _reply(send, 200, {"accepted": 0})
        with self._lock:
            if self._reserved + n > cfg.max_pending:
                full = True
            else:
                full = False
                self._reserved += n
        if full:
            return await _reply(send, 429, {"error": "too many records waiting; retry later"},
                                [(b"retry-after", b"1")])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] | None = loop.create_future() if cfg.ack else None
        client = scope.get("client") or ("", 0)
        meta = {"source": self.id, "path": scope["path"], "remote": client[0], "request": next(self._requests)}
        traced = {k: v for k, v in headers.items() if k in ("traceparent", "tracestate")}
        if traced:  # the sender's trace continues here (see docs/observability.md)
            meta["headers"] = traced
        self._intake.put(_Request(records, meta, loop, future))
        if future is None:
            return await _reply(send, 202, {"accepted": n})
        try:
            status = await asyncio.wait_for(future, cfg.ack_timeout)
        except asyncio.TimeoutError:
            status = 504
        if status == 200:
            return await _reply(send, 200, {"accepted": n})
        return await _reply(send, 503, {"error": "not acknowledged (the pipeline stopped or is slow); the records "
                                        "may still be delivered: retry, expecting duplicates"},
                            [(b"retry-after", b"5")])

    def _parse(self, body: bytes, content_type: str) -> list[dict[str, Any]]:
        fmt = self.config.format
        if fmt == "auto":
            fmt = "ndjson" if content_type.split(";")[0].strip().lower() in NDJSON_TYPES else "json"
        if fmt == "ndjson":
            records = []
            for number, line in enumerate(body.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise ValueError(f"line {number} is not JSON: {exc}") from None
                if not isinstance(value, dict):
                    raise ValueError(f"line {number} is not a JSON object")
                records.append(value)
            return records
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the body is not JSON: {exc} (send JSON lines as application/x-ndjson)") from None
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValueError(f"item {index} is not a JSON object")
        return items


async def _reply(send: Any, status: int, payload: dict[str, Any],
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = orjson.dumps(payload)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
