"""``http_client`` source: pages of JSON from an HTTP API, with auth, pagination, a rate limit and
retries that honour ``Retry-After``. Also the HTTP helpers the ``http`` sink shares."""

from __future__ import annotations

import email.utils
import logging
import string
import threading
import time
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from conduix.components import Access, Batch, ComponentConfig, Context, Rejected, Source
from conduix.errors import ConfigError, ConnectorError, RetryableError
from conduix.redaction import redact_url

__all__ = ["HttpAuth", "HttpClientSource", "Pagination", "extract", "retry_after"]

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpAuth(ComponentConfig):
    type: Literal["bearer", "basic"] = Field(..., description="'bearer': Authorization: Bearer <token>; "
                                             "'basic': user name and password.")
    token: SecretStr | None = Field(None, description="Bearer token (use ${ENV_VAR} to keep it out of the file).")
    username: str | None = None
    password: SecretStr | None = None

    @model_validator(mode="after")
    def check_fields(self) -> HttpAuth:
        if self.type == "bearer" and not self.token:
            raise ValueError("bearer auth needs 'token'")
        if self.type == "basic" and self.username is None:
            raise ValueError("basic auth needs 'username' (and 'password')")
        return self

    def apply(self, headers: dict[str, str]) -> Any:
        """Adds a bearer header; returns httpx's auth argument for basic auth."""
        if self.type == "bearer":
            headers["Authorization"] = f"Bearer {self.token.get_secret_value() if self.token else ''}"
            return None
        return (self.username or "", self.password.get_secret_value() if self.password else "")


class Pagination(ComponentConfig):
    type: Literal["none", "next_link", "cursor", "page", "offset"] = Field(
        "none", description="How the next page is found: a next URL, a cursor from the body, or page/offset "
        "query parameters.")
    next_path: str = Field(".next", description="next_link: path of the next URL in the body; 'header' uses the "
                           "Link header (rel=next).")
    cursor_path: str = Field(".next_cursor", description="cursor: path of the next cursor in the body.")
    cursor_param: str = Field("cursor", description="cursor: query parameter the cursor is sent in.")
    page_param: str = Field("page", description="page: query parameter of the page number.")
    start_page: int = Field(1, description="page: the first page number.")
    offset_param: str = Field("offset", description="offset: query parameter of the record offset.")
    size_param: str | None = Field(None, description="page/offset: query parameter of the page size (limit).")
    page_size: int = Field(100, ge=1, description="page/offset: records per page; a shorter page is the last.")
    max_pages: int | None = Field(None, ge=1, description="Stop after this many pages.")


class Retries(ComponentConfig):
    max_attempts: int = Field(5, ge=1, description="Attempts per request on 408/429/5xx and network errors.")
    initial: float = Field(0.5, gt=0, description="First backoff, seconds (when there is no Retry-After).")
    max: float = Field(30.0, gt=0, description="Longest wait, seconds; also caps Retry-After.")


class HttpClientConfig(ComponentConfig):
    url: str = Field(..., description="URL; '{name}' is filled from the pipeline's parameters "
                     "(/boards/{board_id}/posts).")
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Query parameters.")
    body: dict[str, Any] | list[Any] | None = Field(None, description="JSON body of a POST.")
    auth: HttpAuth | None = None
    records_path: str = Field(".", description="Where the records are in the JSON body ('.data.items'); a list "
                              "gives one record per item, an object one record.")
    pagination: Pagination = Field(default_factory=Pagination)
    rate_limit: float | None = Field(None, gt=0, description="Most requests per second.")
    retries: Retries = Field(default_factory=Retries)
    timeout: float = Field(30.0, gt=0, description="Seconds for one request.")
    interval: float | None = Field(None, gt=0, description="Fetch everything again every N seconds; unset: "
                                   "the source ends after the last page.")
    verify_tls: bool = True


def extract(body: Any, path: str) -> Any:
    """The value at a dotted path (``.data.items``, ``.results.0``); ``.`` is the whole body; None if absent."""
    value = body
    for part in (p for p in path.strip().split(".") if p):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is None:
            return None
    return value


def retry_after(value: str | None, cap: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped; None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - time.time(), cap))


def fill(template: str, parameters: dict[str, Any], what: str) -> str:
    """``template`` with ``{name}`` fields taken from ``parameters``; a missing one is a ConfigError."""
    missing = [name for _, name, _, _ in string.Formatter().parse(template) if name and name not in parameters]
    if missing:
        raise ConfigError(f"{what} {template!r} needs parameter(s) {', '.join(map(repr, missing))}",
                          hint="run it as a child pipeline of a record with those fields, or pass parameters")
    return template.format_map(parameters)


class _Stopped(Exception):
    """The source was asked to stop while it waited to retry."""


