"""deploy/grafana: the provisioned datasource and dashboards, and that every metric a panel
or a Prometheus rule reads is one the services really register."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from deploy.platform.paths import REPO_ROOT
from deploy.platform.prometheus import PROMETHEUS_DIR

GRAFANA = REPO_ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
METRIC_MODULES = (
    "services.common.metrics",
    "services.ingest.api",
    "services.features.app",
    "services.features.sinks",
    "services.scorer.metrics",
    "services.warning.metrics",
    "services.reporting.metrics",
    "services.signals.metrics",
)
PROMETHEUS_OWN = frozenset({"up"})
"""Series Prometheus writes itself for every target."""

_PROMQL_WORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "offset",
        "bool",
        "inf",
        "nan",
    }
)
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expression: str) -> set[str]:
    """The series names a PromQL expression selects (functions, keywords, label names and
    literals left out)."""
    text = _STRINGS.sub("", expression)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    return {name for name in _IDENTIFIER.findall(text) if name not in _PROMQL_WORDS}


def panel_expressions() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                found.append((f"{path.stem}: {panel['title']}", target["expr"]))
    return found


def rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Every series name the services' metric modules register, as scraped."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
        else:
            names.add(family.name)
    return names


def test_metric_names_are_read_from_promql() -> None:
    expression = (
        'sum by (job, le) (rate(riskstream_a_bucket{route="/v1/score", le="0.01"}[5m]))'
        " / ignoring (grade) group_left sum(x:y:rate5m) or vector(0) > 0.5"
    )
    assert metric_names(expression) == {"riskstream_a_bucket", "x:y:rate5m"}


def test_there_is_a_dashboard_for_each_audience() -> None:
    assert {path.stem for path in DASHBOARDS} == {
        "riskstream-overview",
        "riskstream-score-api",
        "riskstream-pipeline",
        "riskstream-model",
        "riskstream-actions",
    }


def test_dashboards_use_the_provisioned_datasource() -> None:
    datasource = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        uids.add(dashboard["uid"])
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == datasource["uid"]
            assert panel["targets"], panel["title"]
    assert len(uids) == len(DASHBOARDS)


@pytest.mark.parametrize(("panel", "expression"), panel_expressions())
def test_every_panel_reads_only_exported_metrics(
    exported: set[str], panel: str, expression: str
) -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    names = metric_names(expression)
    assert names, f"{panel}: no metric in {expression!r}"
    assert names <= exported | recorded | PROMETHEUS_OWN, panel


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.get("record") or r.get("alert"))
def test_every_rule_reads_only_exported_metrics(exported: set[str], rule: dict[str, Any]) -> None:
    recorded = {r["record"] for r in rules() if "record" in r}
    names = metric_names(rule["expr"])
    assert names
    assert names <= exported | recorded | PROMETHEUS_OWN


def test_the_dashboard_provider_points_where_compose_mounts_the_dashboards() -> None:
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "riskstream.yml").read_text()
    )["providers"][0]
    compose = yaml.safe_load((REPO_ROOT / "deploy" / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in volumes
