"""Settings of the score service (``RISKSTREAM_<FIELD>``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from schemas.scores import Decision, Grade, RiskLevel
from services.common.settings import ConfigurationError, ServiceSettings


class ScorerSettings(ServiceSettings):
    """Transport, time budgets, fallback policy, registry and streaming settings.

    The fallback policy answers when the model cannot (Redis down, features stale or
    unreadable, no model loaded, inference failed). It may never approve an order on credit:
    with Redis down the scorer cannot see whether the customer is frozen.
    """

    service_name: str = "scorer"
    scorer_host: str = "127.0.0.1"
    scorer_port: int = Field(default=8002, ge=1, le=65535)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)

    redis_budget_ms: float = Field(default=20.0, gt=0)
    """Longest wait for the one Redis round trip of a request before answering fallback."""
    model_budget_ms: float = Field(default=20.0, gt=0)
    """Longest wait for inference and reason codes of a batch run off the event loop."""
    inline_inference_rows: int = Field(default=64, ge=1)
    """Requests with at most this many rows are scored on the event loop (microseconds, no
    thread hop); larger batches run in a worker thread under ``model_budget_ms``."""
    features_max_age_s: float = Field(default=90 * 24 * 3600.0, gt=0)
    """Feature state whose last applied event is older than this is stale: fallback."""

    fallback_credit_decision: Decision = "review"
    """Decision for an order paid on credit (bnpl, instalment) when the model cannot answer."""
    fallback_other_decision: Decision = "approve"
    """Decision for an order paid now (card, wallet, cod, bank transfer) in fallback."""
    fallback_grade: Grade = "C"
    fallback_risk_level: RiskLevel = "yellow"
    fallback_score: int = Field(default=560, ge=300, le=900)
    fallback_probability: float = Field(default=0.1, ge=0, le=1)
    fallback_credit_limit: float = Field(default=0.0, ge=0)

    thin_file_probability: float = Field(default=0.08, ge=0, le=1)
    """Probability of default for a customer never seen, when the bundle has no policy."""
    thin_file_grade: Grade = "C"
    thin_file_credit_limit: float = Field(default=0.0, ge=0)

    model_registry_dir: Path = Path(".run/models")
    default_bundle: Path | None = None
    """Bundle published and served when the registry and ``models.control`` name none."""
    min_adverse_impact_ratio: float | None = Field(default=None, ge=0, le=1)
    """When set (0.8 is the four-fifths rule), publishing refuses a bundle whose measured
    adverse-impact ratio is below it."""
    control_wait_s: float = Field(default=10.0, gt=0)
    """How long start-up waits for ``models.control`` before serving the default bundle."""
    swap_wait_s: float = Field(default=10.0, gt=0)
    """How long an admin call waits to see its own activation take effect locally."""

    stream_enabled: bool = True
    stream_batch_max: int = Field(default=500, ge=1)
    stream_counterfactuals: bool = True
    """Streamed scores of grade C or D carry the model's counterfactuals (the least feasible
    changes reaching each better grade up to B), which adverse-action notices state."""

    rescore_enabled: bool = True
    """Dormant customers are re-scored once a day (needs the streaming path, whose
    partitions say whose customers this process re-scores)."""
    rescore_dormant_after_s: float = Field(default=24 * 3600.0, gt=0)
    """A customer is re-scored when their last event is at least this old at the run."""
    rescore_horizon_s: float = Field(default=92 * 24 * 3600.0, gt=0)
    """...and at most this old: past the 90-day windows (and two runs to judge them
    empty), nothing more moves."""
    rescore_check_s: float = Field(default=60.0, gt=0)
    """How often the scheduler looks for partitions whose daily run is due."""
    rescore_rate: float = Field(default=500.0, gt=0)
    """Most customers re-scored per second by one process (the score API shares it)."""
    rescore_batch: int = Field(default=200, ge=1, le=10_000)
    """Customers read, scored and published per step."""
    rescore_scan_count: int = Field(default=1000, ge=10)
    """``COUNT`` of each ``SCAN`` step over the feature-state keys."""

    decision_log_enabled: bool = True
    """Every answer of the score API is recorded on ``risk.decisions``."""
    decision_spool_dir: Path = Path(".run/decision-spool")
    """Where decisions wait while Kafka is down; one directory per scorer process."""
    decision_spool_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    decision_spool_segment_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    decision_log_batch_max: int = Field(default=100, ge=1)
    """Decisions serialised and produced in one step (small steps keep the event loop,
    which the score API shares, responsive)."""
    decision_log_linger_ms: float = Field(default=50.0, gt=0)
    decision_log_queue_max: int = Field(default=100_000, ge=1)
    """Decisions queued in memory at most; beyond it they are dropped (and counted)."""
    decision_produce_timeout_s: float = Field(default=5.0, gt=0)
    """How long a batch of decisions may wait for Kafka before it is spooled."""
    decision_copy_enabled: bool = True
    """This process keeps the Redis copy of ``risk.decisions`` (a consumer group shared by
    every scorer)."""
    decision_copy_days: int = Field(default=30, ge=1)
    """How long the Redis copy keeps a decision (``GET /v1/decisions/{id}``)."""
    decision_copy_batch_max: int = Field(default=100, ge=1)
    """Records the copier writes to Redis in one step (one round trip)."""

    @model_validator(mode="after")
    def _fallback_never_approves_credit(self) -> ScorerSettings:
        if self.fallback_credit_decision == "approve":
            raise ConfigurationError(
                "RISKSTREAM_FALLBACK_CREDIT_DECISION may not be approve: in fallback the "
                "scorer cannot see whether a customer's credit is frozen"
            )
        return self

    @model_validator(mode="after")
    def _copy_within_the_record(self) -> ScorerSettings:
        if self.decision_copy_days > self.decision_retention_days:
            raise ConfigurationError(
                "RISKSTREAM_DECISION_COPY_DAYS may not exceed RISKSTREAM_DECISION_RETENTION_DAYS: "
                "the Redis copy must be rebuildable from risk.decisions"
            )
        return self

    @property
    def stream_group_id(self) -> str:
        """Consumer group of the streaming scorer (shared by every scorer instance)."""
        return f"{self.topic_prefix}riskstream-scorer"

    @property
    def decision_copy_group_id(self) -> str:
        """Consumer group of the decision copier (shared by every scorer instance)."""
        return f"{self.topic_prefix}riskstream-decision-copy"