class HttpClientSource(Source[HttpClientConfig]):
    """Fetches pages from an HTTP JSON API, one page per batch, following the configured pagination."""

    Config = HttpClientConfig

    @classmethod
    def access(cls, config: HttpClientConfig) -> Access:
        return Access(hosts=(config.url,))

    def __init__(self, config: HttpClientConfig, context: Context) -> None:
        super().__init__(config, context)
        self._stop = threading.Event()
        self._client: Any = None
        self._next_request = 0.0
        self._pages = 0
        self._state: dict[str, Any] | None = None
        self._next_round = 0.0

    def open(self) -> None:
        import httpx

        cfg = self.config
        self.url = fill(cfg.url, self.context.parameters, "url")
        headers = {"Accept": "application/json", "User-Agent": "conduix", **cfg.headers}
        auth = cfg.auth.apply(headers) if cfg.auth is not None else None
        self._client = httpx.Client(headers=headers, auth=auth, timeout=cfg.timeout, verify=cfg.verify_tls,
                                    follow_redirects=True)
        self._restart()

    def _restart(self) -> None:
        p = self.config.pagination
        self._pages = 0
        self._state = {"url": self.url, "params": dict(self.config.params)}
        if p.type == "page":
            self._state["params"][p.page_param] = p.start_page
        elif p.type == "offset":
            self._state["params"][p.offset_param] = 0
        if p.type in ("page", "offset") and p.size_param:
            self._state["params"][p.size_param] = p.page_size

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def read(self, max_records: int) -> Batch | None:
        if self._stop.is_set():
            return None
        if self._state is None:  # the last page was read
            if self.config.interval is None:
                return None
            if time.monotonic() < self._next_round or self._stop.is_set():
                return Batch([])
            self._restart()
        assert self._state is not None
        try:
            response = self._request(self._state["url"], self._state["params"])
        except _Stopped:
            return None
        self._pages += 1
        meta = {"source": self.id, "url": str(response.url), "page": self._pages}
        if response.status_code == 204 or not response.content:  # nothing (more) to read
            self._finish()
            return Batch([], position=self._pages)
        try:
            body = response.json()
        except ValueError as exc:
            self._finish()
            return Batch([], position=self._pages, rejects=[Rejected(
                f"the response of {redact_url(str(response.url))} is not JSON: {exc}",
                record={"message": response.text[:10_000]},
                meta=meta)])
        found = extract(body, self.config.records_path)
        items = found if isinstance(found, list) else ([] if found is None else [found])
        records = [item if isinstance(item, dict) else {"value": item} for item in items]
        self._advance(body, response, len(records))
        return Batch(records, [dict(meta, index=i) for i in range(len(records))], position=self._pages)

    def _finish(self) -> None:
        self._state = None
        if self.config.interval is not None:
            self._next_round = time.monotonic() + self.config.interval

    def _advance(self, body: Any, response: Any, count: int) -> None:
        p = self.config.pagination
        state = self._state
        assert state is not None
        if p.type == "none" or (p.max_pages is not None and self._pages >= p.max_pages):
            return self._finish()
        if p.type == "next_link":
            link = response.links.get("next", {}).get("url") if p.next_path == "header" else extract(body, p.next_path)
            if not link or not isinstance(link, str):
                return self._finish()
            state["url"] = str(response.url.join(link))
            state["params"] = {}  # a next link carries its own query
        elif p.type == "cursor":
            cursor = extract(body, p.cursor_path)
            if cursor in (None, "") or count == 0:
                return self._finish()
            state["params"][p.cursor_param] = cursor
        elif p.type == "page":
            if count == 0 or (p.size_param and count < p.page_size):
                return self._finish()
            state["params"][p.page_param] += 1
        elif p.type == "offset":
            if count == 0 or (p.size_param and count < p.page_size):
                return self._finish()
            state["params"][p.offset_param] += count
        return None

    def _request(self, url: str, params: dict[str, Any]) -> Any:
        import httpx

        cfg = self.config
        attempt = 0
        while True:
            attempt += 1
            self._pace()
            wait: float | None = None
            try:
                response = self._client.request(cfg.method, url, params=params or None,
                                                 json=cfg.body if cfg.method == "POST" else None)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return response
                problem = f"HTTP {response.status_code} {response.reason_phrase}"
                if response.status_code not in RETRY_STATUSES:
                    raise ConnectorError(f"source {self.id!r}: {cfg.method} {redact_url(str(response.url))} answered "
                                         f"{problem}: {response.text[:300]!r}; check the url, parameters and auth")
                wait = retry_after(response.headers.get("Retry-After"), cfg.retries.max)
            if attempt >= cfg.retries.max_attempts:
                raise RetryableError(f"source {self.id!r}: {cfg.method} {redact_url(url)}: {problem} after {attempt} "
                                     "attempts")
            if wait is None:
                wait = min(cfg.retries.max, cfg.retries.initial * 2 ** (attempt - 1))
            logger.warning("source %r: %s %s: %s; retry %d in %.2fs", self.id, cfg.method, redact_url(url), problem,
                           attempt, wait)
            if self._stop.wait(wait):
                raise _Stopped

    def _pace(self) -> None:
        if self.config.rate_limit is None:
            return
        now = time.monotonic()
        if now < self._next_request:
            self._stop.wait(self._next_request - now)
        self._next_request = max(now, self._next_request) + 1.0 / self.config.rate_limit
