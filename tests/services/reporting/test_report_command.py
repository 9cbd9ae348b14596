"""``riskstream report`` offline: JSONL exports in, HTML with inline charts and JSON out."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from services.cli.main import app
from services.cli.report import parse_bound
from tests.services.reporting.reporting_records import START, action, audit, decision, score

runner = CliRunner()


def write_jsonl(path: Path, records: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(records) + b"\n")
    return path


def test_the_report_is_written_as_html_and_json(tmp_path: Path) -> None:
    scores = write_jsonl(
        tmp_path / "scores.jsonl",
        [
            score("c1", "A", 1).model_dump_json().encode(),
            score("c1", "D", 30).model_dump_json().encode(),
            score("c2", "B", 2).model_dump_json().encode(),
        ],
    )
    actions = write_jsonl(
        tmp_path / "actions.jsonl",
        [action("c1", "freeze_credit", 31).model_dump_json().encode()],
    )
    audit_file = write_jsonl(
        tmp_path / "audit.jsonl", [audit("model.activate", "v1", 0.5).model_dump_json().encode()]
    )
    outcomes = write_jsonl(
        tmp_path / "labels.jsonl",
        [
            orjson.dumps({"customer_id": "c1", "bad_at": "2026-08-15T00:00:00+00:00"}),
            orjson.dumps({"customer_id": "c2", "bad_at": None}),
        ],
    )
    out = tmp_path / "out" / "q3.html"
    result = runner.invoke(
        app,
        [
            "report",
            "--from", "2026-07-01",
            "--to", "2026-09-30",
            "--scores", str(scores),
            "--actions", str(actions),
            "--audit", str(audit_file),
            "--outcomes", str(outcomes),
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("data:image/png;base64,") >= 4
    assert "freeze_credit" in page
    document = orjson.loads(out.with_suffix(".json").read_bytes())
    assert document["period"] == {
        "from": "2026-07-01T00:00:00+00:00",
        "to": "2026-10-01T00:00:00+00:00",
    }
    assert document["customers_scored"] == 2
    assert document["customers"]["frozen"] == 1
    grades = {row["grade"]: row for row in document["grades"]}
    assert grades["D"]["bad"] == 1
    assert grades["B"]["known_outcomes"] == 1
    assert document["model_changes"][0]["subject"] == "v1"


def test_an_invalid_export_line_is_named(tmp_path: Path) -> None:
    scores = write_jsonl(tmp_path / "scores.jsonl", [b'{"score_id": "x"}'])
    actions = write_jsonl(tmp_path / "actions.jsonl", [b""])
    result = runner.invoke(
        app,
        ["report", "--from", "2026-07-01", "--to", "2026-07-31", "--scores", str(scores),
         "--actions", str(actions), "--out", str(tmp_path / "r.html")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "scores.jsonl:1" in result.output
    assert not (tmp_path / "r.html").exists()


def test_period_bounds_read_days_inclusively_and_instants_as_given() -> None:
    assert parse_bound("2026-07-01", end=False) == START
    assert parse_bound("2026-06-30", end=True) == START
    assert parse_bound("2026-07-01T00:00:00", end=True) == START
    assert parse_bound("2026-07-01T08:00:00+08:00", end=False) == START


def test_decision_quality_comes_from_a_decision_log_export(tmp_path: Path) -> None:
    scores = write_jsonl(
        tmp_path / "scores.jsonl", [score("c1", "C", 1).model_dump_json().encode()]
    )
    actions = write_jsonl(tmp_path / "actions.jsonl", [])
    decisions = write_jsonl(
        tmp_path / "decisions.jsonl",
        [
            decision("c1", "review", 2).model_dump_json().encode(),
            decision("c2", "approve", 3, number=1).model_dump_json().encode(),
        ],
    )
    outcomes = write_jsonl(
        tmp_path / "labels.jsonl",
        [
            orjson.dumps({"customer_id": "c1", "bad_at": "2026-08-15T00:00:00+00:00"}),
            orjson.dumps({"customer_id": "c2", "bad_at": None}),
        ],
    )
    out = tmp_path / "q3.html"
    result = runner.invoke(
        app,
        ["report", "--from", "2026-07-01", "--to", "2026-09-30", "--scores", str(scores),
         "--actions", str(actions), "--decisions", str(decisions), "--outcomes", str(outcomes),
         "--out", str(out)],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    quality = orjson.loads(out.with_suffix(".json").read_bytes())["decision_quality"]
    review = quality["thresholds"][0]
    assert (quality["judged"], review["threshold"], review["precision"], review["recall"]) == (
        2,
        "review",
        1.0,
        1.0,
    )
    assert "Decision quality at the thresholds in force" in out.read_text()
