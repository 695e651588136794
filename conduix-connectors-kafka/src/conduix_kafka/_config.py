"""Config models of the ``kafka`` source and sink (``extra="forbid"``: a typo names the key)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from conduix.connector import Access, ComponentConfig, TemplateText

__all__ = ["ClientOption", "KafkaSinkConfig", "KafkaSourceConfig", "client_access"]

ClientOption = str | int | float | bool
"""A librdkafka property value, passed through as given."""


def _brokers(value: str | list[str]) -> str:
    return value if isinstance(value, str) else ",".join(value)


class KafkaSourceConfig(ComponentConfig):
    brokers: str | list[str] = Field(..., description="Bootstrap servers: `host:port,host:port` or a list.")
    topics: list[str] = Field(..., min_length=1, description="Topics to subscribe to.")
    unreachable_timeout: float | None = Field(60.0, gt=0, description="Seconds with every broker unreachable "
                                              "before the source fails (under supervision: restarted with backoff, "
                                              "then paused when the restart budget is spent); null: wait forever.")
    partition_per_worker: bool = Field(False, description="Run one supervised worker per partition of the topics "
                                       "(partition-per-actor: each reads its partition with a manual assignment "
                                       "and its own checkpoint) instead of sharing the group's rebalancing.")
    group_id: str | None = Field(None, min_length=1, description="Consumer group id; offsets are committed to it "
                                 "(default: `conduix-<pipeline name>`).")
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "latest", description="Where to start in a partition with neither a checkpoint nor a committed offset.")
    enable_auto_commit: bool = Field(
        False, description="`false`: the source commits acknowledged offsets at every checkpoint (and on revoke "
                           "and shutdown). `true`: it stores acknowledged offsets and librdkafka commits them every "
                           "`auto_commit_interval_ms`. Either way only acknowledged offsets are committed.")
    auto_commit_interval_ms: int = Field(5000, ge=100, description="Used with `enable_auto_commit: true`.")
    session_timeout_ms: int = Field(45000, ge=1000, description="Consumer group session timeout: how long a "
                                                                "silent member keeps its partitions.")
    heartbeat_interval_ms: int | None = Field(None, ge=100, description="librdkafka's default (3000) when unset.")
    max_poll_interval_ms: int = Field(300000, ge=1000, description="Longest time between two reads before the "
                                      "consumer leaves the group (a sink blocked longer than this, for example by a "
                                      "broker outage, makes the member leave; it rejoins when reading resumes).")
    assignment_strategy: Literal["cooperative-sticky", "range", "roundrobin"] = Field(
        "cooperative-sticky", description="Partition assignor. Cooperative-sticky (incremental rebalancing) moves "
                                          "only the partitions that must move; the others keep flowing during a "
                                          "rebalance.")
    isolation_level: Literal["read_committed", "read_uncommitted"] = Field(
        "read_committed", description="`read_committed` skips records of aborted transactions (always on with "
                                      "`delivery: exactly_once`).")
    decoding: Literal["json", "string", "bytes"] = Field(
        "string", description="string (default, as Vector's kafka source): the value, as UTF-8 text, goes to "
                              "'field' (parse it with `. = parse_json!(.message)`); json: each value is a JSON "
                              "object (other JSON values go to 'field'), invalid JSON follows on_error; bytes: "
                              "the raw value goes to 'field'.")
    field: str = Field("message", description="Field that holds the value for `string` and `bytes` decoding (and "
                                              "non-object JSON).")
    poll_timeout: float = Field(0.2, gt=0, le=5, description="Seconds a read waits for records before it "
                                                              "returns an empty batch.")
    consumer: dict[str, ClientOption] = Field(
        default_factory=dict, description="Extra librdkafka consumer properties, passed as given "
                                          "(`security.protocol`, `sasl.*`, `fetch.*`, ...). They override the ones "
                                          "above.")

    @field_validator("brokers")
    @classmethod
    def _join(cls, value: str | list[str]) -> str:
        return _brokers(value)


class KafkaSinkConfig(ComponentConfig):
    brokers: str | list[str] = Field(..., description="Bootstrap servers: `host:port,host:port` or a list.")
    topic: TemplateText = Field(..., min_length=1, description="Topic, or a template such as `logs-{{ service }}`.")
    key: TemplateText | None = Field(None, description="Message key template, e.g. `{{ user.id }}`, or "
                                     "`{{ @meta.key }}` for the key the record had in its source topic; `null`: no "
                                     "key (the producer spreads records over partitions).")
    headers: dict[str, TemplateText] = Field(default_factory=dict, description="Header name -> value template.")
    encoding: Literal["json", "string", "bytes"] = Field(
        "json", description="`json`: the record as JSON; `string` / `bytes`: the value of `field` as it is (text "
                            "is UTF-8 encoded; with `string` other values as JSON, with `bytes` they are rejected). A "
                            "record without `field` is written with a null value (a tombstone).")
    field: str = Field("message", description="Field written for `string` / `bytes` encoding.")
    linger_ms: float = Field(5, ge=0, description="How long the producer waits to fill a request.")
    batch_bytes: int = Field(1_000_000, ge=1, description="Largest request per partition, bytes (librdkafka "
                                                          "`batch.size`).")
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field("none", description="Request compression.")
    idempotent: bool = Field(True, description="Idempotent producer: the producer's own retries make no "
                                               "duplicates and keep the order.")
    acks: Literal["all", "1", "0"] = Field("all", description="Broker acknowledgement level (always `all` when "
                                                               "idempotent).")
    message_timeout_ms: int = Field(30000, ge=1000, description="How long librdkafka keeps retrying one message "
                                    "before it reports it failed (the sink then sends it again on the next attempt).")
    flush_timeout: float = Field(10.0, gt=0, description="Seconds one write waits for delivery reports before it "
                                 "raises a retryable error (records still in flight are not sent again).")
    transactional_id: str | None = Field(
        None, description="`delivery: exactly_once` only; default `conduix-<pipeline>-<sink id>`. One per running "
                          "instance of the pipeline.")
    transaction_timeout_ms: int = Field(60000, ge=1000, description="`delivery: exactly_once`: the broker aborts a "
                                                                    "transaction older than this.")
    producer: dict[str, ClientOption] = Field(
        default_factory=dict, description="Extra librdkafka producer properties, passed as given "
                                          "(`security.protocol`, `sasl.*`, ...). They override the ones above.")

    @field_validator("brokers")
    @classmethod
    def _join(cls, value: str | list[str]) -> str:
        return _brokers(value)


#: librdkafka properties that run a program or load a library, and those naming files it reads
_CODE_OPTIONS = ("plugin.library.paths", "sasl.kerberos.kinit.cmd")
_FILE_OPTIONS = ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.keystore.location",
                 "ssl.crl.location", "sasl.kerberos.keytab", "ssl.engine.location")


def client_access(brokers: str, options: dict[str, ClientOption]) -> Access:
    """What a Kafka client with these brokers and extra librdkafka properties reaches (for agents' allow-lists)."""
    hosts = [b.strip() for b in brokers.split(",") if b.strip()]
    endpoint = options.get("sasl.oauthbearer.token.endpoint.url")
    if isinstance(endpoint, str):
        hosts.append(endpoint)
    return Access(code=any(name in options for name in _CODE_OPTIONS), hosts=tuple(hosts),
                  reads=tuple(str(options[name]) for name in _FILE_OPTIONS if name in options))
