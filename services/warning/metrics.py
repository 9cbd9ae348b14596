"""The warning service's metrics (names follow :mod:`services.common.metrics`) and the
Prometheus adapter of :class:`services.warning.usecase.WarningObserver`.
The stage event age and consumer lag metrics are shared (:mod:`services.common.metrics`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from schemas.actions import RiskAction
from services.common.metrics import LATENCY_BUCKETS_S, REDIS_REBUILT_KEYS
from services.common.redis_keys import Writer
from services.warning.core import MANUAL_OVERRIDE_RULE_ID

ACTIONS = Counter(
    "riskstream_warning_actions_total",
    "Risk actions published on risk.actions, by action type and severity.",
    ["action", "severity"],
)
SCORES = Counter(
    "riskstream_warning_scores_total",
    "risk.scores records handled, by outcome (evaluated, duplicate, rejected).",
    ["outcome"],
)
EVALUATION_LATENCY = Histogram(
    "riskstream_warning_rule_evaluation_seconds",
    "Time to judge one score against the live rules (the pure evaluation, no I/O).",
    buckets=LATENCY_BUCKETS_S,
)
RULES_INFO = Gauge(
    "riskstream_warning_rules_info",
    "1 for the rule set live in this process, by rule file version and content digest.",
    ["version", "sha256"],
)
RULE_RELOAD_FAILURES = Counter(
    "riskstream_warning_rule_reload_failures_total",
    "Rule sets refused (invalid, unreadable, or the change could not be audited), by source "
    "(file, api).",
    ["source"],
)
OVERRIDES = Counter(
    "riskstream_warning_overrides_total",
    "Manual overrides applied, by action.",
    ["action"],
)
REDIS_ERRORS = Counter(
    "riskstream_warning_redis_errors_total",
    "Redis calls for warning state that failed, by operation (load, save).",
    ["operation"],
)

KEYS_PER_STATE = 2
"""Redis keys per customer: the service's own state and the contract view."""
_rebuilt_keys = REDIS_REBUILT_KEYS.labels(Writer.WARNING.value)

STAGE = "warning"
"""This service's ``stage`` label on ``riskstream_stage_event_age_seconds``."""


class PrometheusObserver:
    """Reports the use case's outcomes and timings as Prometheus metrics."""

    def judged(self, outcome: str, count: int) -> None:
        SCORES.labels(outcome).inc(count)

    def evaluation(self, seconds: float) -> None:
        EVALUATION_LATENCY.observe(seconds)

    def issued(self, action: RiskAction) -> None:
        ACTIONS.labels(action.action, action.severity).inc()
        if action.rule_id == MANUAL_OVERRIDE_RULE_ID:
            OVERRIDES.labels(action.action).inc()

    def restored(self, customers: int) -> None:
        _rebuilt_keys.inc(KEYS_PER_STATE * customers)

    def rules_live(self, version: str, digest: str) -> None:
        RULES_INFO.clear()
        RULES_INFO.labels(version, digest).set(1)

    def rules_refused(self, source: str) -> None:
        RULE_RELOAD_FAILURES.labels(source).inc()
