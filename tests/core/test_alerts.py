"""deploy/alerts: the rules are valid PromQL, fire and resolve on the series they should (promtool test rules),
use only metrics a running agent exports (no exclusions), and fire from a real scrape of one; the Grafana
dashboard's queries read only exported metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.control.conftest import RedisServer, eventually, free_port, redis_server, stack  # noqa: F401 (fixtures)
from tests.deploy.test_grafana import load as load_dashboard
from tests.deploy.test_grafana import metric_names as dashboard_metric_names
from tests.deploy.test_grafana import queries as dashboard_queries

ALERTS = ROOT / "deploy" / "alerts"


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is needed (Debian package 'prometheus'; nox installs it)"
    return found


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    check = subprocess.run([promtool(), "check", "rules", "conduix.rules.yml"], cwd=ALERTS, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tested = subprocess.run([promtool(), "test", "rules", "conduix.rules.test.yml"], cwd=ALERTS,
                            capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_warning_and_a_critical_level_from_the_original_readme() -> None:
    rules = [r for g in yaml.safe_load((ALERTS / "conduix.rules.yml").read_text())["groups"] for r in g["rules"]]
    levels = {(r["alert"], r["labels"]["severity"]): r for r in rules}
    for alert in ("ConduixRedisDisconnected", "ConduixCircuitBreakerOpen", "ConduixConsumerLag",
                  "ConduixActorRestarts", "ConduixCheckpointFailures"):
        assert (alert, "warning") in levels and (alert, "critical") in levels, alert
    # the README's table: Disconnected > 30s / > 5min; Open / Open > 5min; > 10,000 / > 100,000; > 3/5min / > 5/5min;
    # > 3 / > 10 consecutive checkpoint failures
    assert levels["ConduixRedisDisconnected", "warning"]["for"] == "30s"
    assert levels["ConduixRedisDisconnected", "critical"]["for"] == "5m"
    assert "for" not in levels["ConduixCircuitBreakerOpen", "warning"]
    assert levels["ConduixCircuitBreakerOpen", "critical"]["for"] == "5m"
    assert levels["ConduixConsumerLag", "warning"]["expr"].endswith("> 10000")
    assert levels["ConduixConsumerLag", "critical"]["expr"].endswith("> 100000")
    assert levels["ConduixActorRestarts", "warning"]["expr"].endswith("[5m])) > 3")
    assert levels["ConduixActorRestarts", "critical"]["expr"].endswith("[5m])) > 5")
    assert levels["ConduixCheckpointFailures", "warning"]["expr"].endswith("> 3")
    assert levels["ConduixCheckpointFailures", "critical"]["expr"].endswith("> 10")


def rule_metrics() -> set[str]:
    rules = yaml.safe_load((ALERTS / "conduix.rules.yml").read_text())
    return {name for group in rules["groups"] for rule in group["rules"]
            for name in re.findall(r"conduix_[a-z_]+", rule["expr"])}


def scrape(url: str) -> list[Any]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def lagging_pipeline(brokers: str, topic: str) -> str:
    """Reads ``topic`` into an hour-long window: nothing is acknowledged, so the whole topic is lag; records that
    are not JSON are dropped (counted as errors)."""
    return f"""version: 1
name: lagging
settings: {{batch_size: 500}}
sources:
  orders: {{type: kafka, brokers: "{brokers}", topics: [{topic}], group_id: {topic}-group, decoding: json,
           on_error: drop, auto_offset_reset: earliest, session_timeout_ms: 6000, heartbeat_interval_ms: 500}}
transforms:
  hourly: {{type: aggregate, inputs: [orders], window: {{type: tumbling, size: 1h}},
           aggregations: {{n: {{type: count}}}}}}
sinks:
  out: {{type: blackhole, inputs: [hourly]}}
