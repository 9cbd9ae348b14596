"""deploy/prometheus: the scrape configurations and rules are valid for promtool, every
alert carries a runbook and is unit-tested, and the scrape targets match the platform."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.platform.prometheus import PROMETHEUS_DIR, prometheus_binary, prometheus_config
from deploy.platform.services import SERVICES

RULES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))


@pytest.fixture(scope="module")
def promtool() -> str:
    return prometheus_binary("promtool")


def run(promtool: str, *args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    result = subprocess.run(
        [promtool, *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=120
    )
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULES
        for group in load(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-compose.yml"])
def test_promtool_accepts_the_scrape_configuration(promtool: str, config: str) -> None:
    output = run(promtool, "check", "config", config)
    assert f"{len(RULES)} rule files found" in output


def test_promtool_accepts_the_rules(promtool: str) -> None:
    output = run(promtool, "check", "rules", *(str(p) for p in RULES))
    assert output.count("SUCCESS") == len(RULES)


def test_promtool_unit_tests_pass(promtool: str) -> None:
    output = run(promtool, "test", "rules", *(str(p) for p in RULE_TESTS))
    assert output.count("SUCCESS") == len(RULE_TESTS)
    assert "FAILED" not in output


def test_the_platform_generated_configuration_is_valid(promtool: str, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        prometheus_config({spec.name: spec.port for spec in SERVICES}, scrape_interval="1s")
    )
    run(promtool, "check", "config", str(config), cwd=tmp_path)
    assert load(config)["global"]["scrape_interval"] == "1s"


def test_every_alert_has_a_severity_summary_and_runbook() -> None:
    rules = alert_rules()
    assert len(rules) >= 9
    for rule in rules:
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert len(rule["annotations"]["runbook"].split()) >= 20, rule["alert"]


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in load(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check["exp_alerts"] else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names <= firing
    assert names - {"RiskstreamTargetDown", "RiskstreamScoreLatencyBudgetBurnSlow"} <= silent | {
        "RiskstreamTargetDown"
    }


def scrape_targets(config: dict[str, Any]) -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }


def test_the_local_configuration_scrapes_every_service_on_its_port() -> None:
    targets = scrape_targets(load(PROMETHEUS_DIR / "prometheus.yml"))
    assert targets == {spec.name: [f"127.0.0.1:{spec.port}"] for spec in SERVICES}


def test_the_compose_configuration_scrapes_every_service_by_name() -> None:
    targets = scrape_targets(load(PROMETHEUS_DIR / "prometheus-compose.yml"))
    assert targets == {spec.name: [f"{spec.name}:{spec.port}"] for spec in SERVICES}
