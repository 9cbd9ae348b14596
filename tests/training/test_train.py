from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from riskmodel.manifest import MANIFEST_FILE, MODEL_FILE, ScoreScaling
from riskmodel.reasons import explain
from riskmodel.scaling import assess
from schemas.features import FEATURE_SCHEMA
from schemas.scores import Grade
from training.bundle import Bundle, load_bundle, onnx_predict, onnx_session
from training.catalogue import RISK_INCREASING
from training.errors import TrainingError
from training.report import REPORT_HTML, REPORT_JSON
from training.train import (
    GRADE_MAX_PD,
    TrainingConfig,
    TrainResult,
    fit_platt,
    grade_cutoffs,
    train_from_simulation,
)

TINY = TrainingConfig(n_estimators=40, min_child_samples=10, early_stopping_rounds=10, threads=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Bundle]:
    out_dir = tmp_path_factory.mktemp("bundle")
    result = train_from_simulation(
        400, 150, 5, out_dir, start=datetime(2025, 2, 1, tzinfo=UTC), config=TINY
    )
    return result, load_bundle(out_dir)


def test_training_writes_a_complete_bundle_and_report(trained: tuple[TrainResult, Bundle]) -> None:
    result, bundle = trained
    for name in (MODEL_FILE, MANIFEST_FILE, "reasons.npz", REPORT_JSON, REPORT_HTML):
        assert (result.out_dir / name).is_file(), name
    assert bundle.manifest == result.manifest
    assert bundle.manifest.feature_names == list(FEATURE_SCHEMA.names)
    assert bundle.manifest.feature_schema_version == FEATURE_SCHEMA.version
    assert bundle.manifest.feature_schema_fingerprint == FEATURE_SCHEMA.fingerprint()
    assert bundle.manifest.data_fingerprint.startswith("sha256:")
    assert bundle.manifest.thin_file is not None
    assert bundle.manifest.thin_file.grade not in ("S", "A")


def test_report_json_carries_the_contract_metrics(trained: tuple[TrainResult, Bundle]) -> None:
    result, _ = trained
    report = json.loads((result.out_dir / REPORT_JSON).read_text(encoding="utf-8"))
    assert 0.5 < report["metrics"]["auc"] <= 1.0
    assert 0.0 < report["metrics"]["ks"] <= 1.0
    assert report["metrics"]["auc"] == result.manifest.metrics["auc"]
    assert report["baseline"]["metrics"]["auc"] > 0
    assert report["serving"]["onnx_max_abs_diff"] <= 1e-5
    agreement = report["reason_agreement"]
    assert set(agreement) == {
        "top1_match",
        "top3_overlap",
        "top3_same_set",
        "max_abs_diff_vs_treeshap",
    }
    # The served reasons are exact TreeSHAP: LightGBM's own pred_contrib.
    assert agreement["top3_overlap"] >= 0.95
    assert agreement["max_abs_diff_vs_treeshap"] < 1e-9
    assert {"WoE scorecard", "logistic regression"} == {
        report["baseline"]["model"].split(" (")[0],
        report["logistic"]["model"],
    }
    assert report["fairness"]["excluded"] == []
    assert report["scaling"]["pdo"] == 20.0
    assert [row["grade"] for row in report["grades"]["test"]] == ["S", "A", "B", "C", "D"]
    assert "score" in report["psi_train_vs_test"]


def test_report_html_is_self_contained(trained: tuple[TrainResult, Bundle]) -> None:
    page = (trained[0].out_dir / REPORT_HTML).read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 5
    assert "<script" not in page
    assert 'src="http' not in page


def test_golden_rows_reproduce_through_onnx(trained: tuple[TrainResult, Bundle]) -> None:
    _, bundle = trained
    golden = bundle.manifest.golden_rows
    outputs = onnx_predict(onnx_session(bundle.model_path), np.asarray(golden.input_rows()))
    np.testing.assert_allclose(outputs, golden.outputs, atol=golden.tolerance)
    assert all(0.0 <= p <= 1.0 for p in outputs)


def test_reason_table_matches_the_onnx_model(trained: tuple[TrainResult, Bundle]) -> None:
    _, bundle = trained
    rows = np.asarray(bundle.manifest.golden_rows.input_rows())
    from_table = 1 / (1 + np.exp(-bundle.reason_table.raw_scores(rows)))
    from_onnx = onnx_predict(onnx_session(bundle.model_path), rows)
    np.testing.assert_allclose(from_table, from_onnx, atol=1e-5)


