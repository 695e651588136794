"""deploy/alerts: the rules are valid PromQL, fire on the series they should (promtool test rules),
and use metric names Conduix exports."""

from __future__ import annotations

import re
import shutil
import subprocess

import yaml

from conduix.config import pipeline_from_dict
from conduix.observability import Telemetry
from conduix.runtime import PipelineRun
from conduix.testing import test_registry
from tests.conftest import ROOT

ALERTS = ROOT / "deploy" / "alerts"
AGENT_METRICS = {"conduix_redis_connected", "conduix_redis_breaker_open"}  # exported by the agent


def test_promtool_checks_and_unit_tests_the_rules():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (Debian package 'prometheus'; .ci/run installs it)"
    check = subprocess.run([promtool, "check", "rules", "conduix.rules.yml"], cwd=ALERTS, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tested = subprocess.run([promtool, "test", "rules", "conduix.rules.test.yml"], cwd=ALERTS,
                            capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rules_use_metrics_that_conduix_exports():
    rules = yaml.safe_load((ALERTS / "conduix.rules.yml").read_text())
    used = {name for group in rules["groups"] for rule in group["rules"]
            for name in re.findall(r"conduix_[a-z_]+", rule["expr"])}
    telemetry = Telemetry()
    live = PipelineRun(pipeline_from_dict({"sources": {"g": {"type": "generate", "count": 1}},
                                           "sinks": {"o": {"type": "blackhole", "inputs": ["g"]}}},
                                          registry=test_registry()))
    telemetry.attach(live)
    text = telemetry.prometheus_text().decode()
    exported = set(re.findall(r"^# TYPE (conduix_[a-z_]+)", text, re.M))
    exported |= {f"{name}_total" for name in exported}
    missing = used - exported - AGENT_METRICS - {"conduix_consumer_lag"}  # lag appears once a source reports it
    assert not missing, f"rules use metrics nobody exports: {missing}"
    telemetry.shutdown()
