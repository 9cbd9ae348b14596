"""Training: LightGBM with credit-sense monotone constraints and early stopping, Platt
calibration on the validation set, a logistic-regression scorecard baseline on the same
split, grade cut-offs from the training score distribution, then the bundle and the report.

Entry points: :func:`train_from_simulation` and :func:`train_from_csv`
(:mod:`training.tabular`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from riskmodel.drift import sample_stability, training_distribution
from riskmodel.manifest import (
    DRIFT_SCORE,
    BundleManifest,
    ColumnEncoding,
    GoldenRows,
    GradeCutoffs,
    LimitPolicy,
    PlattCalibration,
    ReasonCodeSpec,
    ReasonText,
    ScoreScaling,
    ThinFilePolicy,
)
from riskmodel.reasons import explain
from riskmodel.scaling import calibrate, grade_of, score_from_probability
from schemas.features import FEATURE_SCHEMA
from schemas.scores import Grade, RiskLevel
from simulator import simulate
from training.bundle import (
    check_parity,
    convert_to_onnx,
    golden_inputs,
    model_version,
    onnx_predict,
    onnx_session,
    snap_thresholds_to_float32,
    write_bundle,
)
from training.catalogue import monotone_constraints, reason_texts
from training.dataset import build_dataset, split_by_time
from training.errors import TrainingError
from training.evaluation import (
    bad_rate_rises,
    binary_metrics,
    calibration_curve,
    decision_quality,
    grade_table,
    reason_agreement,
)
from training.reason_table import build_reason_table
from training.report import ReportCurves, write_report

Floats = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]

GRADE_SHARES: dict[Grade, float] = {"S": 0.10, "A": 0.20, "B": 0.35, "C": 0.20, "D": 0.15}
"""Target share of the training population in each grade; cut-offs are its score quantiles."""

DEFAULT_LIMITS: dict[Grade, float] = {"S": 20_000, "A": 10_000, "B": 5_000, "C": 1_000, "D": 0}
RISK_LEVELS: dict[RiskLevel, list[Grade]] = {
    "green": ["S", "A", "B"],
    "yellow": ["C"],
    "red": ["D"],
}
NEWCOMER_DAYS = 30.0
"""Training rows of customers younger than this set the thin-file policy."""
DRIFT_FEATURES = 5
"""The most important features (by gain) whose training distribution the bundle keeps as
the drift baseline, beside the score's."""


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """LightGBM settings. Shallow trees keep the reason-code walk fast; at most
    ``n_estimators`` rounds, stopped early when validation log-loss stalls."""

    learning_rate: float = 0.03
    num_leaves: int = 15
    max_depth: int = 5
    min_child_samples: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    n_estimators: int = 800
    early_stopping_rounds: int = 60
    seed: int = 0
    threads: int = 2

    def lightgbm_params(self, monotone: Sequence[int]) -> dict[str, Any]:
        return {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "monotone_constraints": list(monotone),
            "monotone_constraints_method": "advanced",
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.threads,
            "verbose": -1,
        }


@dataclass(frozen=True, slots=True)
class Rows:
    """A model matrix (float32 values held as float64, NaN undefined) and its labels."""

    x: Floats
    y: Labels


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a bundle is about, beside its data."""

    feature_names: tuple[str, ...]
    feature_schema_version: int
    feature_schema_fingerprint: str | None
    monotone: tuple[int, ...]
    reasons: dict[str, ReasonText]
    source: str
    target: str
    preprocessing: list[ColumnEncoding] | None = None
    newcomer_feature: str | None = None
    extra_metrics: dict[str, Any] = field(default_factory=dict)
    """Reported with the test metrics; ``cv_auc_mean`` here becomes the headline AUC."""


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What training wrote into ``out_dir``: the bundle (manifest here) and the report."""

    out_dir: Path
    manifest: BundleManifest
    report: dict[str, Any]

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.report["metrics"])


