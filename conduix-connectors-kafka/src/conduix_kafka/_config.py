"""Config models of the ``kafka`` source and sink (``extra="forbid"``: a typo names the key)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from conduix import ComponentConfig

__all__ = ["ClientOption", "KafkaSinkConfig", "KafkaSourceConfig"]

ClientOption = str | int | float | bool
"""A librdkafka property value, passed through as given."""


def _brokers(value: str | list[str]) -> str:
    return value if isinstance(value, str) else ",".join(value)


class KafkaSourceConfig(ComponentConfig):
    brokers: str | list[str] = Field(..., description="Bootstrap servers: 'host:port,host:port' or a list.")
    topics: list[str] = Field(..., min_length=1, description="Topics to subscribe to.")
    unreachable_timeout: float | None = Field(60.0, gt=0, description="Seconds with every broker unreachable "
                                              "before the source fails (under supervision: restarted with backoff, "
                                              "then paused when the restart budget is spent); null: wait forever.")
    partition_per_worker: bool = Field(False, description="Run one supervised worker per partition of the topics "
                                       "(partition-per-actor: each reads its partition with a manual assignment "
                                       "and its own checkpoint) instead of sharing the group's rebalancing.")
    group_id: str = Field(..., min_length=1, description="Consumer group id; offsets are committed to it.")
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "latest", description="Where to start in a partition with neither a checkpoint nor a committed offset.")
    enable_auto_commit: bool = Field(
        False, description="false: the source commits acknowledged offsets at every checkpoint. true: it stores "
                           "acknowledged offsets and librdkafka commits them every auto_commit_interval_ms.")
    auto_commit_interval_ms: int = Field(5000, ge=100, description="Used with enable_auto_commit: true.")
    session_timeout_ms: int = Field(45000, ge=1000, description="Consumer group session timeout.")
    heartbeat_interval_ms: int | None = Field(None, ge=100, description="Default: librdkafka's (3000).")
    max_poll_interval_ms: int = Field(300000, ge=1000, description="Longest time between two reads before the "
                                                                     "consumer leaves the group.")
    assignment_strategy: Literal["cooperative-sticky", "range", "roundrobin"] = Field(
        "cooperative-sticky", description="Partition assignor; cooperative-sticky moves only the partitions "
                                          "that must move on a rebalance.")
    isolation_level: Literal["read_committed", "read_uncommitted"] = Field(
        "read_committed", description="read_committed skips records of aborted transactions.")
    decoding: Literal["json", "string", "bytes"] = Field(
        "json", description="json: each value is a JSON object (other JSON values go to 'field'); string / "
                            "bytes: the value goes to 'field'. Invalid JSON follows on_error.")
    field: str = Field("message", description="Field that holds the value for string / bytes decoding.")
    poll_timeout: float = Field(0.2, gt=0, le=5, description="Seconds a read waits for records before it "
                                                              "returns an empty batch.")
    consumer: dict[str, ClientOption] = Field(
        default_factory=dict, description="Extra librdkafka consumer properties, e.g. {'fetch.min.bytes': 1024}.")

    @field_validator("brokers")
    @classmethod
    def _join(cls, value: str | list[str]) -> str:
        return _brokers(value)


class KafkaSinkConfig(ComponentConfig):
    brokers: str | list[str] = Field(..., description="Bootstrap servers: 'host:port,host:port' or a list.")
    topic: str = Field(..., min_length=1, description="Topic, or a template such as 'logs-{{ service }}'.")
    key: str | None = Field(None, description="Message key template, e.g. '{{ user.id }}', or '{{ @meta.key }}' "
                                               "for the key the record had in its source topic; none: no key.")
    headers: dict[str, str] = Field(default_factory=dict, description="Header name -> value template.")
    encoding: Literal["json", "string", "bytes"] = Field(
        "json", description="json: the record as JSON; string / bytes: the value of 'field' as it is.")
    field: str = Field("message", description="Field written for string / bytes encoding.")
    linger_ms: float = Field(5, ge=0, description="How long the producer waits to fill a request.")
    batch_bytes: int = Field(1_000_000, ge=1, description="Largest request per partition, bytes.")
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field("none", description="Request compression.")
    idempotent: bool = Field(True, description="Idempotent producer: no duplicates or reordering from the "
                                               "producer's own retries.")
    acks: Literal["all", "1", "0"] = Field("all", description="Broker acknowledgement level ('all' when "
                                                               "idempotent).")
    message_timeout_ms: int = Field(30000, ge=1000, description="How long librdkafka keeps retrying one "
                                                                "message before it reports it failed.")
    flush_timeout: float = Field(10.0, gt=0, description="Seconds one write waits for delivery reports before "
                                                          "it is retried (the records are not sent again).")
    transactional_id: str | None = Field(
        None, description="exactly_once only: default 'conduix-<pipeline>-<sink id>'. One per running instance.")
    transaction_timeout_ms: int = Field(60000, ge=1000, description="exactly_once: broker aborts a transaction "
                                                                    "older than this.")
    producer: dict[str, ClientOption] = Field(
        default_factory=dict, description="Extra librdkafka producer properties.")

    @field_validator("brokers")
    @classmethod
    def _join(cls, value: str | list[str]) -> str:
        return _brokers(value)
