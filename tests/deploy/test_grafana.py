"""deploy/grafana/conduix-dashboard.json: a Grafana dashboard over the Prometheus data source the user picks.
(That every query names metrics Conduix exports is checked against a live agent and control plane in
tests/core/test_alerts.py.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from tests.conftest import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "conduix-dashboard.json"


def load() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) of every query: the panels' targets and the template variables'."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            yield f"${variable['name']}", query["query"]


def metric_names(expr: str) -> set[str]:
    """The conduix_* metric (sample) names a query reads."""
    return set(re.findall(r"\bconduix_[a-z_]+\b", expr))


def test_dashboard_covers_pipelines_agents_and_redis_from_a_chosen_data_source() -> None:
    dashboard = load()
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Pipelines", "Agents and control plane", "Redis health"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]
    names = set().union(*(metric_names(expr) for _, expr in queries(dashboard)))
    for needed in ("conduix_consumer_lag", "conduix_redis_connected", "conduix_redis_breaker_open",
                   "conduix_agent_mode", "conduix_batch_duration_seconds_bucket", "conduix_control_agents"):
        assert needed in names


def test_every_query_is_balanced_promql_with_its_legend_labels_kept() -> None:
    for title, expr in queries(load()):
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), title
    for panel in load()["panels"]:
        for target in panel.get("targets", []):
            kept = re.search(r"\bby \(([^)]*)\)", target["expr"])
            legend = set(re.findall(r"\{\{(\w+)\}\}", target["legendFormat"]))
            if kept:  # an aggregation keeps the labels its legend shows
                assert legend <= {label.strip() for label in kept.group(1).split(",")}, panel["title"]