def train_from_simulation(
    customers: int,
    days: int,
    seed: int,
    out_dir: str | Path,
    *,
    start: datetime | None = None,
    horizon_days: int = 90,
    every_days: int = 15,
    config: TrainingConfig | None = None,
) -> TrainResult:
    """Simulates customers, builds point-in-time rows, splits them by observation date and
    trains, evaluates and exports a bundle into ``out_dir``. ``start`` defaults to ``days``
    days before today (UTC midnight)."""
    began = time.perf_counter()
    if start is None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=days)
    simulation = simulate(customers, days, seed, start)
    simulated = time.perf_counter()
    dataset = build_dataset(simulation, horizon_days=horizon_days, every_days=every_days)
    built = time.perf_counter()
    split = split_by_time(dataset)
    spec = ModelSpec(
        feature_names=dataset.feature_names,
        feature_schema_version=FEATURE_SCHEMA.version,
        feature_schema_fingerprint=FEATURE_SCHEMA.fingerprint(),
        monotone=tuple(monotone_constraints(dataset.feature_names)),
        reasons=reason_texts(dataset.feature_names),
        source=(
            f"Simulation of {customers} customers over {days} days (seed {seed}); rows every "
            f"{every_days} days, split by observation date: train {len(split.train)}, "
            f"validation {len(split.validation)}, test {len(split.test)}"
        ),
        target=f"bad outcome within {horizon_days} days",
        newcomer_feature="days_since_first_event",
        extra_metrics={
            "simulation_seconds": simulated - began,
            "dataset_seconds": built - simulated,
            "events": float(len(simulation.events)),
        },
    )
    return fit_evaluate_export(
        Rows(split.train.x, split.train.y),
        Rows(split.validation.x, split.validation.y),
        Rows(split.test.x, split.test.y),
        spec,
        Path(out_dir),
        config or TrainingConfig(seed=seed),
    )


def fit_lightgbm(
    train: Rows, validation: Rows, monotone: Sequence[int], config: TrainingConfig
) -> lgb.Booster:
    """LightGBM with early stopping on the validation log-loss."""
    params = config.lightgbm_params(monotone)
    train_set = lgb.Dataset(train.x, label=train.y, params={"verbose": -1})
    validation_set = lgb.Dataset(validation.x, label=validation.y, reference=train_set)
    return lgb.train(
        params,
        train_set,
        num_boost_round=config.n_estimators,
        valid_sets=[validation_set],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )


def fit_platt(probability: Floats, y: Labels) -> PlattCalibration:
    """Platt scaling on the logit of the model's probability; raises TrainingError if the
    fitted slope is not positive (the model ranks worse than chance on validation)."""
    p = np.clip(probability, 1e-9, 1 - 1e-9)
    logit = np.log(p / (1 - p)).reshape(-1, 1)
    fitted = LogisticRegression(C=1e6, max_iter=1000).fit(logit, y)
    a, b = float(fitted.coef_[0][0]), float(fitted.intercept_[0])
    if a <= 0:
        raise TrainingError(f"calibration slope {a:.3g} is not positive")
    return PlattCalibration(a=a, b=b)


def _signed_log(x: Floats) -> Floats:
    return np.sign(x) * np.log1p(np.abs(x))


def fit_scorecard(train: Rows, seed: int) -> Pipeline:
    """The baseline: logistic regression on signed-log, median-imputed, standardized
    features with a missing-value indicator per feature that has gaps."""
    pipeline = make_pipeline(
        FunctionTransformer(_signed_log),
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=0.5, max_iter=2000, random_state=seed),
    )
    return pipeline.fit(train.x, train.y)


def grade_cutoffs(train_scores: Floats) -> GradeCutoffs:
    """Cut-offs that put about :data:`GRADE_SHARES` of the training scores in each grade,
    forced strictly descending."""
    below = np.cumsum([GRADE_SHARES[g] for g in ("D", "C", "B", "A")])
    c, b, a, s = (int(np.ceil(np.quantile(train_scores, q))) for q in below)
    b = max(b, c + 1)
    a = max(a, b + 1)
    s = max(s, a + 1)
    return GradeCutoffs(S=s, A=a, B=b, C=c)


def fingerprint(*rows: Rows, names: Sequence[str]) -> str:
    """sha256 of the feature names and every matrix and label array, in order."""
    digest = hashlib.sha256("\x1f".join(names).encode())
    for part in rows:
        digest.update(np.ascontiguousarray(part.x).tobytes())
        digest.update(np.ascontiguousarray(part.y).tobytes())
    return "sha256:" + digest.hexdigest()


