from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from services.cli.main import app
from tests.offline.backtest_log import write_log
from tests.services.scorer.scorer_bundles import build_bundle
from tests.services.warning.warning_fakes import BAD_RULES, SMALL_RULES

runner = CliRunner()


@pytest.fixture
def rule_files(tmp_path: Path) -> dict[str, Path]:
    small = tmp_path / "small.yaml"
    small.write_bytes(SMALL_RULES)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(BAD_RULES)
    return {"small": small, "bad": bad}


def test_validate_a_valid_file_exits_0_with_a_summary(rule_files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["rules", "validate", str(rule_files["small"])])
    assert result.exit_code == 0
    assert "version small.1, 1 rules" in result.stdout
    assert "grade_d" in result.stdout


def test_validate_an_invalid_file_exits_1_with_line_and_reason(
    rule_files: dict[str, Path],
) -> None:
    result = runner.invoke(app, ["rules", "validate", str(rule_files["bad"])])
    assert result.exit_code == 1
    assert f"{rule_files['bad']}:6:" in result.stderr.replace("\n", "")
    assert "unexpected end of expression" in result.stderr.replace("\n", " ")


def test_backtest_prints_the_comparison_and_writes_json(
    rule_files: dict[str, Path], tmp_path: Path
) -> None:
    bundle = build_bundle(tmp_path / "bundle", "tiny-1")
    log = write_log(tmp_path / "events.jsonl")
    report = tmp_path / "report.json"
    result = runner.invoke(
        app,
        [
            "rules",
            "backtest",
            "--rules",
            str(rule_files["small"]),
            "--events",
            str(log),
            "--bundle",
            str(bundle),
            "--out",
            str(report),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.stderr
    assert "payment_failures_burst" in result.stdout
    document = orjson.loads(report.read_bytes())
    assert document["scores"] == 15
    assert document["baseline"]["version"] == "2026-12-01.1"
    assert {d["rule_id"] for d in document["difference"]["actions"]} == {
        "low_grade",
        "payment_failures_burst",
    }


def test_backtest_refuses_an_invalid_candidate_before_replaying(
    rule_files: dict[str, Path], tmp_path: Path
) -> None:
    log = write_log(tmp_path / "events.jsonl")
    result = runner.invoke(
        app,
        ["rules", "backtest", "--rules", str(rule_files["bad"]), "--events", str(log)],
    )
    assert result.exit_code == 1
    assert ":6:" in result.stderr


def test_backtest_without_a_model_says_how_to_give_one(
    rule_files: dict[str, Path], tmp_path: Path
) -> None:
    log = write_log(tmp_path / "events.jsonl")
    result = runner.invoke(
        app,
        ["rules", "backtest", "--rules", str(rule_files["small"]), "--events", str(log)],
        env={"RISKSTREAM_DEFAULT_BUNDLE": ""},
    )
    assert result.exit_code == 2
    assert "--bundle" in result.stderr
