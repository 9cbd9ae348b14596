"""Training from any tabular CSV: numeric and categorical columns, one binary target.

- **Encoding.** A categorical column becomes the smoothed weight of evidence of its category
  (:func:`fit_encodings`), fitted on the rows a model is trained on and nothing else; the
  table travels in the manifest's ``preprocessing``, so the scorer encodes a raw record
  exactly as training did and an unseen category scores as "no evidence" (0).
- **Small-data settings.** LightGBM's leaves, leaf size, regularisation, column sampling and
  the number of rounds are chosen by a budgeted optuna search scored by an inner
  cross-validation on the training rows only; the test fold never chooses anything.
- **Honest comparison.** ``metrics.auc`` is the mean over stratified outer folds of that
  whole procedure (nested cross-validation). On the same folds, with the same columns, the
  report gives a one-hot logistic regression (regularisation chosen by inner CV) and the WoE
  scorecard. The bundle itself is trained on a stratified 60/20/20 split and evaluated like
  a simulation bundle.
- **Fairness guard.** Protected columns are left out unless ``keep_protected`` names them;
  either way their groups are compared in the report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import optuna
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from riskmodel.manifest import ColumnEncoding, ScoreScaling
from riskmodel.preprocessing import encode_record
from training.catalogue import reason_texts
from training.dataset import as_model_matrix
from training.errors import TrainingError
from training.fairness import group_labels, guard
from training.scorecard import fit_woe_scorecard
from training.train import (
    ModelSpec,
    Rows,
    TrainingConfig,
    TrainResult,
    fit_evaluate_export,
)

TABULAR_SCHEMA_VERSION = 0
"""Feature schema version of a CSV bundle: its inputs are raw columns, not riskstream
features, so the registry never pairs it with the feature service."""
WOE_PSEUDO_ROWS = 2.0
"""Smoothing: every category counts this many extra rows at the overall bad rate, so a rare
category's weight of evidence stays near 0."""
INNER_FOLDS = 3
MAX_DEPTH = 4
"""Tuned trees stay this shallow: small data gains nothing deeper, and the exact TreeSHAP
table grows with 2**depth per leaf."""
DEFAULT_TRIALS = 15


@dataclass(frozen=True, slots=True)
class Table:
    """A CSV's feature columns (strings for categorical ones), labels and column kinds."""

    frame: pd.DataFrame
    y: npt.NDArray[np.int64]
    categorical: tuple[str, ...]

    def rows(self, index: npt.NDArray[np.intp]) -> Table:
        return Table(self.frame.iloc[index].reset_index(drop=True), self.y[index], self.categorical)


def read_table(csv_path: str | Path, target: str, bad_value: str) -> Table:
    """Reads the CSV and labels rows whose ``target`` equals ``bad_value`` (as text) bad.
    Numeric columns stay numbers; every other column is categorical text. Raises
    TrainingError for a missing target or a target with a single class."""
    frame = pd.read_csv(csv_path)
    if target not in frame.columns:
        raise TrainingError(f"target column {target!r} is not in {csv_path}")
    y = (frame[target].astype(str) == str(bad_value)).to_numpy(dtype=np.int64)
    if y.min() == y.max():
        raise TrainingError(f"target {target!r} = {bad_value!r} leaves a single class")
    features = frame.drop(columns=[target])
    features.columns = [str(c) for c in features.columns]
    categorical = []
    for name in features.columns:
        column = features[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            categorical.append(name)
            features[name] = column.map(lambda v: None if pd.isna(v) else str(v))
    return Table(features, y, tuple(categorical))


def fit_encodings(table: Table, columns: Sequence[str]) -> list[ColumnEncoding]:
    """Encodings of ``columns`` fitted on ``table``'s rows: numeric as is; categorical as
    the smoothed weight of evidence ``ln((good_c + m g) / (bad_c + m b)) - ln(G / B)`` of
    each category seen (``m`` = :data:`WOE_PSEUDO_ROWS`, ``g``/``b`` the overall good and
    bad shares), with missing values a category of their own and unseen ones 0."""
    bad_total = float(table.y.sum())
    good_total = float(len(table.y)) - bad_total
    share_bad = bad_total / len(table.y)
    baseline = math.log(good_total / bad_total)

    def woe(bad: float, count: float) -> float:
        good = count - bad
        smoothed_good = good + WOE_PSEUDO_ROWS * (1.0 - share_bad)
        smoothed_bad = bad + WOE_PSEUDO_ROWS * share_bad
        return math.log(smoothed_good / smoothed_bad) - baseline

    encodings = []
    for name in columns:
        if name not in table.categorical:
            encodings.append(ColumnEncoding(name=name, kind="numeric"))
            continue
        values = table.frame[name]
        present = values.notna() & (values != "")
        categories = sorted({str(v) for v in values[present]})
        weights = [
            woe(float(table.y[(values == c).to_numpy()].sum()), float((values == c).sum()))
            for c in categories
        ]
        missing = (~present).to_numpy()
        encodings.append(
            ColumnEncoding(
                name=name,
                kind="woe",
                categories=categories,
                values=weights,
                missing_value=woe(float(table.y[missing].sum()), float(missing.sum()))
                if missing.any()
                else 0.0,
            )
        )
    return encodings


def encode(table: Table, encodings: Sequence[ColumnEncoding]) -> npt.NDArray[np.float64]:
    """``table``'s rows as model rows, through the scorer's own encoding function."""
    records = table.frame.to_dict(orient="records")
    return as_model_matrix([encode_record(record, encodings) for record in records])


def _booster_params(config: TrainingConfig, tuned: dict[str, Any]) -> dict[str, Any]:
    params = config.lightgbm_params([0])
    params.pop("monotone_constraints")
    params.pop("monotone_constraints_method")
    params.update(tuned)
    params["max_depth"] = MAX_DEPTH
    return params


def _fit_rounds(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.int64], params: dict[str, Any], rounds: int
) -> lgb.Booster:
    return lgb.train(params, lgb.Dataset(x, label=y, params={"verbose": -1}), rounds)


