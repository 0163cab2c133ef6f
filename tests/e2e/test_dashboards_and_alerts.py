"""The Grafana dashboards and Prometheus alert rules in deploy/ read only metrics that the
running services export: a renamed metric cannot leave a dashboard blank or an alert deaf."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bogfoer_devstack.stack import SERVICES
from tests.promql import metric_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
RULES = DEPLOY / "prometheus" / "alerts.yaml"
# Series Prometheus makes itself for every target, not exported by anyone.
SYNTHETIC = {"up"}
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def exported(text: str) -> set[str]:
    """Every sample name the exposition can carry, from its families (with or without samples)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def panel_expressions(board: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", []) if t.get("expr")]
    for variable in board.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            exprs.append(query["query"])
    return exprs


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def test_dashboards_and_rules_are_complete() -> None:
    assert {p.name for p in DASHBOARDS} == {
        "overview.json",
        "tenant.json",
        "dinero.json",
        "kafka-lag.json",
    }
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"], path.name
        assert board["title"], path.name
        assert panel_expressions(board), path.name
    alerts = {
        rule["alert"]: rule
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    assert {
        "BogfoerPostingStuck",
        "BogfoerTenantParked",
        "BogfoerDinero429",
        "BogfoerDeadLetters",
        "BogfoerConsumerLagGrowing",
        "BogfoerIngest5xx",
    } <= set(alerts)
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), name
        assert rule["annotations"]["summary"], name
        assert rule["for"], name


def test_every_metric_a_dashboard_or_alert_reads_is_exported_by_a_running_service(
    stack: Any, http: httpx.Client
) -> None:
    viewer = {"Authorization": f"Bearer {stack.viewer_token}"}
    available: set[str] = set()
    for service in SERVICES:
        scraped = http.get(f"{stack.url(service)}/metrics", headers=viewer)
        assert scraped.status_code == 200, f"{service}: {scraped.status_code}"
        available |= exported(scraped.text)
    used: dict[str, set[str]] = {}
    for path in DASHBOARDS:
        for expr in panel_expressions(json.loads(path.read_text())):
            for name in metric_names(expr):
                used.setdefault(name, set()).add(path.name)
    for expr in rule_expressions():
        for name in metric_names(expr):
            used.setdefault(name, set()).add(RULES.name)
    assert len(used) >= 20
    missing = {
        name: sorted(where) for name, where in used.items() if name not in available | SYNTHETIC
    }
    assert not missing, f"read but exported by no service: {missing}"
