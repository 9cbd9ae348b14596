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


def _write_table(path: Path, rows: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    city = rng.choice(["beijing", "chengdu", "shanghai"], rows)
    segment = rng.choice(["new", "member", None], rows)
    late = rng.poisson(0.7, rows).astype(float)
    late[rng.random(rows) < 0.1] = np.nan
    logit = -1.5 + 1.2 * np.nan_to_num(late) + np.where(city == "chengdu", 1.5, 0.0)
    status = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "default", "paid")
    frame = pd.DataFrame({"city": city, "segment": segment, "late": late, "status": status})
    frame.to_csv(path, index=False)
    return frame


def test_csv_training_encodes_categories_and_reports_cross_validation(tmp_path: Path) -> None:
    frame = _write_table(tmp_path / "loans.csv")
    result = train_from_csv(
        tmp_path / "loans.csv", "status", "default", tmp_path / "out", folds=3, config=TINY
    )
    manifest = load_bundle(tmp_path / "out").manifest
    assert manifest.feature_names == ["city", "segment", "late"]
    assert manifest.preprocessing is not None
    city, segment, late = manifest.preprocessing
    assert (city.kind, city.categories) == ("categorical", ["beijing", "chengdu", "shanghai"])
    assert (segment.kind, segment.categories) == ("categorical", ["member", "new"])
    assert late.kind == "numeric"

    report = json.loads((tmp_path / "out" / REPORT_JSON).read_text(encoding="utf-8"))
    metrics = report["metrics"]
    assert len(metrics["cv_aucs"]) == 3
    assert metrics["auc"] == pytest.approx(np.mean(metrics["cv_aucs"]))
    assert metrics["auc"] > 0.6
    assert "test_auc" in metrics
    assert result.manifest.metrics["auc"] == metrics["auc"]

    # Raw records encoded the way the scorer will encode them score through ONNX.
    records = frame.drop(columns=["status"]).head(20).to_dict(orient="records")
    rows = np.asarray([encode_record(r, manifest.preprocessing) for r in records])
    probabilities = onnx_predict(onnx_session(tmp_path / "out" / "model.onnx"), rows)
    assert np.all((probabilities > 0) & (probabilities < 1))
    chengdu = rows[:, 0] == 1.0
    assert probabilities[chengdu].mean() > probabilities[~chengdu].mean()


def test_a_missing_target_column_is_refused(tmp_path: Path) -> None:
    _write_table(tmp_path / "loans.csv", rows=50)
    with pytest.raises(TrainingError, match="target column"):
        train_from_csv(tmp_path / "loans.csv", "outcome", "default", tmp_path / "out")


def test_a_target_with_one_class_is_refused(tmp_path: Path) -> None:
    _write_table(tmp_path / "loans.csv", rows=50)
    with pytest.raises(TrainingError, match="single class"):
        train_from_csv(tmp_path / "loans.csv", "status", "never", tmp_path / "out")
