"""Training from any tabular CSV: numeric and categorical columns, one binary target.

Categorical columns are ordinal-encoded before LightGBM (the category list travels in the
manifest's ``preprocessing``), so ONNX sees exactly what LightGBM saw. The headline AUC is the
mean over stratified k folds; the bundle itself is trained on a stratified 60/20/20
train/validation/test split and evaluated like a simulation bundle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from riskmodel.manifest import ColumnEncoding
from riskmodel.preprocessing import encode_record
from training.catalogue import reason_texts
from training.dataset import as_model_matrix
from training.errors import TrainingError
from training.train import (
    ModelSpec,
    Rows,
    TrainingConfig,
    TrainResult,
    fit_evaluate_export,
    fit_lightgbm,
)

TABULAR_SCHEMA_VERSION = 0
"""Feature schema version of a CSV bundle: its inputs are raw columns, not riskstream
features, so the registry never pairs it with the feature service."""


def column_encodings(frame: pd.DataFrame) -> list[ColumnEncoding]:
    """Numeric dtype columns stay numeric; every other column is categorical with its
    distinct non-empty values, sorted, as categories."""
    encodings = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            encodings.append(ColumnEncoding(name=str(name), kind="numeric"))
        else:
            values = sorted({str(v) for v in column.dropna() if str(v) != ""})
            encodings.append(ColumnEncoding(name=str(name), kind="categorical", categories=values))
    return encodings


def load_csv(
    csv_path: str | Path, target: str, bad_value: str
) -> tuple[Rows, list[ColumnEncoding]]:
    """Reads the CSV, labels rows whose ``target`` equals ``bad_value`` (compared as text) as
    bad, and encodes every other column. Raises TrainingError for a missing target or a
    target with a single class."""
    frame = pd.read_csv(csv_path)
    if target not in frame.columns:
        raise TrainingError(f"target column {target!r} is not in {csv_path}")
    y = (frame[target].astype(str) == str(bad_value)).to_numpy(dtype=np.int64)
    if y.min() == y.max():
        raise TrainingError(f"target {target!r} = {bad_value!r} leaves a single class")
    features = frame.drop(columns=[target])
    encodings = column_encodings(features)
    records = features.to_dict(orient="records")
    x = as_model_matrix([encode_record(record, encodings) for record in records])
    return Rows(x, y), encodings


def cross_validated_auc(rows: Rows, folds: int, config: TrainingConfig) -> list[float]:
    """Test AUC of each of ``folds`` stratified folds; each fold's model stops early on a
    stratified fifth of its own training part."""
    aucs = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    monotone = [0] * rows.x.shape[1]
    for train_index, test_index in splitter.split(rows.x, rows.y):
        fit_index, stop_index = train_test_split(
            train_index, test_size=0.2, stratify=rows.y[train_index], random_state=config.seed
        )
        booster = fit_lightgbm(
            Rows(rows.x[fit_index], rows.y[fit_index]),
            Rows(rows.x[stop_index], rows.y[stop_index]),
            monotone,
            config,
        )
        aucs.append(float(roc_auc_score(rows.y[test_index], booster.predict(rows.x[test_index]))))
    return aucs


def train_from_csv(
    csv_path: str | Path,
    target: str,
    bad_value: str,
    out_dir: str | Path,
    folds: int = 5,
    *,
    config: TrainingConfig | None = None,
) -> TrainResult:
    """Cross-validates, then trains, evaluates and exports a bundle into ``out_dir``.

    ``report.json``'s ``metrics.auc`` is the cross-validated mean (``metrics.test_auc`` the
    held-out test AUC of the exported model); ``cv_auc_std`` and ``cv_aucs`` give the spread.
    """
    settings = config or TrainingConfig()
    rows, encodings = load_csv(csv_path, target, bad_value)
    if folds < 2:
        raise TrainingError("cross-validation needs at least two folds")
    aucs = cross_validated_auc(rows, folds, settings)
    index = np.arange(len(rows.y))
    rest, test_index = train_test_split(
        index, test_size=0.2, stratify=rows.y, random_state=settings.seed
    )
    train_index, validation_index = train_test_split(
        rest, test_size=0.25, stratify=rows.y[rest], random_state=settings.seed
    )
    names = tuple(c.name for c in encodings)
    spec = ModelSpec(
        feature_names=names,
        feature_schema_version=TABULAR_SCHEMA_VERSION,
        feature_schema_fingerprint=None,
        monotone=(0,) * len(names),
        reasons=reason_texts(names),
        source=(
            f"CSV {Path(csv_path).name}: {len(rows.y)} rows, {len(names)} columns, "
            f"{folds}-fold cross-validation, then a stratified 60/20/20 split"
        ),
        target=f"{target} == {bad_value}",
        preprocessing=encodings,
        extra_metrics={
            "cv_auc_mean": float(np.mean(aucs)),
            "cv_auc_std": float(np.std(aucs)),
            "cv_folds": float(folds),
            "cv_aucs": aucs,
        },
    )
    return fit_evaluate_export(
        Rows(rows.x[train_index], rows.y[train_index]),
        Rows(rows.x[validation_index], rows.y[validation_index]),
        Rows(rows.x[test_index], rows.y[test_index]),
        spec,
        Path(out_dir),
        settings,
    )
