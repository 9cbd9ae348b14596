"""Training: LightGBM with credit-sense monotone constraints and early stopping, Platt
calibration on the validation set, the WoE scorecard and a logistic regression as baselines
on the same split, points-to-double-the-odds scaling with grade cut-offs from target bad
rates, the fairness guard, then the bundle and the report.

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
from sklearn.linear_model import LogisticRegression

from riskmodel.drift import sample_stability, training_distribution
from riskmodel.manifest import (
    DRIFT_SCORE,
    BundleManifest,
    ColumnEncoding,
    FairnessRecord,
    GoldenRows,
    GradeCutoffs,
    LimitPolicy,
    PlattCalibration,
    ProtectedColumn,
    ReasonCodeSpec,
    ReasonText,
    ScoreScaling,
    ThinFilePolicy,
)
from riskmodel.reasons import explain
from riskmodel.scaling import calibrate, grade_of, score_from_probability
from schemas.features import FEATURE_SCHEMA
from schemas.scores import GRADES, Grade, RiskLevel
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
from training.fairness import group_report, guard
from training.reason_table import build_reason_table
from training.report import ReportCurves, write_report
from training.scorecard import fit_logistic, fit_woe_scorecard

Floats = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]

GRADE_MAX_PD: dict[Grade, float] = {"S": 0.02, "A": 0.05, "B": 0.10, "C": 0.25}
"""Target bad rate (90-day probability of default) each grade may reach at most; D is
everything above C's. The cut-offs are the scores of these probabilities."""
APPROVED_GRADES: list[Grade] = ["S", "A", "B"]
"""Grades approved on credit without review: the approval rate the fairness report uses."""

DEFAULT_LIMITS: dict[Grade, float] = {"S": 20_000, "A": 10_000, "B": 5_000, "C": 1_000, "D": 0}
RISK_LEVELS: dict[RiskLevel, list[Grade]] = {
    "green": ["S", "A", "B"],
    "yellow": ["C"],
    "red": ["D"],
}
NEWCOMER_DAYS = 30.0
"""Training rows of customers younger than this set the thin-file policy."""
NEVER_SEEN_BEST_GRADE: Grade = "C"
"""The best grade of a customer never seen, when the model reads onboarding data."""
DRIFT_FEATURES = 5
"""The most important features (by gain) whose training distribution the bundle keeps as
the drift baseline, beside the score's."""


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """LightGBM settings. Shallow trees keep the reason-code walk fast; at most
    ``n_estimators`` rounds, stopped early when validation log-loss stalls."""

    learning_rate: float = 0.05
    num_leaves: int = 7
    max_depth: int = 3
    min_child_samples: int = 30
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    n_estimators: int = 800
    early_stopping_rounds: int = 60
    seed: int = 0
    threads: int = 1
    """One thread: the models are small, and on a busy two-core machine LightGBM's OpenMP
    threads spin against other processes (a tenfold slowdown measured with two)."""

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
    """A model matrix (float32 values held as float64, NaN undefined), its labels and, when
    the data has protected columns, each row's group under each of them (never a model
    input: the fairness report's groups)."""

    x: Floats
    y: Labels
    groups: dict[str, list[str]] | None = None

    def take(self, index: npt.NDArray[np.intp]) -> Rows:
        """The rows at ``index``."""
        groups = None
        if self.groups is not None:
            groups = {k: [v[i] for i in index] for k, v in self.groups.items()}
        return Rows(self.x[index], self.y[index], groups)


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
    excluded: list[ProtectedColumn] = field(default_factory=list)
    """Protected inputs the model may not use: they are blanked (all missing) in training."""
    kept: list[ProtectedColumn] = field(default_factory=list)
    extra_report: dict[str, Any] = field(default_factory=dict)
    """Sections added to report.json as they are (the CSV path's cross-validation)."""


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
    keep_protected: Sequence[str] = (),
) -> TrainResult:
    """Simulates customers, builds point-in-time rows, splits them by observation date and
    trains, evaluates and exports a bundle into ``out_dir``. ``start`` defaults to ``days``
    days before today (UTC midnight). Features that are protected attributes
    (:mod:`training.fairness`) are left out unless ``keep_protected`` names them."""
    began = time.perf_counter()
    if start is None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=days)
    simulation = simulate(customers, days, seed, start)
    simulated = time.perf_counter()
    dataset = build_dataset(simulation, horizon_days=horizon_days, every_days=every_days)
    built = time.perf_counter()
    split = split_by_time(dataset)
    excluded, kept = guard(dataset.feature_names, keep_protected)
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
        excluded=excluded,
        kept=kept,
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


