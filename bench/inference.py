"""Model inference and reason codes per row, against LightGBM's own ``Booster.predict`` on
the same trees, in the same process and the same minute.

A tiny model is trained in the run (no binary is committed): the training package writes
the bundle the scorer serves, and the same deterministic fit, repeated on the same rows,
gives the Booster to compare with. Their outputs are checked to agree before any timing.
Single-row calls are what the sync API makes; batch calls what the stream scorer makes.
The served reason contributions are compared with LightGBM's exact TreeSHAP
(``pred_contrib``) on the same rows: top-3 agreement and the largest difference.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from bench.profiles import read_profile, start_recording
from bench.stats import ratio
from riskmodel.loading import LoadedModel, open_bundle
from riskmodel.reasons import reasons_from_contributions
from schemas.features import FEATURE_SCHEMA
from services.scorer.core import score_rows
from simulator import simulate
from training.bundle import snap_thresholds_to_float32
from training.catalogue import monotone_constraints
from training.dataset import build_dataset, split_by_time
from training.evaluation import reason_agreement
from training.train import Rows, TrainingConfig, fit_lightgbm, train_from_simulation

FloatMatrix = npt.NDArray[np.float64]

CUSTOMERS = 600
DAYS = 180
SEED = 20_261_128
HORIZON_DAYS = 90
EVERY_DAYS = 15


def _start() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=DAYS)


def train_bundle(out_dir: Path, start: datetime) -> dict[str, Any]:
    """Trains the tiny bundle into ``out_dir``; returns its headline facts."""
    result = train_from_simulation(
        CUSTOMERS,
        DAYS,
        SEED,
        out_dir,
        start=start,
        horizon_days=HORIZON_DAYS,
        every_days=EVERY_DAYS,
    )
    return {
        "model_version": result.manifest.model_version,
        "customers": CUSTOMERS,
        "days": DAYS,
        "auc": round(float(result.metrics["auc"]), 3),
        "trees": result.report["serving"]["trees"],
        "features": len(result.manifest.feature_names),
    }


def refit_booster(start: datetime) -> tuple[lgb.Booster, FloatMatrix]:
    """The Booster inside the bundle, refitted (the fit is deterministic), and the test rows."""
    simulation = simulate(CUSTOMERS, DAYS, SEED, start)
    dataset = build_dataset(simulation, horizon_days=HORIZON_DAYS, every_days=EVERY_DAYS)
    split = split_by_time(dataset)
    booster = fit_lightgbm(
        Rows(split.train.x, split.train.y),
        Rows(split.validation.x, split.validation.y),
        monotone_constraints(dataset.feature_names),
        TrainingConfig(seed=SEED),
    )
    return snap_thresholds_to_float32(booster), split.test.x


def per_row_us(call: Callable[[FloatMatrix], object], rows: FloatMatrix, repeats: int = 5) -> float:
    """Microseconds per row of ``call`` made once per row (each row a ``[1, n]`` matrix):
    the best of ``repeats`` passes, the pass least disturbed by other work on the machine."""
    singles = [row.reshape(1, -1) for row in rows]
    best = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        for single in singles:
            call(single)
        best = min(best, (time.perf_counter() - began) / len(singles) * 1e6)
    return best


def batch_us(call: Callable[[FloatMatrix], object], rows: FloatMatrix, repeats: int = 5) -> float:
    """Microseconds per row of ``call`` made on all ``rows`` at once (best of ``repeats``)."""
    best = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        call(rows)
        best = min(best, (time.perf_counter() - began) / len(rows) * 1e6)
    return best


def _reasons(model: LoadedModel) -> Callable[[FloatMatrix], object]:
    manifest = model.manifest

    def call(rows: FloatMatrix) -> object:
        contributions = model.contributions(rows)
        return [
            reasons_from_contributions(
                row, row_contributions, manifest.feature_names, manifest.reason_codes
            )
            for row, row_contributions in zip(rows, contributions, strict=True)
        ]

    return call


def measure(bundle_dir: Path, profile_dir: Path) -> dict[str, Any]:
    """Trains the bundle into ``bundle_dir`` and times serving against the Booster."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    start = _start()
    trained = train_bundle(bundle_dir, start)
    booster, test_rows = refit_booster(start)
    model = open_bundle(bundle_dir, FEATURE_SCHEMA)
    rows = np.ascontiguousarray(test_rows[:300])
    agreement = float(np.max(np.abs(model.probabilities(rows) - booster.predict(rows))))
    exact = np.asarray(booster.predict(rows, pred_contrib=True))[:, :-1]
    served = model.contributions(rows)
    treeshap = {
        **reason_agreement(served, exact, k=3),
        "max_abs_diff": float(np.max(np.abs(served - exact))),
    }

    def booster_predict(x: FloatMatrix) -> object:
        return booster.predict(x, num_threads=1)

    def booster_contrib(x: FloatMatrix) -> object:
        return booster.predict(x, pred_contrib=True, num_threads=1)

    def serve(x: FloatMatrix) -> object:
        return score_rows(model, x)

    single = {
        "lightgbm_predict_us": per_row_us(booster_predict, rows),
        "lightgbm_pred_contrib_us": per_row_us(booster_contrib, rows[:100], repeats=3),
        "onnx_inference_us": per_row_us(model.probabilities, rows),
        "reason_codes_us": per_row_us(_reasons(model), rows),
        "score_rows_us": per_row_us(serve, rows),
    }
    batch_rows = np.ascontiguousarray(np.resize(test_rows, (1000, test_rows.shape[1])))
    batch = {
        "lightgbm_predict_us": batch_us(booster_predict, batch_rows),
        "onnx_inference_us": batch_us(model.probabilities, batch_rows),
        "reason_codes_us": batch_us(_reasons(model), batch_rows),
        "score_rows_us": batch_us(serve, batch_rows),
    }
    profile_s = 4.0
    output = profile_dir / "inference-single-row.txt"
    recording = start_recording(os.getpid(), profile_s, output)
    deadline = time.perf_counter() + profile_s + 0.5
    while time.perf_counter() < deadline:
        per_row_us(serve, rows, repeats=1)
    return {
        "model": trained,
        "max_abs_diff_onnx_vs_booster": agreement,
        "reasons_vs_exact_treeshap": treeshap,
        "single_row": {k: round(v, 2) for k, v in single.items()},
        "batch_1000": {k: round(v, 2) for k, v in batch.items()},
        "single_row_ratios_to_booster_predict": {
            "onnx_inference": ratio(single["onnx_inference_us"], single["lightgbm_predict_us"]),
            "score_rows": ratio(single["score_rows_us"], single["lightgbm_predict_us"]),
            "reason_codes_vs_pred_contrib": ratio(
                single["reason_codes_us"], single["lightgbm_pred_contrib_us"]
            ),
        },
        "batch_ratios_to_booster_predict": {
            "onnx_inference": ratio(batch["onnx_inference_us"], batch["lightgbm_predict_us"]),
            "score_rows": ratio(batch["score_rows_us"], batch["lightgbm_predict_us"]),
        },
        "profile": read_profile(recording),
    }