def tune(
    table: Table, columns: Sequence[str], config: TrainingConfig, trials: int
) -> dict[str, Any]:
    """A budgeted optuna search (``trials`` TPE trials, seeded) for LightGBM's leaves, leaf
    size, L2, column sampling and rounds, each trial scored by the mean AUC of an inner
    stratified cross-validation on ``table`` alone, encodings refitted inside every inner
    fold; returns the best parameters with ``rounds`` (the trial's mean best iteration)."""
    splitter = StratifiedKFold(n_splits=INNER_FOLDS, shuffle=True, random_state=config.seed)
    folds = []
    for fit_index, check_index in splitter.split(table.frame, table.y):
        fit, check = table.rows(fit_index), table.rows(check_index)
        encodings = fit_encodings(fit, columns)
        folds.append((encode(fit, encodings), fit.y, encode(check, encodings), check.y))

    def objective(trial: optuna.Trial) -> float:
        tuned = {
            "num_leaves": trial.suggest_int("num_leaves", 3, 15),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 60, log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        }
        params = _booster_params(config, tuned)
        aucs, rounds = [], []
        for x_fit, y_fit, x_check, y_check in folds:
            booster = lgb.train(
                params,
                lgb.Dataset(x_fit, label=y_fit, params={"verbose": -1}),
                num_boost_round=config.n_estimators,
                valid_sets=[lgb.Dataset(x_check, label=y_check)],
                callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
            )
            aucs.append(roc_auc_score(y_check, booster.predict(x_check)))
            rounds.append(booster.best_iteration or booster.current_iteration())
        trial.set_user_attr("rounds", int(np.mean(rounds)))
        return float(np.mean(aucs))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed)
    )
    study.optimize(objective, n_trials=trials)
    return {**study.best_params, "rounds": max(1, int(study.best_trial.user_attrs["rounds"]))}


def one_hot_logistic(table: Table, columns: Sequence[str]) -> Any:
    """One-hot logistic regression (unseen categories ignored; numbers median-imputed with
    a missing indicator and standardised), its regularisation chosen by inner CV."""
    categorical = [c for c in columns if c in table.categorical]
    numeric = [c for c in columns if c not in table.categorical]
    features = ColumnTransformer(
        [
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
            (
                "numbers",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                numeric,
            ),
        ]
    )
    model = make_pipeline(
        features,
        LogisticRegressionCV(
            Cs=10,
            cv=INNER_FOLDS,
            scoring="roc_auc",
            max_iter=2000,
            l1_ratios=(0.0,),
            use_legacy_attributes=False,
        ),
    )
    frame = table.frame[list(columns)].astype(object).where(table.frame[list(columns)].notna())
    return model.fit(frame, table.y)