def grade_cutoffs(scaling: ScoreScaling, max_pd: dict[Grade, float] | None = None) -> GradeCutoffs:
    """Cut-offs from target bad rates: grade G starts at the score of its maximum
    probability of default (:data:`GRADE_MAX_PD` by default) under ``scaling``, so the
    cut-offs fall from S to C whenever the targets rise."""
    targets = dict(max_pd or GRADE_MAX_PD)
    scores = {g: score_from_probability(targets[g], scaling) for g in ("S", "A", "B", "C")}
    return GradeCutoffs(**scores, max_probability_of_default=targets)


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


def _column(rows: Rows, names: Sequence[str], name: str) -> Floats | None:
    return rows.x[:, names.index(name)] if name in names else None


def thin_file_policy(
    spec: ModelSpec,
    train: Rows,
    train_pd: Floats,
    scaling: ScoreScaling,
    cutoffs: GradeCutoffs,
    limits: LimitPolicy,
) -> ThinFilePolicy | None:
    """The answer for never-seen customers: the mean calibrated PD of the *anonymous*
    newcomers in training (younger than :data:`NEWCOMER_DAYS` as customers, or registered
    that recently without any behaviour yet; no identity check passed and no bureau
    report), graded no better than B. A customer the platform knows nothing about is
    treated like the least-known newcomers, not like the average one. Without onboarding
    features every newcomer counts. None without a newcomer feature."""
    if spec.newcomer_feature is None:
        return None
    names = spec.feature_names
    ages = train.x[:, names.index(spec.newcomer_feature)]
    newcomers = ages < NEWCOMER_DAYS
    registered = _column(train, names, "days_since_registration")
    if registered is not None:
        newcomers |= np.isnan(ages) & (registered < NEWCOMER_DAYS)
    anonymous = newcomers.copy()
    verified = _column(train, names, "verified_kinds_count")
    bureau = _column(train, names, "bureau_score_normalised")
    if verified is not None and bureau is not None:
        anonymous &= (verified == 0) & np.isnan(bureau)
    chosen = anonymous if anonymous.any() else newcomers
    if not chosen.any():
        return None
    probability = float(train_pd[chosen].mean())
    grade = grade_of(score_from_probability(probability, scaling), cutoffs)
    # A customer never seen earns at best a standard grade, whatever newcomers average.
    # Where the model reads onboarding data, at best C: what lifts a newcomer to standard
    # credit before any history is what they showed at onboarding.
    best: Grade = NEVER_SEEN_BEST_GRADE if registered is not None else "B"
    if GRADES.index(grade) < GRADES.index(best):
        grade = best
    return ThinFilePolicy(
        probability_of_default=probability,
        grade=grade,
        credit_limit=limits.by_grade[grade],
    )


def _blank(rows: Rows, columns: Sequence[int]) -> Rows:
    """``rows`` with ``columns`` all missing: a model trained on them cannot split on them."""
    if not columns:
        return rows
    x = rows.x.copy()
    x[:, list(columns)] = np.nan
    return Rows(x, rows.y, rows.groups)


