"""What pipelines reach (conduix.access): components declare code, files and hosts; an allow-list checks them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conduix.access import AccessPolicy, host_of, runs_code
from conduix.config import PipelineSpec, load_pipeline_text


def spec(body: str, **env: str) -> PipelineSpec:
    return load_pipeline_text("version: 1\n" + body, env={"HOME": "/home/someone", **env}, build=False)


def paths_refused(policy: AccessPolicy, body: str) -> list[str]:
    return [e.path or "" for e in policy.check(spec(body))]


def test_python_stages_run_code_and_are_found_without_importing_anything(tmp_path: Path) -> None:
    body = f"""sources:
  n: {{type: generate, count: 1}}
transforms:
  code: {{type: python, inputs: [n], function: "nowhere_to_be_found:f", python_path: ["{tmp_path}"]}}
sinks:
  out: {{type: blackhole, inputs: [code]}}
"""
    assert runs_code(spec(body)) == ["code"]
    assert runs_code(load_pipeline_text("version: 1\n" + body, resolve=False)) == ["code"]
    [error] = AccessPolicy(cwd=tmp_path).check(spec(body))
    assert error.path == "transforms.code" and "--allow-code" in (error.hint or "")
    assert AccessPolicy(allow_code=True, cwd=tmp_path).check(spec(body)) == []


def test_files_must_be_in_the_allowed_folders_after_resolving_dots_links_and_variables(tmp_path: Path) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    run.mkdir()
    (data / "escape").symlink_to("/etc")
    policy = AccessPolicy(paths=[data], cwd=run)
    body = """sources:
  a: {{type: file, path: "{a}"}}
transforms:
  r: {{type: remap, inputs: [a], file: "{r}"}}
sinks:
  out: {{type: file, inputs: [r], path: "{out}", buffer: {{type: disk, path: "{buf}"}}}}
"""
    good = body.format(a=data / "logs" / "*.log", r=data / "fix.vrl", out="relative/out.jsonl", buf=data / "buf")
    assert paths_refused(policy, good) == []  # a glob under data, a relative path in the run's folder
    bad = body.format(a=data / "escape" / "passwd", r=f"{data}/../secret.vrl", out="${HOME}/.bashrc",
                      buf="/var/tmp/buf")
    refused = paths_refused(policy, bad)
    assert refused == ["sources.a", "transforms.r", "sinks.out", "sinks.out.buffer.path"]
    assert AccessPolicy(paths=None, cwd=run).check(spec(bad)) == []
    store = "settings: {checkpoint: {store: /var/tmp/checkpoints}}\n" + good
    assert paths_refused(policy, store) == ["settings.checkpoint.store"]


def test_hosts_must_match_the_allowed_names_wildcards_or_networks(tmp_path: Path) -> None:
    policy = AccessPolicy(hosts=["api.example.com", "*.internal.example", "10.0.0.0/8", "::1"], cwd=tmp_path)
    body = """sources:
  api: {{type: http_client, url: "{url}"}}
sinks:
  out: {{type: http, inputs: [api], url: "{sink}"}}
"""
    ok = body.format(url="https://api.example.com/v1/items?page=1", sink="http://db.internal.example:8080/x")
    assert paths_refused(policy, ok) == []
    assert paths_refused(policy, body.format(url="http://10.1.2.3/", sink="http://[::1]:9000/")) == []
    refused = body.format(url="http://169.254.169.254/latest/meta-data/", sink="http://internal.example.evil.com/")
    assert paths_refused(policy, refused) == ["sources.api", "sinks.out"]
    assert AccessPolicy(hosts=["*"], cwd=tmp_path).check(spec(refused)) == []
    assert AccessPolicy(hosts=None, cwd=tmp_path).check(spec(refused)) == []


@pytest.mark.parametrize(("target", "host"), [
    ("http://user:pw@Example.COM:80/x", "example.com"), ("broker-1:9092", "broker-1"), ("[::1]:4222", "::1"),
    ("nats://10.0.0.1:4222", "10.0.0.1"), ("", None)])
def test_host_of(target: str, host: str | None) -> None:
    assert host_of(target) == host


def test_connectors_declare_what_they_reach(tmp_path: Path) -> None:
    policy = AccessPolicy(paths=[tmp_path], hosts=["127.0.0.1"], cwd=tmp_path)
    kafka = """sources:
  k: {{type: kafka, brokers: "127.0.0.1:9092,10.9.9.9:9092", topics: [t], group_id: g, consumer: {consumer}}}
sinks:
  out: {{type: blackhole, inputs: [k]}}
"""
    assert paths_refused(policy, kafka.format(consumer="{}")) == ["sources.k"]  # the second broker
    loads_code = kafka.format(consumer="{plugin.library.paths: /tmp/evil.so}").replace(",10.9.9.9:9092", "")
    [error] = policy.check(spec(loads_code))
    assert error.message.startswith("source 'k' (kafka) runs code")
    es = f"""sources:
  n: {{type: generate, count: 1}}
sinks:
  es: {{type: elasticsearch, inputs: [n], index: i, endpoints: ["http://127.0.0.1:9200"],
       tls: {{ca_certs: /etc/ssl/private/key.pem}}}}
  s3: {{type: s3, inputs: [n], bucket: bucket-name}}
  nats: {{type: nats, inputs: [n], subject: s, servers: ["nats://127.0.0.1:4222"], creds_file: "{tmp_path}/x.creds"}}
  amqp: {{type: amqp, inputs: [n], exchange: e, routing_key: r, url: "amqp://guest:guest@rabbit.example:5672/"}}
"""
    assert paths_refused(policy, es) == ["sinks.es", "sinks.s3", "sinks.amqp"]
    assert os.path.isabs(str(tmp_path))
