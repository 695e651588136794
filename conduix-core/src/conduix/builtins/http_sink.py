"""``http`` sink: records POSTed (or PUT) in batches as a JSON array or JSON lines.

2xx: written. 408/429/5xx and network errors: :class:`~conduix.errors.RetryableError` (the
runtime retries with backoff, after waiting out a ``Retry-After``); requests of the batch that
already succeeded are not sent again. Other 4xx: the records of that request go to ``on_error``.
"""

from __future__ import annotations

import gzip
import logging
from typing import Any, Literal

import orjson
from pydantic import Field

from conduix.builtins.http_client import RETRY_STATUSES, HttpAuth, retry_after
from conduix.components import Access, Batch, ComponentConfig, Context, Rejected, Sink
from conduix.errors import RetryableError
from conduix.observability.tracing import trace_headers
from conduix.redaction import redact_url

__all__ = ["HttpSink"]

logger = logging.getLogger(__name__)


class HttpSinkConfig(ComponentConfig):
    url: str = Field(..., description="Where the records are sent.")
    method: Literal["POST", "PUT"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    auth: HttpAuth | None = None
    encoding: Literal["json", "ndjson"] = Field("json", description="'json': one JSON array per request; "
                                                "'ndjson': one JSON object per line.")
    max_records: int | None = Field(None, ge=1, description="Records per request (default: a whole batch).")
    compression: Literal["none", "gzip"] = "none"
    timeout: float = Field(30.0, gt=0, description="Seconds for one request.")
    max_retry_after: float = Field(60.0, ge=0, description="Longest Retry-After honoured, seconds.")
    verify_tls: bool = True


class HttpSink(Sink[HttpSinkConfig]):
    """Sends batches of records to an HTTP endpoint; see the module docstring for failure handling."""

    Config = HttpSinkConfig

    @classmethod
    def access(cls, config: HttpSinkConfig) -> Access:
        return Access(hosts=(config.url,))

    def __init__(self, config: HttpSinkConfig, context: Context) -> None:
        super().__init__(config, context)
        self._client: Any = None
        self._resume: tuple[Batch, set[int]] | None = None

    def open(self) -> None:
        import httpx

        cfg = self.config
        content_type = "application/json" if cfg.encoding == "json" else "application/x-ndjson"
        headers = {"Content-Type": content_type, "User-Agent": "conduix", **cfg.headers}
        if cfg.compression == "gzip":
            headers["Content-Encoding"] = "gzip"
        auth = cfg.auth.apply(headers) if cfg.auth is not None else None
        self._client = httpx.Client(headers=headers, auth=auth, timeout=cfg.timeout, verify=cfg.verify_tls)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _body(self, records: list[dict[str, Any]]) -> bytes:
        if self.config.encoding == "json":
            data = orjson.dumps(records, default=str)
        else:
            data = b"".join(orjson.dumps(r, default=str) + b"\n" for r in records)
        return gzip.compress(data, compresslevel=5) if self.config.compression == "gzip" else data

    def write(self, batch: Batch) -> list[Rejected] | None:
        import httpx

        cfg = self.config
        n = len(batch.records)
        size = cfg.max_records or max(n, 1)
        # a retried batch resumes: requests that already succeeded are not sent again
        done = self._resume[1] if self._resume is not None and self._resume[0] is batch else set()
        rejected: list[Rejected] = []
        for start in range(0, n, size):
            if start in done:
                continue
            chunk = batch.records[start:start + size]
            try:
                response = self._client.request(cfg.method, cfg.url, content=self._body(chunk),
                                                headers=trace_headers(batch) or None)
            except httpx.TransportError as exc:
                self._resume = (batch, done)
                raise RetryableError(f"sink {self.id!r}: {cfg.method} {redact_url(cfg.url)}: "
                                     f"{type(exc).__name__}: {exc}") from exc
            status = response.status_code
            if status < 300:
                done.add(start)
                continue
            problem = (f"{cfg.method} {redact_url(cfg.url)} answered HTTP {status} {response.reason_phrase}: "
                       f"{response.text[:300]!r}")
            if status in RETRY_STATUSES or status >= 500:
                self._resume = (batch, done)
                wait = retry_after(response.headers.get("Retry-After"), cfg.max_retry_after)
                raise RetryableError(f"sink {self.id!r}: {problem}", retry_after=wait)
            done.add(start)  # a client error: retrying the same records cannot help
            rejected.extend(Rejected(problem, index=i) for i in range(start, start + len(chunk)))
        self._resume = None
        return rejected or None
