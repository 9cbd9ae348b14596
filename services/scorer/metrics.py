"""The score service's metrics (names follow :mod:`services.common.metrics`) and the
Prometheus adapter of :class:`services.scorer.scoring.ScoringObserver`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.common.metrics import LATENCY_BUCKETS_S

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
STREAM_RECORDS = Counter(
    "riskstream_scorer_stream_records_total",
    "features.updates records handled by the streaming scorer, by outcome.",
    ["outcome"],
)


class PrometheusObserver:
    """Reports scoring timings and outcomes as Prometheus metrics."""

    def stage(self, stage: str, seconds: float) -> None:
        STAGE_DURATION.labels(stage).observe(seconds)

    def answered(self, model_version: str, grade: str, decision: str) -> None:
        DECISIONS.labels(model_version, decision).inc()
        GRADES.labels(model_version, grade).inc()

    def fallback(self, reason: str) -> None:
        FALLBACKS.labels(reason).inc()

    def divergence(self, champion: str, challenger: str, points: float) -> None:
        SHADOW_DIVERGENCE.labels(champion, challenger).observe(points)

    def shadow_failed(self, challenger: str) -> None:
        SHADOW_FAILURES.labels(challenger).inc()