def fit_evaluate_export(
    train: Rows,
    validation: Rows,
    test: Rows,
    spec: ModelSpec,
    out_dir: Path,
    config: TrainingConfig,
) -> TrainResult:
    """Trains, calibrates, evaluates against the baselines, exports the bundle (failing on
    any parity breach) and writes the report; returns what was written."""
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        if len(np.unique(part.y)) < 2:
            raise TrainingError(f"the {name} set needs both good and bad rows")
    blanked = [
        spec.feature_names.index(p.name) for p in spec.excluded if p.name in spec.feature_names
    ]
    train, validation, test = (_blank(part, blanked) for part in (train, validation, test))
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
    cutoffs = grade_cutoffs(scaling)
    test_grades = [grade_of(int(s), cutoffs) for s in test_scores]
    train_grades = [grade_of(int(s), cutoffs) for s in train_scores]
    limit_policy = LimitPolicy(currency="CNY", by_grade=DEFAULT_LIMITS)

    used = [i for i in range(len(spec.feature_names)) if i not in blanked]
    used_names = [spec.feature_names[i] for i in used]
    baselines_at = time.perf_counter()
    scorecard = fit_woe_scorecard(train.x[:, used], train.y, used_names, scaling)
    scorecard_pd = scorecard.predict_proba(test.x[:, used])
    logistic = fit_logistic(train.x[:, used], train.y, config.seed)
    logistic_pd = logistic.predict_proba(test.x[:, used])[:, 1]
    baseline_seconds = time.perf_counter() - baselines_at

    model = convert_to_onnx(booster, len(spec.feature_names))
    table = build_reason_table(booster)
    parity = check_parity(booster, model, table, test.x)
    n_features = len(spec.feature_names)
    exact = booster.predict(test.x, pred_contrib=True)[:, :n_features]
    served = table.contributions_of(test.x)
    agreement = {
        **reason_agreement(served, exact, k=3),
        "max_abs_diff_vs_treeshap": float(np.max(np.abs(served - exact))),
    }
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
        "baseline_seconds": baseline_seconds,
    }
    if "cv_auc_mean" in spec.extra_metrics:
        # A CSV model's headline AUC is the cross-validated mean; the split's test AUC stays.
        metrics["test_auc"] = metrics["auc"]
        metrics["auc"] = spec.extra_metrics["cv_auc_mean"]
    scorecard_metrics = binary_metrics(test.y, scorecard_pd)
    logistic_metrics = binary_metrics(test.y, logistic_pd)
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
    for row in test_table:
        row["max_pd"] = (cutoffs.max_probability_of_default or {}).get(row["grade"])
        in_grade = np.asarray(test_grades) == row["grade"]
        row["predicted_pd"] = float(test_pd[in_grade].mean()) if in_grade.any() else None

    approved = np.isin(np.asarray(test_grades), APPROVED_GRADES)
    groups = group_report(test.groups, test.y, test_pd, approved) if test.groups else None
    fairness = FairnessRecord(
        excluded=spec.excluded,
        kept=spec.kept,
        adverse_impact_ratio=groups["adverse_impact_ratio"] if groups else None,
        approved_grades=APPROVED_GRADES,
    )

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
            "baseline_auc": scorecard_metrics["auc"],
            "logistic_auc": logistic_metrics["auc"],
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
        fairness=fairness,
    )
    write_bundle(out_dir, model, table, manifest)

    test_auc = metrics.get("test_auc", metrics["auc"])
    report: dict[str, Any] = {
        "model_version": version,
        "created_at": created_at.isoformat(),
        "source": spec.source,
        "target": spec.target,
        "metrics": metrics,
        "baseline": {"model": "WoE scorecard (optbinning)", "metrics": scorecard_metrics},
        "logistic": {"model": "logistic regression", "metrics": logistic_metrics},
        "lightgbm_beats_baseline": test_auc > scorecard_metrics["auc"],
        "lightgbm_margin_over_scorecard": test_auc - scorecard_metrics["auc"],
        "scorecard_points": scorecard.points_table(),
        "calibration": calibration.model_dump(),
        "calibration_curve": calibration_curve(test.y, test_pd),
        "scaling": {
            **scaling.model_dump(),
            "points_per_unit_log_odds": scaling.pdo / math.log(2.0),
            "test_score_min": float(test_scores.min()),
            "test_score_max": float(test_scores.max()),
            "test_score_p01": float(np.percentile(test_scores, 1)),
            "test_score_p99": float(np.percentile(test_scores, 99)),
        },
        "grade_cutoffs": cutoffs.model_dump(),
        "grades": {
            "train": grade_table(train.y, train_grades, train_scores),
            "test": test_table,
            "bad_rate_rises": bad_rate_rises(test_table),
        },
        "decision_quality": decision_quality(test.y, test_grades),
        "limits": limit_policy.model_dump(),
        "fairness": {
            "excluded": [p.model_dump() for p in spec.excluded],
            "kept": [p.model_dump() for p in spec.kept],
            "approved_grades": APPROVED_GRADES,
            "groups": groups,
        },
        "feature_importance_gain": importance,
        "psi_train_vs_test": psi,
        "reason_agreement": agreement,
        "serving": serving,
        "rows": {"train": len(train.y), "validation": len(validation.y), "test": len(test.y)},
        **spec.extra_report,
    }
    write_report(
        out_dir,
        report,
        ReportCurves(test.y, test_pd, scorecard_pd, test_scores, test_grades, logistic_pd),
    )
    return TrainResult(out_dir=out_dir, manifest=manifest, report=report)


def _golden(session: Any, x: Floats) -> GoldenRows:
    inputs = golden_inputs(x)
    rows = np.asarray([[np.nan if v is None else v for v in row] for row in inputs])
    return GoldenRows(inputs=inputs, outputs=onnx_predict(session, rows).tolist())