def test_risk_increasing_features_never_lower_the_probability(
    trained: tuple[TrainResult, Bundle],
) -> None:
    _, bundle = trained
    session = onnx_session(bundle.model_path)
    rows = np.asarray(bundle.manifest.golden_rows.input_rows())
    base = onnx_predict(session, rows)
    for name in RISK_INCREASING:
        worse = rows.copy()
        column = bundle.manifest.feature_names.index(name)
        worse[:, column] = np.nan_to_num(worse[:, column]) + 5.0
        assert np.all(onnx_predict(session, worse) >= base - 1e-7), name


def test_bundle_drives_scores_grades_and_readable_reasons(
    trained: tuple[TrainResult, Bundle],
) -> None:
    _, bundle = trained
    manifest = bundle.manifest
    rows = manifest.golden_rows.input_rows()
    for row, output in zip(rows, manifest.golden_rows.outputs, strict=True):
        assessment = assess(output, manifest)
        assert 0.0 < assessment.probability_of_default < 1.0
        assert 300 <= assessment.score <= 900
        reasons = explain(row, bundle.reason_table, manifest.feature_names, manifest.reason_codes)
        impacts = [r.impact for r in reasons]
        assert impacts == sorted(impacts, reverse=True)
        assert all(i > 0 for i in impacts)
        assert all(r.code.startswith("R_") and r.text for r in reasons)
        assert len(reasons) <= manifest.reason_codes.max_reasons


def test_grade_cutoffs_come_from_target_bad_rates(trained: tuple[TrainResult, Bundle]) -> None:
    result, bundle = trained
    cutoffs = bundle.manifest.grade_cutoffs
    assert cutoffs == grade_cutoffs(bundle.manifest.score_scaling)
    assert cutoffs.max_probability_of_default == GRADE_MAX_PD
    for row in result.report["grades"]["test"]:
        if row["grade"] != "D" and row["count"]:
            # Every customer of a grade is predicted to go bad at most its target rate.
            assert row["predicted_pd"] <= row["max_pd"] + 1e-9


def test_bundle_loading_needs_the_model_file(
    trained: tuple[TrainResult, Bundle], tmp_path: Path
) -> None:
    (tmp_path / MANIFEST_FILE).write_text(
        (trained[0].out_dir / MANIFEST_FILE).read_text(encoding="utf-8"), encoding="utf-8"
    )
    with pytest.raises(TrainingError, match=MODEL_FILE):
        load_bundle(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("{}", encoding="utf-8")
    with pytest.raises(TrainingError, match="manifest"):
        load_bundle(tmp_path)


def test_single_row_walk_matches_the_batch_walk(trained: tuple[TrainResult, Bundle]) -> None:
    _, bundle = trained
    table = bundle.reason_table
    rows = np.asarray(bundle.manifest.golden_rows.input_rows())
    batch = table.contributions_of(rows)
    for row, expected in zip(rows, batch, strict=True):
        np.testing.assert_allclose(table.contributions_of_row(row), expected, atol=1e-12)


def test_cutoffs_are_the_scores_of_the_target_bad_rates_by_hand() -> None:
    # 600 points at 50:1 good:bad odds, 20 points to double them: odds 100:1 score 620,
    # 50:1 600, 25:1 580 and 12.5:1 560; a PD of 1/(1 + odds) has those odds.
    targets: dict[Grade, float] = {"S": 1 / 101, "A": 1 / 51, "B": 1 / 26, "C": 1 / 13.5}
    cutoffs = grade_cutoffs(ScoreScaling(), targets)
    assert (cutoffs.S, cutoffs.A, cutoffs.B, cutoffs.C) == (620, 600, 580, 560)
    assert cutoffs.max_probability_of_default == targets


def test_default_cutoffs_fall_from_s_to_c() -> None:
    cutoffs = grade_cutoffs(ScoreScaling(base_score=600, base_odds=50, pdo=20))
    assert cutoffs.S > cutoffs.A > cutoffs.B > cutoffs.C


def test_platt_recovers_a_known_miscalibration() -> None:
    rng = np.random.default_rng(3)
    true_pd = rng.uniform(0.02, 0.6, 20000)
    y = (rng.random(20000) < true_pd).astype(np.int64)
    # A model that doubles the odds of default: Platt should halve them back.
    inflated = 2 * true_pd / (1 - true_pd) / (1 + 2 * true_pd / (1 - true_pd))
    platt = fit_platt(inflated, y)
    assert platt.a == pytest.approx(1.0, abs=0.1)
    assert platt.b == pytest.approx(-np.log(2), abs=0.1)


def test_platt_refuses_a_model_that_ranks_backwards() -> None:
    y = np.array([0, 0, 0, 1, 1, 1] * 50)
    backwards = np.where(y == 1, 0.1, 0.9) + np.linspace(0, 0.05, len(y))
    with pytest.raises(TrainingError, match="slope"):
        fit_platt(backwards, y)
