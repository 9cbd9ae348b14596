from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskmodel.preprocessing import encode_record
from training.bundle import load_bundle, onnx_predict, onnx_session
from training.errors import TrainingError
from training.report import REPORT_JSON
from training.tabular import train_from_csv
from training.train import TrainingConfig

TINY = TrainingConfig(n_estimators=30, min_child_samples=10, early_stopping_rounds=10, threads=1)


def _write_table(path: Path, rows: int = 600, *, with_sex: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    city = rng.choice(["beijing", "chengdu", "shanghai"], rows)
    segment = rng.choice(["new", "member", None], rows)
    late = rng.poisson(0.7, rows).astype(float)
    late[rng.random(rows) < 0.1] = np.nan
    logit = -1.5 + 1.2 * np.nan_to_num(late) + np.where(city == "chengdu", 1.5, 0.0)
    status = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "default", "paid")
    frame = pd.DataFrame({"city": city, "segment": segment, "late": late, "status": status})
    if with_sex:
        frame.insert(0, "applicant_sex", rng.choice(["f", "m"], rows))
    frame.to_csv(path, index=False)
    return frame


def _onnx(directory: Path, rows: np.ndarray) -> np.ndarray:
    return onnx_predict(onnx_session(directory / "model.onnx"), rows)


def test_csv_training_encodes_categories_and_reports_cross_validation(tmp_path: Path) -> None:
    frame = _write_table(tmp_path / "loans.csv")
    result = train_from_csv(
        tmp_path / "loans.csv",
        "status",
        "default",
        tmp_path / "out",
        folds=3,
        config=TINY,
        trials=2,
    )
    manifest = load_bundle(tmp_path / "out").manifest
    assert manifest.feature_names == ["city", "segment", "late"]
    assert manifest.preprocessing is not None
    city, segment, late = manifest.preprocessing
    assert (city.kind, city.categories) == ("woe", ["beijing", "chengdu", "shanghai"])
    assert (segment.kind, segment.categories) == ("woe", ["member", "new"])
    assert late.kind == "numeric"
    # Chengdu's customers go bad more often: its weight of evidence is the lowest.
    assert city.values[1] < min(city.values[0], city.values[2])

    report = json.loads((tmp_path / "out" / REPORT_JSON).read_text(encoding="utf-8"))
    metrics = report["metrics"]
    assert len(metrics["cv_aucs"]) == 3
    assert metrics["auc"] == pytest.approx(np.mean(metrics["cv_aucs"]))
    assert metrics["auc"] > 0.6
    assert "test_auc" in metrics
    assert result.manifest.metrics["auc"] == metrics["auc"]
    models = report["cross_validation"]["models"]
    assert set(models) == {"LightGBM", "WoE scorecard", "logistic (one-hot)"}
    assert all(len(m["aucs"]) == 3 for m in models.values())
    assert models["LightGBM"]["aucs"] == metrics["cv_aucs"]
    assert report["scorecard_points"]

    # Raw records encoded the way the scorer will encode them score through ONNX.
    records = frame.drop(columns=["status"]).head(20).to_dict(orient="records")
    rows = np.asarray([encode_record(r, manifest.preprocessing) for r in records])
    probabilities = _onnx(tmp_path / "out", rows)
    assert np.all((probabilities > 0) & (probabilities < 1))
    chengdu = np.isclose(rows[:, 0], city.values[1])
    assert probabilities[chengdu].mean() > probabilities[~chengdu].mean()


def test_an_unseen_category_scores_like_no_evidence(tmp_path: Path) -> None:
    _write_table(tmp_path / "loans.csv", rows=300)
    train_from_csv(
        tmp_path / "loans.csv",
        "status",
        "default",
        tmp_path / "out",
        folds=2,
        config=TINY,
        trials=1,
    )
    manifest = load_bundle(tmp_path / "out").manifest
    assert manifest.preprocessing is not None
    unseen = encode_record({"city": "lhasa", "segment": "vip", "late": 1}, manifest.preprocessing)
    assert unseen[:2] == [0.0, 0.0]
    (probability,) = _onnx(tmp_path / "out", np.asarray([unseen]))
    assert 0.0 < probability < 1.0


def test_a_protected_column_is_excluded_unless_kept_explicitly(tmp_path: Path) -> None:
    _write_table(tmp_path / "loans.csv", rows=300, with_sex=True)
    excluded = train_from_csv(
        tmp_path / "loans.csv",
        "status",
        "default",
        tmp_path / "out",
        folds=2,
        config=TINY,
        trials=1,
    )
    assert "applicant_sex" not in excluded.manifest.feature_names
    assert excluded.manifest.fairness is not None
    assert [c.name for c in excluded.manifest.fairness.excluded] == ["applicant_sex"]
    assert excluded.manifest.fairness.kept == []
    groups = excluded.report["fairness"]["groups"]["columns"]["applicant_sex"]
    assert {g["group"] for g in groups["groups"]} == {"f", "m"}
    assert all(0.0 <= g["approval_rate"] <= 1.0 for g in groups["groups"])
    assert "applicant_sex (sex)" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")

    kept = train_from_csv(
        tmp_path / "loans.csv",
        "status",
        "default",
        tmp_path / "kept",
        folds=2,
        config=TINY,
        trials=1,
        keep_protected=["applicant_sex"],
    )
    assert kept.manifest.feature_names[0] == "applicant_sex"
    assert kept.manifest.fairness is not None
    assert [c.name for c in kept.manifest.fairness.kept] == ["applicant_sex"]


def test_keeping_a_column_that_is_not_protected_is_refused(tmp_path: Path) -> None:
    _write_table(tmp_path / "loans.csv", rows=100)
    with pytest.raises(TrainingError, match="not protected"):
        train_from_csv(
            tmp_path / "loans.csv", "status", "default", tmp_path / "out", keep_protected=["city"]
        )


def test_a_missing_target_column_is_refused(tmp_path: Path) -> None:
    _write_table(tmp_path / "loans.csv", rows=50)
    with pytest.raises(TrainingError, match="target column"):
        train_from_csv(tmp_path / "loans.csv", "outcome", "default", tmp_path / "out")


def test_a_target_with_one_class_is_refused(tmp_path: Path) -> None:
    _write_table(tmp_path / "loans.csv", rows=50)
    with pytest.raises(TrainingError, match="single class"):
        train_from_csv(tmp_path / "loans.csv", "status", "never", tmp_path / "out")