def _per_call_microseconds(call: Any, rows: Floats, limit: int = 300, repeats: int = 3) -> float:
    """Best of ``repeats`` passes over up to ``limit`` rows, one call per row (the best pass
    is the least disturbed by other work on a shared machine)."""
    sample = rows[:limit]
    best = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        for row in sample:
            call(row)
        best = min(best, (time.perf_counter() - began) / max(len(sample), 1) * 1e6)
    return best


def thin_file_policy(
    spec: ModelSpec,
    train: Rows,
    train_pd: Floats,
    scaling: ScoreScaling,
    cutoffs: GradeCutoffs,
    limits: LimitPolicy,
) -> ThinFilePolicy | None:
    """The answer for never-seen customers: the mean calibrated PD of training rows younger
    than :data:`NEWCOMER_DAYS`, graded no better than B. None without a newcomer feature."""
    if spec.newcomer_feature is None:
        return None
    ages = train.x[:, spec.feature_names.index(spec.newcomer_feature)]
    newcomers = ages < NEWCOMER_DAYS
    if not newcomers.any():
        return None
    probability = float(train_pd[newcomers].mean())
    grade = grade_of(score_from_probability(probability, scaling), cutoffs)
    # A customer never seen earns at best a standard grade, whatever newcomers average.
    grade = "B" if grade in ("S", "A") else grade
    return ThinFilePolicy(
        probability_of_default=probability,
        grade=grade,
        credit_limit=limits.by_grade[grade],
    )


