"""deploy/helm/conduix rendered offline by the real Helm library (helm-python-sdk): every manifest validates
against the Kubernetes schemas (kubernetes-validate, strict) or, for the Prometheus Operator's kinds, against
the fields their CRDs define; values.schema.json refuses bad values; the settings file the chart writes is
one the CLI accepts; the PrometheusRule carries deploy/alerts as they are."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from helm_python.chart import Chart
from helm_python.errors import HelmError

from conduix_control.cli import agent as agent_group
from conduix_control.cli import control as control_group
from conduix_control.cli.config_file import load_section

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "conduix"
KUBERNETES = "1.30.0"  # the oldest minor version whose schemas the tests check (Chart.yaml: >=1.25)

EXTERNAL = {
    "control": {"replicas": 2, "publicUrl": "https://conduix.example.com",
                "ingress": {"enabled": True, "className": "nginx", "host": "conduix.example.com",
                            "tls": {"enabled": True}}},
    "database": {"external": {"enabled": True, "existingSecret": "conduix-db", "existingSecretKey": "url"}},
    "redis": {"existingSecret": "conduix-redis"},
    "auth": {"existingSecret": "conduix-auth",
             "oidc": {"enabled": True, "discoveryUrl": "https://login.example.com/.well-known/openid-configuration",
                      "clientId": "conduix", "existingSecret": "conduix-oidc", "roleClaim": "groups",
                      "roleMap": "ops=admin,devs=editor", "defaultRole": "viewer"}},
    "agent": {"replicas": 3, "labels": {"zone": "eu"}, "diskBuffers": {"enabled": True, "size": "20Gi"},
              "extraEnv": [{"name": "KAFKA_BROKERS", "value": "kafka:9092"}]},
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
                "prometheusRule": {"enabled": True}},
    "pipelines": {"ticker": (ROOT / "examples" / "control_plane_ticker.yaml").read_text()},
}

# The fields of the Prometheus Operator's CRDs (monitoring.coreos.com/v1) that the chart uses; unknown ones fail.
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "labels": _LABELS}}
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": {
        "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "ServiceMonitor"},
            "metadata": _METADATA,
            "spec": {"type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
                     "properties": {
                         "selector": {"type": "object", "properties": {"matchLabels": _LABELS},
                                      "additionalProperties": False},
                         "endpoints": {"type": "array", "minItems": 1, "items": {
                             "type": "object", "additionalProperties": False,
                             "properties": {"port": {"type": "string"}, "path": {"type": "string"},
                                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}}}}}}}},
    "PrometheusRule": {
        "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "PrometheusRule"},
            "metadata": _METADATA,
            "spec": {"type": "object", "required": ["groups"], "additionalProperties": False, "properties": {
                "groups": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["name", "rules"], "additionalProperties": False,
                    "properties": {"name": {"type": "string"}, "interval": {"type": "string"},
                                   "rules": {"type": "array", "items": {
                                       "type": "object", "required": ["expr"], "additionalProperties": False,
                                       "properties": {"alert": {"type": "string"}, "record": {"type": "string"},
                                                      "expr": {"type": ["string", "integer"]},
                                                      "for": {"type": "string"}, "labels": _LABELS,
                                                      "annotations": _LABELS}}}}}}}}}},
}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with Chart.load(CHART) as chart:
        rendered = chart.render(values or {}, name="demo", namespace="data", is_install=True)
    docs: list[dict[str, Any]] = []
    for name, text in rendered.items():
        if name.endswith("NOTES.txt"):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"{kind} *{suffix}: {[d['metadata']['name'] for d in found]}"
    return found[0]


def validate_all(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if doc["kind"] in CRD_SCHEMAS:
            jsonschema.validate(doc, CRD_SCHEMAS[doc["kind"]])
        else:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_default_values_render_and_validate() -> None:
    docs = render()
    validate_all(docs)
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    assert kinds == ["ConfigMap/demo-conduix-config", "Deployment/demo-conduix-agent-0",
                     "Deployment/demo-conduix-agent-1", "Deployment/demo-conduix-control",
                     "PersistentVolumeClaim/demo-conduix-control",
                     "Secret/demo-conduix", "Service/demo-conduix-agent", "Service/demo-conduix-control",
                     "Service/demo-conduix-redis", "ServiceAccount/demo-conduix", "StatefulSet/demo-conduix-redis"]
    control = by_kind(docs, "Deployment", "-control")["spec"]["template"]["spec"]["containers"][0]
    assert control["args"] == ["control", "serve"]
    assert control["livenessProbe"]["httpGet"]["path"] == "/health"
    assert control["readinessProbe"]["httpGet"]["path"] == "/ready"
    agent = by_kind(docs, "Deployment", "-agent-1")["spec"]["template"]["spec"]["containers"][0]
    assert agent["args"] == ["agent", "start", "--agent-id", "demo-conduix-agent-1"]
    assert agent["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert agent["securityContext"]["readOnlyRootFilesystem"] is True
    # each agent its own generated token, which the control plane stores bound to that agent's id
    secret = {k: base64.b64decode(v).decode() for k, v in by_kind(docs, "Secret")["data"].items()}
    assert env_of(agent)["CONDUIX_CONTROL_TOKEN"] == {"secretKeyRef": {"name": "demo-conduix", "key": "agent-token-1"}}
    for n in (0, 1):
        assert secret[f"agent-token-{n}"].startswith("cdx_") and len(secret[f"agent-token-{n}"]) >= 36
    env = env_of(control)
    assert env["AGENT_TOKEN_1"] == {"secretKeyRef": {"name": "demo-conduix", "key": "agent-token-1"}}
    assert env["CONDUIX_CONTROL_AGENT_TOKENS"] == ("demo-conduix-agent-0=$(AGENT_TOKEN_0),"
                                                   "demo-conduix-agent-1=$(AGENT_TOKEN_1)")
    assert secret["redis-url"] == f"redis://:{secret['redis-password']}@demo-conduix-redis:6379/0"
    assert len(secret["admin-password"]) >= 12


def test_external_database_oidc_ingress_monitoring() -> None:
    docs = render(EXTERNAL)
    validate_all(docs)
    kinds = {d["kind"] for d in docs}
    assert {"Ingress", "ServiceMonitor", "PrometheusRule", "StatefulSet"} <= kinds
    assert not any(d["kind"] == "PersistentVolumeClaim" for d in docs)  # no SQLite volume
    assert not any(d["metadata"]["name"].endswith("-redis") for d in docs)  # the user's Redis
    assert not any(d["kind"] == "Secret" for d in docs)  # every secret is the user's
    control = by_kind(docs, "Deployment", "-control")
    assert control["spec"]["replicas"] == 2
    env = env_of(control["spec"]["template"]["spec"]["containers"][0])
    assert env["CONDUIX_CONTROL_DB"] == {"secretKeyRef": {"name": "conduix-db", "key": "url"}}
    assert env["CONDUIX_REDIS_URL"] == {"secretKeyRef": {"name": "conduix-redis", "key": "redis-url"}}
    assert env["CONDUIX_CONTROL_OIDC_CLIENT_SECRET"] == {"secretKeyRef": {"name": "conduix-oidc",
                                                                          "key": "oidc-client-secret"}}
    assert env["AGENT_TOKEN_2"] == {"secretKeyRef": {"name": "conduix-auth", "key": "agent-token-2"}}
    ingress = by_kind(docs, "Ingress")
    assert ingress["spec"]["tls"][0]["hosts"] == ["conduix.example.com"]
    assert len([d for d in docs if d["kind"] == "StatefulSet"]) == 3
    agents = by_kind(docs, "StatefulSet", "-agent-2")  # disk buffers on: one volume per agent
    assert agents["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    agent_env = env_of(agents["spec"]["template"]["spec"]["containers"][0])
    assert agent_env["KAFKA_BROKERS"] == "kafka:9092"
    pipelines = by_kind(docs, "ConfigMap", "-pipelines")
    assert pipelines["data"]["ticker.yaml"] == EXTERNAL["pipelines"]["ticker"]


def test_settings_file_is_one_the_cli_accepts(tmp_path: Path) -> None:
    """The conduix.yaml the chart mounts is read by the real CLI commands: every key is an option."""
    docs = render(EXTERNAL | {"control": EXTERNAL["control"] | {"settings": {"heartbeat_timeout": 45}},
                              "agent": EXTERNAL["agent"] | {"settings": {"capacity": 8}}})
    text = by_kind(docs, "ConfigMap", "-config")["data"]["conduix.yaml"]
    path = tmp_path / "conduix.yaml"
    path.write_text(text)
    control = load_section(path, "control", control_group.commands["serve"])
    agent = load_section(path, "agent", agent_group.commands["start"])
    assert control["oidc_discovery_url"] == EXTERNAL["auth"]["oidc"]["discoveryUrl"]
    assert control["pipelines_dir"] == "/etc/conduix/pipelines"
    assert control["heartbeat_timeout"] == 45
    assert agent["control_url"] == "http://demo-conduix-control:8470"
    assert agent["labels"] == ["zone=eu"]
    assert agent["capacity"] == 8


def test_prometheus_rule_carries_the_alert_rules(tmp_path: Path) -> None:
    docs = render({"metrics": {"prometheusRule": {"enabled": True}}})
    rule = by_kind(docs, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((ROOT / "deploy" / "alerts" / "conduix.rules.yml").read_text())
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(rule["spec"]))
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is installed by `nox -s tests`"
    checked = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(("values", "complaint"), [
    ({"control": {"replicas": 2}}, "enabled"),  # SQLite: one replica only
    ({"auth": {"adminPassword": "short"}}, "adminPassword"),
    ({"image": {"repository": ""}}, "repository"),
    ({"contrl": {"replicas": 1}}, "contrl"),
    ({"agent": {"replicas": "two"}}, "replicas"),
    ({"control": {"port": 70000}}, "port"),
    ({"auth": {"oidc": {"enabled": True, "discoveryUrl": "https://x/.well-known/openid-configuration"}}},
     "clientId"),
    ({"database": {"external": {"enabled": True}}}, "url"),
    ({"database": {"external": {"enabled": True, "url": "oracle://x"}}}, "url"),
    ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "interval"),
    ({"pipelines": {"bad name!": "version: 1"}}, "bad name"),
])
def test_bad_values_fail_on_the_schema(values: dict[str, Any], complaint: str) -> None:
    with Chart.load(CHART) as chart, pytest.raises(HelmError) as caught:
        chart.render(values, name="demo", namespace="data", is_install=True)
    assert "schema" in str(caught.value).lower()
    assert complaint in str(caught.value)


def test_schema_accepts_the_documented_values() -> None:
    """values.yaml itself and the example of docs/deployment.md pass the schema (it is no stricter than the docs)."""
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    jsonschema.validate(yaml.safe_load((CHART / "values.yaml").read_text()), schema)
    with Chart.load(CHART) as chart:
        chart.validate_schema(EXTERNAL)
