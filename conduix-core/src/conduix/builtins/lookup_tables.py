"""The tables ``enrich`` looks keys up in: a CSV or JSON file (reloaded when it changes), Redis (a hash or a
key per entry, one pipeline per batch) and HTTP GET with a URL template."""

from __future__ import annotations

import csv
import json
import logging
import os
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field

from conduix.components import ComponentConfig
from conduix.errors import ConfigError, RetryableError
from conduix.redaction import redact_url

__all__ = ["FileTable", "FileTableConfig", "HttpTable", "HttpTableConfig", "RedisTable", "RedisTableConfig",
           "Table"]

logger = logging.getLogger(__name__)

Match = dict[str, Any] | None


class FileTableConfig(ComponentConfig):
    type: Literal["file"]
    path: str = Field(..., description="A CSV file (with a header row) or a JSON file (a list of objects, or an "
                                       "object of key -> object); reloaded when its modification time changes.")
    format: Literal["csv", "json"] | None = Field(None, description="Default: from the file's extension.")
    key_field: str | None = Field(None, description="The column or field holding the key (CSV and JSON lists).")


class RedisTableConfig(ComponentConfig):
    type: Literal["redis"]
    url: str = Field("redis://127.0.0.1:6379/0", description="redis://[:password@]host:port/db")
    mode: Literal["hash", "key"] = Field("hash", description="hash: a hash per entry (HGETALL <prefix><key>); "
                                                             "key: a JSON string per entry (MGET).")
    prefix: str = Field("", description="Prepended to the key to make the Redis key.")
    timeout: float = Field(2.0, gt=0, description="Socket timeout in seconds.")


class HttpTableConfig(ComponentConfig):
    type: Literal["http"]
    url: str = Field(..., description="URL template; {key} is replaced by the URL-encoded key. A JSON object "
                                      "answer is the match, 404 a miss.")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(5.0, gt=0)


class Table:
    """Looks keys up; ``lookup`` raises :class:`RetryableError` for transient failures."""

    remote = False

    def open(self) -> None:
        """Connect (called from the stage's ``open``)."""

    def lookup(self, keys: list[str]) -> dict[str, Match]:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class FileTable(Table):
    def __init__(self, config: FileTableConfig) -> None:
        self.config = config
        fmt = config.format or ("csv" if config.path.lower().endswith(".csv") else "json")
        self.format = fmt
        if fmt == "csv" and config.key_field is None:
            raise ConfigError("a CSV table needs 'key_field' (the column holding the key)", path="table.key_field")
        self.rows: dict[str, dict[str, Any]] = {}
        self.mtime: float | None = None
        self.loads = 0

    def open(self) -> None:
        self._maybe_reload()

    def _maybe_reload(self) -> None:
        try:
            mtime = os.stat(self.config.path).st_mtime_ns
        except OSError as exc:
            if self.mtime is None:
                raise ConfigError(f"cannot read the enrichment table {self.config.path!r}: {exc}",
                                  path="table.path", hint="check the path") from None
            return  # the file is being replaced: keep the rows we have
        if mtime == self.mtime:
            return
        rows = self._load()
        self.rows, self.mtime = rows, mtime
        self.loads += 1
        logger.info("enrichment table %s: loaded %d rows", self.config.path, len(rows))

    def _load(self) -> dict[str, dict[str, Any]]:
        key_field = self.config.key_field
        with open(self.config.path, encoding="utf-8", newline="") as handle:
            if self.format == "csv":
                assert key_field is not None
                return {str(row[key_field]): dict(row) for row in csv.DictReader(handle) if row.get(key_field)}
            data = json.load(handle)
        if isinstance(data, dict):
            return {str(k): v for k, v in data.items() if isinstance(v, dict)}
        if key_field is None:
            raise ConfigError(f"{self.config.path}: a JSON list table needs 'key_field'", path="table.key_field")
        return {str(row[key_field]): row for row in data if isinstance(row, dict) and key_field in row}

    def lookup(self, keys: list[str]) -> dict[str, Match]:
        self._maybe_reload()
        return {key: self.rows.get(key) for key in keys}


class RedisTable(Table):
    remote = True

    def __init__(self, config: RedisTableConfig) -> None:
        self.config = config
        self.client: Any = None

    def open(self) -> None:
        import redis

        self.client = redis.Redis.from_url(self.config.url, socket_timeout=self.config.timeout,
                                           socket_connect_timeout=self.config.timeout, decode_responses=True)

    def lookup(self, keys: list[str]) -> dict[str, Match]:
        import redis

        names = [self.config.prefix + key for key in keys]
        try:
            if self.config.mode == "key":
                values = self.client.mget(names)
            else:
                pipe = self.client.pipeline(transaction=False)
                for name in names:
                    pipe.hgetall(name)
                values = pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            raise RetryableError(f"redis {redact_url(self.config.url)}: {exc}") from exc
        return {key: _match(value) for key, value in zip(keys, values)}

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def _match(value: Any) -> Match:
    if value is None or value == {}:
        return None
    if isinstance(value, dict):
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return {"value": value}
    return decoded if isinstance(decoded, dict) else {"value": decoded}


class HttpTable(Table):
    remote = True

    def __init__(self, config: HttpTableConfig) -> None:
        if "{key}" not in config.url:
            raise ConfigError("the URL template needs '{key}' where the key goes", path="table.url",
                              hint="e.g. https://api.example.com/users/{key}")
        self.config = config
        self.client: Any = None

    def open(self) -> None:
        import httpx

        self.client = httpx.Client(headers=self.config.headers, timeout=self.config.timeout)

    def lookup(self, keys: list[str]) -> dict[str, Match]:
        import httpx

        out: dict[str, Match] = {}
        for key in keys:
            url = self.config.url.replace("{key}", quote(key, safe=""))
            try:
                response = self.client.get(url)
            except httpx.TransportError as exc:
                raise RetryableError(f"GET {redact_url(url)}: {exc}") from exc
            if response.status_code == 404:
                out[key] = None
            elif response.status_code == 429 or response.status_code >= 500:
                raise RetryableError(f"GET {redact_url(url)}: HTTP {response.status_code}")
            elif response.status_code >= 400:
                raise ValueError(f"GET {redact_url(url)}: HTTP {response.status_code}: {response.text[:200]}")
            else:
                out[key] = _match(response.text)
        return out

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
