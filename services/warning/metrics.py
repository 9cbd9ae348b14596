"""The warning service's metrics (names follow :mod:`services.common.metrics`) and the
Prometheus adapter of :class:`services.warning.usecase.WarningObserver`.
The stage event age and consumer lag metrics are shared (:mod:`services.common.metrics`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from schemas.actions import RiskAction
from services.common.metrics import LATENCY_BUCKETS_S, REDIS_REBUILT_KEYS
from services.common.redis_keys import Writer
from services.warning.core import MANUAL_OVERRIDE_RULE_ID, ReviewCase

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
    "Redis calls for warning state that failed, by operation (load, save, cases).",
    ["operation"],
)

KEYS_PER_STATE = 2
"""Redis keys per customer: the service's own state and the contract view."""
_rebuilt_keys = REDIS_REBUILT_KEYS.labels(Writer.WARNING.value)
CASES_OPENED = Counter(
    "riskstream_warning_cases_opened_total",
    "Review cases opened, by origin (rule_review, escalation).",
    ["origin"],
)
CASE_DECISIONS = Counter(
    "riskstream_warning_case_decisions_total",
    "Review cases decided, by decision (confirm, release, escalate) and origin.",
    ["decision", "origin"],
)
CASE_DECISION_AGE = Histogram(
    "riskstream_warning_case_decision_age_seconds",
    "Time from a case's opening to its decision.",
    buckets=(60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600, 7 * 24 * 3600),
)
REVIEW_QUEUE_CASES = Gauge(
    "riskstream_warning_review_queue_cases",
    "Review cases waiting for a decision (open or claimed).",
)
REVIEW_QUEUE_OLDEST_AGE = Gauge(
    "riskstream_warning_review_queue_oldest_age_seconds",
    "Age of the oldest review case waiting for a decision (0: none waits).",
)

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

    def case_opened(self, case: ReviewCase) -> None:
        CASES_OPENED.labels(case.origin).inc()

    def case_decided(self, case: ReviewCase, seconds_open: float) -> None:
        CASE_DECISIONS.labels(case.decision or "none", case.origin).inc()
        CASE_DECISION_AGE.observe(max(seconds_open, 0.0))

    def queue(self, waiting: int, oldest_age_s: float) -> None:
        REVIEW_QUEUE_CASES.set(waiting)
        REVIEW_QUEUE_OLDEST_AGE.set(oldest_age_s)

    def restored(self, customers: int) -> None:
        _rebuilt_keys.inc(KEYS_PER_STATE * customers)

    def rules_live(self, version: str, digest: str) -> None:
        RULES_INFO.clear()
        RULES_INFO.labels(version, digest).set(1)

    def rules_refused(self, source: str) -> None:
        RULE_RELOAD_FAILURES.labels(source).inc()
