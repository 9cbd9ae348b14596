"""The score service's metrics (names follow :mod:`services.common.metrics`) and the
Prometheus adapters of :class:`services.scorer.ports.ScoringObserver` and
:class:`services.scorer.ports.ModelMonitor`."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from riskmodel.drift import DriftMonitor
from services.common.metrics import LATENCY_BUCKETS_S, cached_labels
from services.scorer.core import FloatMatrix, RowScore, ServedModel

STAGE_DURATION = Histogram(
    "riskstream_scorer_stage_duration_seconds",
    "Time spent in one stage of scoring a request or a stream batch "
    "(redis, features, inference, reasons).",
    ["stage"],
    buckets=LATENCY_BUCKETS_S,
)
DECISIONS = Counter(
    "riskstream_scorer_decisions_total",
    "Answers given, by model version and decision (fallback answers included).",
    ["model_version", "decision"],
)
GRADES = Counter(
    "riskstream_scorer_grades_total",
    "Answers given, by model version and grade (fallback answers included).",
    ["model_version", "grade"],
)
FALLBACKS = Counter(
    "riskstream_scorer_fallbacks_total",
    "Answers from the fallback policy instead of the model, by reason.",
    ["reason"],
)
SHADOW_DIVERGENCE = Histogram(
    "riskstream_scorer_shadow_divergence_points",
    "|score of the champion - score of the shadow challenger| on the same live rows.",
    ["champion", "challenger"],
    buckets=(0, 1, 2, 5, 10, 20, 40, 80, 160, 320, 600),
)
SHADOW_FAILURES = Counter(
    "riskstream_scorer_shadow_failures_total",
    "Rows the shadow challenger could not score (error, NaN or out-of-range output).",
    ["challenger"],
)
MODEL_INFO = Gauge(
    "riskstream_model_info",
    "1 for each model serving in this process, by role (active, shadow) and version.",
    ["role", "model_version"],
)
MODEL_LOAD_FAILURES = Counter(
    "riskstream_scorer_model_load_failures_total",
    "Bundles this process failed to load or refused at the gate, by operation.",
    ["operation"],
)
RESCORE_RUNS = Counter(
    "riskstream_rescore_runs_total",
    "Runs of the dormant-customer scheduler over one partition, by outcome "
    "(completed; aborted: the store was incomplete, the model or Kafka failed).",
    ["outcome"],
)
RESCORE_CUSTOMERS = Counter(
    "riskstream_rescore_customers_total",
    "Customers a scheduler run looked at, by outcome (rescored; active: an event within "
    "the dormancy period; expired: no event within the horizon; unreadable; unscorable).",
    ["outcome"],
)
RESCORE_RUN_SECONDS = Histogram(
    "riskstream_rescore_run_duration_seconds",
    "Wall time of one scheduler run over one partition (paced, so mostly waiting).",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400),
)
RESCORE_LAST_RUN = Gauge(
    "riskstream_rescore_last_run_timestamp_seconds",
    "When this process last completed a scheduler run of the partition (epoch seconds).",
    ["partition"],
)
STREAM_RECORDS = Counter(
    "riskstream_scorer_stream_records_total",
    "features.updates records handled by the streaming scorer, by outcome.",
    ["outcome"],
)

DECISION_LOG_RECORDS = Counter(
    "riskstream_decision_log_records_total",
    "Decisions the decision log moved, by outcome: produced (to risk.decisions at once), "
    "spooled (to the local spool while Kafka was down), replayed (from the spool to Kafka).",
    ["outcome"],
)
DECISION_LOG_DROPPED = Counter(
    "riskstream_decision_log_dropped_total",
    "Decisions lost, by reason: queue_full, spool_full, spool_unwritable. Any is an incident.",
    ["reason"],
)
DECISION_LOG_PENDING = Gauge(
    "riskstream_decision_log_pending_records",
    "Decisions queued in memory, not yet produced or spooled.",
)
DECISION_LOG_SPOOL_BYTES = Gauge(
    "riskstream_decision_log_spool_bytes",
    "Bytes of decisions in the local spool, still owed to Kafka.",
)
DECISION_COPIES = Counter(
    "riskstream_decision_copies_total",
    "risk.decisions records handled by the copier that keeps the Redis copy, by outcome "
    "(copied, expired: older than the copy's retention, rejected: unreadable).",
    ["outcome"],
)
EXPLANATIONS = Counter(
    "riskstream_scorer_explanations_total",
    "Customer explanations given, by language.",
    ["lang"],
)
COUNTERFACTUAL_SECONDS = Histogram(
    "riskstream_scorer_counterfactual_seconds",
    "Time to search and verify the counterfactuals of one customer, by path (stream, explanation).",
    ["path"],
    buckets=LATENCY_BUCKETS_S,
)

FEATURES_AGE = Histogram(
    "riskstream_scorer_features_age_seconds",
    "Age of the feature state a sync score read: seconds since its customer's last event "
    "(states older than the staleness limit are counted, then answered by the fallback).",
    buckets=(60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400, 90 * 86400, 365 * 86400),
)
SCORES = Histogram(
    "riskstream_scorer_score_points",
    "Scores the model gave (sync and streaming paths, fallback answers excluded), by model "
    "version.",
    ["model_version"],
    buckets=tuple(range(350, 900, 50)),
)
REDIS_ERRORS = Counter(
    "riskstream_scorer_redis_errors_total",
    "Redis calls of the score path that failed (the request is answered by the fallback).",
)
DRIFT_PSI_NAME = "riskstream_model_drift_psi"
DRIFT_WINDOW_ROWS = 5_000
"""Rows in the rolling drift window (the latest scored rows of the active model)."""
DRIFT_MIN_ROWS = 100
"""Rows the window needs before a PSI is exported."""


_stage_duration = cached_labels(STAGE_DURATION)
_decisions = cached_labels(DECISIONS)
_grades = cached_labels(GRADES)
_fallbacks = cached_labels(FALLBACKS)
_scores = cached_labels(SCORES)


class PrometheusObserver:
    """Reports scoring timings and outcomes as Prometheus metrics."""

    def stage(self, stage: str, seconds: float) -> None:
        _stage_duration(stage).observe(seconds)

    def answered(self, model_version: str, grade: str, decision: str) -> None:
        _decisions(model_version, decision).inc()
        _grades(model_version, grade).inc()

    def fallback(self, reason: str) -> None:
        _fallbacks(reason).inc()

    def divergence(self, champion: str, challenger: str, points: float) -> None:
        SHADOW_DIVERGENCE.labels(champion, challenger).observe(points)

    def shadow_failed(self, challenger: str) -> None:
        SHADOW_FAILURES.labels(challenger).inc()


class PrometheusModelMonitor(Collector):
    """Feature age and score histograms, and the rolling drift of the active model exported
    as ``riskstream_model_drift_psi{model_version, feature}`` (``feature="score"`` for the
    score), computed when Prometheus scrapes. Only the model that scored last is watched: a
    swap starts a fresh window. Bundles without training distributions export no drift.

    Rows may be scored on a worker thread while the event loop scores others, so the
    window is guarded by a lock.
    """

    def __init__(self, window: int = DRIFT_WINDOW_ROWS, min_rows: int = DRIFT_MIN_ROWS) -> None:
        self._window = window
        self._min_rows = min_rows
        self._lock = threading.Lock()
        self._version: str | None = None
        self._drift: DriftMonitor | None = None

    def features_read(self, age_seconds: float) -> None:
        FEATURES_AGE.observe(max(age_seconds, 0.0))

    def rows_scored(
        self, model: ServedModel, rows: FloatMatrix, verdicts: Sequence[RowScore | None]
    ) -> None:
        histogram = _scores(model.version)
        scored = [(i, v.assessment.score) for i, v in enumerate(verdicts) if v is not None]
        for _, score in scored:
            histogram.observe(score)
        with self._lock:
            if model.version != self._version:
                self._version = model.version
                distributions = model.manifest.training_distributions
                self._drift = (
                    DriftMonitor(
                        distributions, model.manifest.feature_names, self._window, self._min_rows
                    )
                    if distributions
                    else None
                )
            if self._drift is None:
                return
            values = rows.tolist()
            for index, score in scored:
                self._drift.observe(float(score), values[index])

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [self._family()]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = self._family()
        with self._lock:
            if self._drift is not None and self._version is not None:
                for name, psi in self._drift.psi().items():
                    if math.isfinite(psi):
                        family.add_metric([self._version, name], psi)
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            DRIFT_PSI_NAME,
            'Population stability index of the score (feature="score") and of the top '
            "features over the latest scored rows, against the active model's training "
            "distribution.",
            labels=["model_version", "feature"],
        )


MODEL_MONITOR = PrometheusModelMonitor()
REGISTRY.register(MODEL_MONITOR)
"""The process's monitor: registered once, so the drift metric is on ``/metrics``."""