"""


@pytest.mark.integration("kafka")
@pytest.mark.integration("redis")
@pytest.mark.slow
def test_rules_use_only_metrics_agents_and_the_control_plane_export_and_the_lag_alert_fires_from_a_scrape(
        stack: Any, redis_server: RedisServer, broker: Any, tmp_path: Path) -> None:  # noqa: F811 (fixtures)
    topic = f"alert-lag-{uuid.uuid4().hex[:8]}"
    broker.create_topics(topic, partitions=1)
    broker.produce(topic, [b"not json"] * 3)  # first: read before the held batches stop the reading
    broker.produce(topic, ({"seq": i} for i in range(15_000)), linger_ms=50)
    cp = stack.control(redis_url=redis_server.url)
    port = free_port()
    agent = stack.agent(cp, "lag1", redis_server.url, "--metrics-port", str(port))
    cp.put_pipeline("lagging", lagging_pipeline(broker.bootstrap, topic))
    assert cp.post("/pipelines/lagging/start").status_code == 202
    url = f"http://127.0.0.1:{port}"

    def lagging() -> list[Any] | None:
        samples = scrape(url)
        lag = [s for s in samples if s.name == "conduix_consumer_lag" and s.labels.get("pipeline") == "lagging"]
        errors = [s for s in samples if s.name == "conduix_errors_total"]  # the records that are not JSON
        return samples if lag and lag[0].value >= 14_000 and errors else None  # the watermark may trail

    def seen() -> str:
        shown = [(s.name, s.value) for s in scrape(url) if s.name in ("conduix_consumer_lag", "conduix_errors_total")]
        return f"the topic's lag and errors on the agent's /metrics: {shown}\n{agent.log()[-3000:]}"

    samples = eventually(lagging, timeout=90, what=seen)
    def one(name: str, **labels: str) -> float:
        found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
        assert found, (name, labels)
        return sum(found)

    # its records, its Redis state and breaker, beside the lag
    assert one("conduix_records_out_total", pipeline="lagging", component="orders") > 0
    assert one("conduix_redis_connected", agent="lag1") == 1 and one("conduix_redis_breaker_open", agent="lag1") == 0
    control = scrape(cp.url)  # the control plane's own Redis client, for the same two alerts
    assert [s.value for s in control if s.name == "conduix_control_redis_connected"] == [1]
    assert [s.value for s in control if s.name == "conduix_control_redis_breaker_open"] == [0]
    exported = {s.name for s in samples} | {s.name for s in control}
    missing = rule_metrics() - exported
    assert not missing, f"rules use metrics neither the agent nor the control plane exports: {missing}"
    run_promtool_on(samples, tmp_path)
    # the dashboard's queries read what the agent and the control plane export
    for title, expr in dashboard_queries(load_dashboard()):
        assert not dashboard_metric_names(expr) - exported, f"{title}: {expr} reads metrics nobody exports"


def run_promtool_on(samples: list[Any], tmp_path: Path) -> None:
    """The scraped values as constant series for 10 minutes: the lag alert fires (warning, not critical) with the
    scrape's labels, and no Redis alert does (the agent is connected)."""
    def series(sample: Any) -> dict[str, str]:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
        return {"series": f"{sample.name}{{{labels}}}", "values": f"{sample.value:g}x10"}

    wanted = ("conduix_consumer_lag", "conduix_redis_connected", "conduix_redis_breaker_open")
    inputs = [series(s) for s in samples if s.name in wanted]
    lag = [s for s in samples if s.name == "conduix_consumer_lag" and s.value > 10_000]
    assert lag and all(s.value <= 100_000 for s in lag)
    expected = [{"exp_labels": {"severity": "warning", **{k: s.labels[k] for k in ("pipeline", "component",
                                                                                    "partition")}},
                 "exp_annotations": {
                     "summary": f"Consumer lag {s.value:g} on {s.labels['pipeline']}/{s.labels['component']} "
                                f"partition {s.labels['partition']}",
                     "description": "The pipeline reads slower than the topic grows: add replicas or look for a "
                                    "slow sink."}} for s in lag]
    test = {"rule_files": [str(ALERTS / "conduix.rules.yml")], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": inputs, "alert_rule_test": [
                {"eval_time": "4m", "alertname": "ConduixConsumerLag", "exp_alerts": []},
                {"eval_time": "6m", "alertname": "ConduixConsumerLag", "exp_alerts": expected},
                {"eval_time": "6m", "alertname": "ConduixRedisDisconnected", "exp_alerts": []},
                {"eval_time": "6m", "alertname": "ConduixCircuitBreakerOpen", "exp_alerts": []}]}]}
    file = tmp_path / "scrape.test.yml"
    file.write_text(yaml.safe_dump(test, sort_keys=False))
    tested = subprocess.run([promtool(), "test", "rules", str(file)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr + file.read_text()