def cross_validate(
    table: Table, columns: Sequence[str], folds: int, config: TrainingConfig, trials: int
) -> dict[str, Any]:
    """Every model on the same stratified outer folds: LightGBM tuned inside each fold
    (nested), the one-hot logistic regression and the WoE scorecard."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    aucs: dict[str, list[float]] = {"LightGBM": [], "WoE scorecard": [], "logistic (one-hot)": []}
    chosen = []
    for train_index, test_index in splitter.split(table.frame, table.y):
        train, test = table.rows(train_index), table.rows(test_index)
        tuned = tune(train, columns, config, trials)
        chosen.append(tuned)
        encodings = fit_encodings(train, columns)
        x_train, x_test = encode(train, encodings), encode(test, encodings)
        params = _booster_params(config, {k: v for k, v in tuned.items() if k != "rounds"})
        booster = _fit_rounds(x_train, train.y, params, tuned["rounds"])
        aucs["LightGBM"].append(float(roc_auc_score(test.y, booster.predict(x_test))))
        scorecard = fit_woe_scorecard(x_train, train.y, list(columns), ScoreScaling())
        aucs["WoE scorecard"].append(float(roc_auc_score(test.y, scorecard.predict_proba(x_test))))
        logistic = one_hot_logistic(train, columns)
        test_frame = (
            test.frame[list(columns)].astype(object).where(test.frame[list(columns)].notna())
        )
        aucs["logistic (one-hot)"].append(
            float(roc_auc_score(test.y, logistic.predict_proba(test_frame)[:, 1]))
        )
    return {
        "folds": folds,
        "protocol": (
            f"Stratified {folds}-fold cross-validation (seed {config.seed}); inside each "
            f"training part, encodings are fitted and LightGBM is tuned by {trials} optuna "
            f"trials scored by {INNER_FOLDS}-fold inner cross-validation; the logistic "
            f"regression's C is chosen by {INNER_FOLDS}-fold inner cross-validation; no test "
            "fold chooses anything."
        ),
        "models": {
            name: {"mean": float(np.mean(v)), "std": float(np.std(v)), "aucs": v}
            for name, v in aucs.items()
        },
        "lightgbm_parameters_by_fold": chosen,
    }


def train_from_csv(
    csv_path: str | Path,
    target: str,
    bad_value: str,
    out_dir: str | Path,
    folds: int = 5,
    *,
    config: TrainingConfig | None = None,
    keep_protected: Sequence[str] = (),
    trials: int = DEFAULT_TRIALS,
) -> TrainResult:
    """Cross-validates, then trains, evaluates and exports a bundle into ``out_dir``.

    ``report.json``'s ``metrics.auc`` is the nested cross-validated mean (``metrics.test_auc``
    the held-out test AUC of the exported model); ``cv_auc_std`` and ``cv_aucs`` give the
    spread and ``cross_validation`` the baselines on the same folds.
    """
    settings = config or TrainingConfig()
    if folds < 2:
        raise TrainingError("cross-validation needs at least two folds")
    table = read_table(csv_path, target, bad_value)
    excluded, kept = guard(list(table.frame.columns), keep_protected)
    dropped = {p.name for p in excluded}
    columns = [c for c in table.frame.columns if c not in dropped]
    if not columns:
        raise TrainingError("no column is left once protected columns are excluded")
    protected = [*excluded, *kept]
    cv = cross_validate(table, columns, folds, settings, trials)
    lightgbm_cv = cv["models"]["LightGBM"]

    index = np.arange(len(table.y))
    rest, test_index = train_test_split(
        index, test_size=0.2, stratify=table.y, random_state=settings.seed
    )
    train_index, validation_index = train_test_split(
        rest, test_size=0.25, stratify=table.y[rest], random_state=settings.seed
    )
    train = table.rows(train_index)
    tuned = tune(train, columns, settings, trials)
    encodings = fit_encodings(train, columns)
    final = replace(
        settings,
        num_leaves=int(tuned["num_leaves"]),
        max_depth=MAX_DEPTH,
        min_child_samples=int(tuned["min_child_samples"]),
        lambda_l2=float(tuned["lambda_l2"]),
        feature_fraction=float(tuned["feature_fraction"]),
    )

    def rows(part: npt.NDArray[np.intp]) -> Rows:
        subset = table.rows(part)
        groups = {p.name: group_labels(subset.frame[p.name].tolist()) for p in protected}
        return Rows(encode(subset, encodings), subset.y, groups or None)

    names = tuple(columns)
    texts = reason_texts(names)
    for encoding in encodings:
        if encoding.kind == "woe":
            # The model sees the category's weight of evidence, not the category.
            texts[encoding.name] = texts[encoding.name].model_copy(
                update={"template": f"{encoding.name}: its category weighs {{value:+.2f}}"}
            )
    spec = ModelSpec(
        feature_names=names,
        feature_schema_version=TABULAR_SCHEMA_VERSION,
        feature_schema_fingerprint=None,
        monotone=(0,) * len(names),
        reasons=texts,
        source=(
            f"CSV {Path(csv_path).name}: {len(table.y)} rows, {len(names)} input columns "
            f"({len(table.categorical) - len(dropped & set(table.categorical))} categorical), "
            f"{folds}-fold nested cross-validation, then a stratified 60/20/20 split"
        ),
        target=f"{target} == {bad_value}",
        preprocessing=encodings,
        extra_metrics={
            "cv_auc_mean": lightgbm_cv["mean"],
            "cv_auc_std": lightgbm_cv["std"],
            "cv_folds": float(folds),
            "cv_aucs": lightgbm_cv["aucs"],
        },
        excluded=excluded,
        kept=kept,
        extra_report={"cross_validation": cv, "lightgbm_parameters": tuned},
    )
    return fit_evaluate_export(
        rows(train_index),
        rows(validation_index),
        rows(test_index),
        spec,
        Path(out_dir),
        final,
    )
