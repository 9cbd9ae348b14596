"""The model's verdict on feature rows, and the streamed score record built from it.

:func:`score_rows` is the one place a model's output becomes a score: the sync API, the
stream scorer and offline backtests all call it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from riskmodel.manifest import BundleManifest
from riskmodel.reasons import reasons_of_rows
from riskmodel.scaling import Assessment, assess
from schemas.codecs import FeatureUpdateRecord, score_record_json
from schemas.events import TriggerType
from schemas.features import FeatureUpdate
from schemas.scores import Counterfactual, ReasonCode, ScoreRecord

FloatMatrix = npt.NDArray[np.float64]

StageTimer = Callable[[str, float], None]
"""Told how long each stage took: ``timer("inference", seconds)``."""


class ServedModel(Protocol):
    """A gated bundle: its manifest, the model's raw probabilities and reason contributions."""

    @property
    def manifest(self) -> BundleManifest: ...

    @property
    def version(self) -> str: ...

    def probabilities(self, rows: FloatMatrix) -> FloatMatrix: ...

    def contributions(self, rows: FloatMatrix) -> FloatMatrix: ...


@dataclass(frozen=True, slots=True)
class RowScore:
    """The model's verdict on one feature row."""

    assessment: Assessment
    reasons: list[ReasonCode]


def score_rows(
    model: ServedModel, rows: FloatMatrix, timer: StageTimer | None = None
) -> list[RowScore | None]:
    """Scores feature rows (``[N, n]``, NaN for undefined) in one model run: calibrated
    probability, score, grade, risk level, model limit and adverse reasons. A row without
    behaviour history is graded under the bundle's thin-file policy (see
    :func:`riskmodel.scaling.assess`). A row whose model output is NaN or outside [0, 1]
    yields None (the caller falls back for it).
    ``timer``, when given, is told the ``inference`` and ``reasons`` stage times."""
    manifest = model.manifest
    started = time.perf_counter()
    outputs = model.probabilities(rows).tolist()
    inferred = time.perf_counter()
    reasons = reasons_of_rows(
        rows, model.contributions(rows), manifest.feature_names, manifest.reason_codes
    )
    history = _history_column(manifest)
    thin_files = [False] * len(outputs) if history is None else np.isnan(rows[:, history]).tolist()
    results: list[RowScore | None] = []
    for output, thin_file, row_reasons in zip(outputs, thin_files, reasons, strict=True):
        if not 0.0 <= output <= 1.0:  # False for NaN too
            results.append(None)
            continue
        results.append(RowScore(assess(output, manifest, thin_file), row_reasons))
    if timer is not None:
        timer("inference", inferred - started)
        timer("reasons", time.perf_counter() - inferred)
    return results


HISTORY_FEATURE = "days_since_first_event"
"""Null exactly when the customer has no order, payment, refund or review: a thin file."""


def _history_column(manifest: BundleManifest) -> int | None:
    """Where the row says whether the customer has any behaviour history (None for a
    bundle without that feature, e.g. a CSV model: no row is thin-file)."""
    names = manifest.feature_names
    return names.index(HISTORY_FEATURE) if HISTORY_FEATURE in names else None


def score_id_of(triggered_by: str, model_version: str) -> str:
    """The stable id of a streamed score: the same trigger scored by the same model version
    always has the same id, so a replay is recognisable downstream."""
    digest = hashlib.sha256(f"{triggered_by}\x1f{model_version}".encode()).hexdigest()
    return digest[:32]


def score_record_bytes(
    update: FeatureUpdateRecord,
    verdict: RowScore,
    model_version: str,
    now: datetime,
    improvements: Sequence[Counterfactual] = (),
) -> bytes:
    """:func:`score_record` as the bytes of its JSON, built without the model (the stream
    scorer writes one per update)."""
    return score_record_json(
        **_record_fields(
            verdict=verdict, model_version=model_version, **_update_fields(update, now)
        ),
        reasons=verdict.reasons,
        improvements=improvements,
    )


def score_record(
    update: FeatureUpdate,
    verdict: RowScore,
    model_version: str,
    now: datetime,
    improvements: Sequence[Counterfactual] = (),
) -> ScoreRecord:
    """The ``risk.scores`` record for a streamed feature update and the model's verdict
    (with the model's counterfactuals for the row, when searched)."""
    return scored_record(
        verdict=verdict,
        model_version=model_version,
        improvements=improvements,
        **_update_fields(update, now),
    )


def scored_record(
    *,
    customer_id: str,
    verdict: RowScore,
    model_version: str,
    feature_schema_version: int,
    features: Mapping[str, float | None],
    features_as_of: datetime,
    triggered_by: str,
    trigger_event_type: TriggerType | None,
    event_occurred_at: datetime | None,
    scored_at: datetime,
    locale: str | None,
    improvements: Sequence[Counterfactual] = (),
) -> ScoreRecord:
    """A ``risk.scores`` record: the model's verdict on ``features`` and what caused it
    (``score_id`` from ``triggered_by`` and the model version)."""
    return ScoreRecord(
        **_record_fields(
            customer_id=customer_id,
            verdict=verdict,
            model_version=model_version,
            feature_schema_version=feature_schema_version,
            features=features,
            features_as_of=features_as_of,
            triggered_by=triggered_by,
            trigger_event_type=trigger_event_type,
            event_occurred_at=event_occurred_at,
            scored_at=scored_at,
            locale=locale,
        ),
        reasons=verdict.reasons,
        improvements=list(improvements),
    )


def _update_fields(update: FeatureUpdate | FeatureUpdateRecord, now: datetime) -> dict[str, Any]:
    """What a streamed score takes from the feature update that caused it."""
    return {
        "customer_id": update.customer_id,
        "feature_schema_version": update.feature_schema_version,
        "features": update.features,
        "features_as_of": update.as_of,
        "triggered_by": update.triggered_by,
        "trigger_event_type": update.trigger_event_type,
        "event_occurred_at": update.event_occurred_at,
        "scored_at": now,
        "locale": update.locale,
    }


def _record_fields(
    *,
    customer_id: str,
    verdict: RowScore,
    model_version: str,
    feature_schema_version: int,
    features: Mapping[str, float | None],
    features_as_of: datetime,
    triggered_by: str,
    trigger_event_type: str | None,
    event_occurred_at: datetime | None,
    scored_at: datetime,
    locale: str | None,
) -> dict[str, Any]:
    """The fields of a ``risk.scores`` record but its reasons and improvements, in the
    contract's order and types (as ScoreRecord would coerce them: an int limit is a float)."""
    assessment = verdict.assessment
    return {
        "score_id": score_id_of(triggered_by, model_version),
        "customer_id": customer_id,
        "score": int(assessment.score),
        "probability_of_default": float(assessment.probability_of_default),
        "grade": assessment.grade,
        "risk_level": assessment.risk_level,
        "credit_limit": float(assessment.credit_limit),
        "model_version": model_version,
        "feature_schema_version": feature_schema_version,
        "features": dict(features),
        "features_as_of": features_as_of,
        "triggered_by": triggered_by,
        "trigger_event_type": trigger_event_type,
        "event_occurred_at": event_occurred_at,
        "scored_at": scored_at,
        "locale": locale,
    }
