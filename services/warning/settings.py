"""Settings of the warning service (``RISKSTREAM_<FIELD>``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from services.common.settings import DEVELOPMENT_KEYS, ConfigurationError, ServiceSettings
from services.warning.core import DEFAULT_RULES_PATH


class WarningSettings(ServiceSettings):
    """Transport, rule file and consumer settings.

    ``rules_path`` is watched: a change to the file is validated and, if valid, replaces the
    live rules (otherwise it is refused and the old rules stay live). A rule set accepted by
    ``PUT /v1/rules`` is written back to ``rules_path`` unless that is the packaged default
    file, which is never modified.
    """

    service_name: str = "warning"
    warning_host: str = "127.0.0.1"
    warning_port: int = Field(default=8003, ge=1, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    redis_timeout_ms: float = Field(default=2000.0, gt=0)
    """A batch reads and writes hundreds of customers in one round trip: more time than
    the scorer's per-request budget."""

    rules_path: Path = DEFAULT_RULES_PATH
    rules_poll_s: float = Field(default=1.0, gt=0)
    """How often the rule file's modification time and size are checked."""

    warning_consumer_group: str = "riskstream-warning"
    """Consumer group on ``risk.scores``; the topic prefix is put in front of it."""
    warning_batch_max: int = Field(default=500, ge=1, le=10_000)
    """Most records handled (one Redis read, one write) per partition at a time."""
    produce_timeout_s: float = Field(default=10.0, gt=0)
    """Longest wait for Kafka to acknowledge actions, audit and dead-letter records."""
    lag_interval_s: float = Field(default=5.0, gt=0)
    """How often consumer lag per partition is measured."""

    scorer_url: str = "http://127.0.0.1:8002"
    """The score service, asked for the model's judgement of a limit application."""
    scorer_api_key: SecretStr | None = None
    """A client key of the score service (None: the first of ``client_api_keys``)."""
    scorer_timeout_s: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _a_usable_score_key(self) -> WarningSettings:
        if self.scorer_api_key is None:
            if self.client_api_keys[0].get_secret_value().startswith("sha256:"):
                raise ConfigurationError(
                    "the client keys are digests: set RISKSTREAM_SCORER_API_KEY, the key the "
                    "warning service sends to the score service"
                )
        elif (
            self.env == "production" and self.scorer_api_key.get_secret_value() in DEVELOPMENT_KEYS
        ):
            raise ConfigurationError(
                "RISKSTREAM_ENV=production refuses a development RISKSTREAM_SCORER_API_KEY"
            )
        return self

    @property
    def score_key(self) -> str:
        """The key the warning service sends to the score service."""
        key = self.scorer_api_key or self.client_api_keys[0]
        return key.get_secret_value()

    @property
    def group_id(self) -> str:
        return f"{self.topic_prefix}{self.warning_consumer_group}"
