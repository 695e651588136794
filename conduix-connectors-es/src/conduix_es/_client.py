"""Connection settings shared by the Elasticsearch sink and source, and the client they build."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, model_validator

from conduix.connector import Access, ComponentConfig, RetryableError

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

__all__ = ["ElasticsearchConnection", "TLSSettings", "build_client", "is_transient"]


class TLSSettings(ComponentConfig):
    verify_certs: bool = Field(True, description="Verify the server's certificate.")
    ca_certs: str | None = Field(None, description="CA bundle (PEM file) to verify the server with.")
    client_cert: str | None = Field(None, description="Client certificate (PEM file) for mutual TLS.")
    client_key: str | None = Field(None, description="Key of the client certificate (PEM file).")


class ElasticsearchConnection(ComponentConfig):
    """Where the cluster is and how to log in; the base of both components' config."""

    endpoints: list[str] = Field(["http://127.0.0.1:9200"], min_length=1,
                                 description="Node URLs; requests are spread over them.")
    username: str | None = Field(None, description="Basic auth user (with 'password').")
    password: SecretStr | None = Field(None, description="Basic auth password.")
    api_key: SecretStr | None = Field(None, description="API key (the encoded 'id:key' form), instead of basic auth.")
    tls: TLSSettings = Field(default_factory=TLSSettings, description="TLS options for https endpoints.")
    request_timeout: float = Field(30.0, gt=0, description="Seconds before a request counts as failed (and is "
                                   "retried).")

    def access(self) -> Access:
        """The nodes it connects to and the TLS files it reads (for agents' allow-lists)."""
        files = (self.tls.ca_certs, self.tls.client_cert, self.tls.client_key)
        return Access(hosts=tuple(self.endpoints), reads=tuple(f for f in files if f))

    @model_validator(mode="after")
    def _one_auth(self) -> ElasticsearchConnection:
        if self.api_key is not None and (self.username or self.password):
            raise ValueError("set either 'api_key' or 'username'/'password', not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both 'username' and 'password'")
        return self


def build_client(config: ElasticsearchConnection) -> Elasticsearch:
    """A client that does not retry by itself: retries and backoff are the component's, so they show in
    its stats and follow its ``retry:`` settings."""
    from elasticsearch import Elasticsearch

    options: dict[str, Any] = {
        "request_timeout": config.request_timeout,
        "max_retries": 0,
        "retry_on_timeout": False,
        "verify_certs": config.tls.verify_certs,
    }
    if config.tls.ca_certs:
        options["ca_certs"] = config.tls.ca_certs
    if config.tls.client_cert:
        options["client_cert"] = config.tls.client_cert
    if config.tls.client_key:
        options["client_key"] = config.tls.client_key
    if config.api_key is not None:
        options["api_key"] = config.api_key.get_secret_value()
    elif config.username is not None and config.password is not None:
        options["basic_auth"] = (config.username, config.password.get_secret_value())
    return Elasticsearch(config.endpoints, **options)


def is_transient(exc: BaseException) -> bool:
    """Connection failures, timeouts, 429 and 5xx answers: worth retrying."""
    from elastic_transport import ConnectionError as TransportConnectionError
    from elastic_transport import ConnectionTimeout
    from elasticsearch import ApiError

    if isinstance(exc, (TransportConnectionError, ConnectionTimeout)):
        return True
    if isinstance(exc, ApiError):
        return exc.meta.status == 429 or exc.meta.status >= 500
    return False


def transient(exc: BaseException, what: str) -> RetryableError:
    """A RetryableError naming what failed, chained to ``exc``."""
    error = RetryableError(f"{what}: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
