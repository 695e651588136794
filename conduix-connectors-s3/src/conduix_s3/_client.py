"""Connection settings shared by the S3 sink and source, the boto3 client they build, and error mapping."""

from __future__ import annotations

import gzip
import zlib
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from conduix.connector import Access, ComponentConfig, ConnectorError, RetryableError

__all__ = ["S3Connection", "build_client", "map_error"]

_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable",
                    "Throttling", "ThrottlingException", "503", "500", "502", "504"}


class S3Connection(ComponentConfig):
    """Where the objects are. Credentials come from the usual boto3 chain (environment, profile, role) unless
    ``access_key_id`` and ``secret_access_key`` are given."""

    bucket: str = Field(..., min_length=3, max_length=63, description="Bucket name.")
    region: str | None = Field(None, description="AWS region (default: from the boto3 configuration).")
    endpoint_url: str | None = Field(None, description="URL of an S3-compatible store (MinIO, Ceph, moto, ...).")
    addressing_style: Literal["auto", "virtual", "path"] = Field(
        "auto", description="'path' for stores that do not serve bucket names as host names.")
    max_attempts: int = Field(3, ge=1, description="Attempts botocore makes for one request (its 'standard' "
                              "retry mode, with backoff) before the component's own 'retry:' settings apply.")
    access_key_id: str | None = Field(None, description="Access key id (with 'secret_access_key'); default: the "
                                                        "boto3 chain (environment, profile, role).")
    secret_access_key: SecretStr | None = Field(None, description="Secret access key (use ${ENV_VAR}).")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect.")
    read_timeout: float = Field(60.0, gt=0, description="Seconds to wait for data on a connection.")

    def access(self) -> Access:
        """Where it connects (AWS: ``s3[.REGION].amazonaws.com``; allow ``*.amazonaws.com`` for any bucket)."""
        if self.endpoint_url:
            return Access(hosts=(self.endpoint_url,))
        return Access(hosts=(f"s3.{self.region}.amazonaws.com" if self.region else "s3.amazonaws.com",))

    @model_validator(mode="after")
    def _key_pair(self) -> S3Connection:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both 'access_key_id' and 'secret_access_key', or neither (the boto3 chain)")
        return self

    @field_validator("region", "endpoint_url", "access_key_id", "secret_access_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # so '${S3_ENDPOINT:-}' means "not set"


def build_client(config: S3Connection) -> Any:
    import boto3
    from botocore.config import Config

    botocore_config = Config(
        retries={"total_max_attempts": config.max_attempts, "mode": "standard"},
        s3={"addressing_style": config.addressing_style},
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        max_pool_connections=20,
    )
    keys: dict[str, str] = {}
    if config.access_key_id is not None and config.secret_access_key is not None:
        keys = {"aws_access_key_id": config.access_key_id,
                "aws_secret_access_key": config.secret_access_key.get_secret_value()}
    return boto3.session.Session().client("s3", region_name=config.region, endpoint_url=config.endpoint_url,
                                          config=botocore_config, **keys)


def map_error(exc: BaseException, what: str) -> Exception:
    """A RetryableError for connection failures, timeouts, throttling and 5xx; a ConnectorError otherwise."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ParamValidationError
    from urllib3.exceptions import HTTPError as Urllib3Error

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            error: Exception = RetryableError(f"{what}: {code or status}: {exc}")
        else:
            hint = {"NoSuchBucket": "create the bucket or fix 'bucket'",
                    "AccessDenied": "check the credentials and the bucket policy",
                    "InvalidAccessKeyId": "check the credentials"}.get(code, "check the bucket and credentials")
            error = ConnectorError(f"{what}: {code or status}: {exc} ({hint})")
    elif isinstance(exc, (gzip.BadGzipFile, zlib.error, EOFError)):
        error = ConnectorError(f"{what}: the object is not valid gzip ({exc}); set 'compression: none' if it "
                               f"is not compressed")
    elif isinstance(exc, ParamValidationError):
        error = ConnectorError(f"{what}: {exc}")
    elif isinstance(exc, NoCredentialsError):
        error = ConnectorError(f"{what}: no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                               f"a profile or a role)")
    elif isinstance(exc, (BotoCoreError, OSError, Urllib3Error)):
        error = RetryableError(f"{what}: {type(exc).__name__}: {exc}")
    else:
        return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
    error.__cause__ = exc
    return error