def fit_evaluate_export(
    train: Rows,
    validation: Rows,
    test: Rows,
    spec: ModelSpec,
    out_dir: Path,
    config: TrainingConfig,
) -> TrainResult:
    """Trains, calibrates, evaluates against the baseline, exports the bundle (failing on
    any parity breach) and writes the report; returns what was written."""
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        if len(np.unique(part.y)) < 2:
            raise TrainingError(f"the {name} set needs both good and bad rows")
    fitted_at = time.perf_counter()
    booster = snap_thresholds_to_float32(fit_lightgbm(train, validation, spec.monotone, config))
    calibration = fit_platt(booster.predict(validation.x), validation.y)
    training_seconds = time.perf_counter() - fitted_at

    def calibrated(x: Floats) -> Floats:
        return np.asarray([calibrate(float(p), calibration) for p in booster.predict(x)])

    train_pd, test_pd = calibrated(train.x), calibrated(test.x)
    scaling = ScoreScaling()
    train_scores = np.asarray([score_from_probability(p, scaling) for p in train_pd], dtype=float)
    test_scores = np.asarray([score_from_probability(p, scaling) for p in test_pd], dtype=float)
    cutoffs = grade_cutoffs(train_scores)
    test_grades = [grade_of(int(s), cutoffs) for s in test_scores]
    train_grades = [grade_of(int(s), cutoffs) for s in train_scores]
    limit_policy = LimitPolicy(currency="CNY", by_grade=DEFAULT_LIMITS)

    scorecard = fit_scorecard(train, config.seed)
    baseline_pd = scorecard.predict_proba(test.x)[:, 1]

    model = convert_to_onnx(booster, len(spec.feature_names))
    table = build_reason_table(booster)
    parity = check_parity(booster, model, table, test.x)
    n_features = len(spec.feature_names)
    exact = booster.predict(test.x, pred_contrib=True)[:, :n_features]
    agreement = reason_agreement(table.contributions_of(test.x), exact, k=3)
    reason_spec = ReasonCodeSpec(features=spec.reasons)
    session = onnx_session(model)
    serving = {
        **parity,
        "reasons_us_per_row": _per_call_microseconds(
            lambda row: explain(row, table, spec.feature_names, reason_spec), test.x
        ),
        "onnx_us_per_row": _per_call_microseconds(
            lambda row: onnx_predict(session, row.reshape(1, -1)), test.x
        ),
        "trees": float(booster.num_trees()),
        "tree_depth": float(table.depth),
    }

    metrics = {
        **binary_metrics(test.y, test_pd),
        **spec.extra_metrics,
        "boosting_rounds": float(booster.num_trees()),
        "training_seconds": training_seconds,
    }
    if "cv_auc_mean" in spec.extra_metrics:
        # A CSV model's headline AUC is the cross-validated mean; the split's test AUC stays.
        metrics["test_auc"] = metrics["auc"]
        metrics["auc"] = spec.extra_metrics["cv_auc_mean"]
    baseline_metrics = binary_metrics(test.y, baseline_pd)
    gains = booster.feature_importance(importance_type="gain")
    importance = sorted(
        (
            {"feature": name, "gain": float(gain)}
            for name, gain in zip(spec.feature_names, gains, strict=True)
        ),
        key=lambda item: -item["gain"],
    )
    psi = {"score": sample_stability(train_scores, test_scores)}
    distributions = [training_distribution(DRIFT_SCORE, train_scores)]
    for item in importance[:DRIFT_FEATURES]:
        column = spec.feature_names.index(item["feature"])
        psi[item["feature"]] = sample_stability(train.x[:, column], test.x[:, column])
        distributions.append(training_distribution(item["feature"], train.x[:, column]))
    test_table = grade_table(test.y, test_grades, test_scores)

    created_at = datetime.now(UTC).replace(microsecond=0)
    version = model_version(created_at.strftime("%Y%m%d"), model)
    manifest = BundleManifest(
        model_version=version,
        created_at=created_at,
        feature_schema_version=spec.feature_schema_version,
        feature_schema_fingerprint=spec.feature_schema_fingerprint,
        feature_names=list(spec.feature_names),
        preprocessing=spec.preprocessing,
        data_fingerprint=fingerprint(train, validation, test, names=spec.feature_names),
        target=spec.target,
        metrics={
            "auc": metrics["auc"],
            "ks": metrics["ks"],
            "gini": metrics["gini"],
            "pr_auc": metrics["pr_auc"],
            "brier": metrics["brier"],
            "baseline_auc": baseline_metrics["auc"],
            **{k: v for k, v in metrics.items() if k.startswith("cv_") or k == "test_auc"},
        },
        calibration=calibration,
        risk_levels=RISK_LEVELS,
        reason_codes=reason_spec,
        golden_rows=_golden(session, test.x),
        thin_file=thin_file_policy(spec, train, train_pd, scaling, cutoffs, limit_policy),
        score_scaling=scaling,
        grade_cutoffs=cutoffs,
        limit_policy=limit_policy,
        training_distributions=distributions,
    )
    write_bundle(out_dir, model, table, manifest)

    report: dict[str, Any] = {
        "model_version": version,
        "created_at": created_at.isoformat(),
        "source": spec.source,
        "target": spec.target,
        "metrics": metrics,
        "baseline": {"model": "logistic regression scorecard", "metrics": baseline_metrics},
        "lightgbm_beats_baseline": metrics["auc"] > baseline_metrics["auc"],
        "calibration": calibration.model_dump(),
        "calibration_curve": calibration_curve(test.y, test_pd),
        "grade_cutoffs": cutoffs.model_dump(),
        "grades": {
            "train": grade_table(train.y, train_grades, train_scores),
            "test": test_table,
            "bad_rate_rises": bad_rate_rises(test_table),
        },
        "decision_quality": decision_quality(test.y, test_grades),
        "feature_importance_gain": importance,
        "psi_train_vs_test": psi,
        "reason_agreement": agreement,
        "serving": serving,
        "rows": {"train": len(train.y), "validation": len(validation.y), "test": len(test.y)},
    }
    write_report(
        out_dir,
        report,
        ReportCurves(test.y, test_pd, baseline_pd, test_scores, test_grades),
    )
    return TrainResult(out_dir=out_dir, manifest=manifest, report=report)


def _golden(session: Any, x: Floats) -> GoldenRows:
    inputs = golden_inputs(x)
    rows = np.asarray([[np.nan if v is None else v for v in row] for row in inputs])
    return GoldenRows(inputs=inputs, outputs=onnx_predict(session, rows).tolist())
