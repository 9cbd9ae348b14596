"""Settings shared by every service. Each service defines exactly one subclass, builds it
in its entry point and passes it down; nothing reads the environment anywhere else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.common.topics import DEFAULT_DECISION_RETENTION_DAYS, TopicNames

DEVELOPMENT_CLIENT_KEY = "dev-client-key"
DEVELOPMENT_ADMIN_KEY = "dev-admin-key"
DEVELOPMENT_APPROVER_KEY = "dev-approver-key"
"""The local platform's second administrator (``approver``, role approver): with the
admin key, two people for the four-eyes rule."""
DEVELOPMENT_CONSOLE_KEY = "dev-console-key"
"""The local console's delegate key (``console``, role delegate)."""
DEVELOPMENT_KEYS = frozenset(
    {
        DEVELOPMENT_CLIENT_KEY,
        DEVELOPMENT_ADMIN_KEY,
        DEVELOPMENT_APPROVER_KEY,
        DEVELOPMENT_CONSOLE_KEY,
    }
)
KEY_ROLES = frozenset({"analyst", "approver", "admin", "delegate"})
_KEY_HOLDER = re.compile(r"^[a-z][a-z0-9._-]{0,31}$")


def split_key_entry(entry: str) -> tuple[str | None, str | None, str]:
    """``(name, role, key)`` of a configured admin key: ``<name>:<role>:<key>`` names its
    holder and role; anything else (a plain key, ``sha256:<hex>``) is a key alone."""
    parts = entry.split(":", 2)
    if len(parts) == 3 and _KEY_HOLDER.match(parts[0]) and parts[1] in KEY_ROLES:
        return parts[0], parts[1], parts[2]
    return None, None, entry


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


ApiKeyList = Annotated[list[SecretStr], NoDecode, BeforeValidator(_split_commas)]
"""API keys from a comma-separated variable; each is a plain key or ``sha256:<hex digest>``,
an admin key optionally as ``<name>:<role>:<key>`` (see services.common.auth)."""
SecretList = ApiKeyList
"""Any secrets from a comma-separated variable (never shown in a repr or dump)."""
NameList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
"""Names from a comma-separated variable."""


class ConfigurationError(ValueError):
    """Settings that must not be used (raised at start-up, never at request time)."""


class ServiceSettings(BaseSettings):
    """Connection, topic, access and logging settings common to all services.

    Every field is read from ``RISKSTREAM_<FIELD>``. Lists are comma-separated.
    """

    model_config = SettingsConfigDict(
        env_prefix="RISKSTREAM_", extra="ignore", frozen=True, env_parse_none_str="null"
    )

    env: Literal["development", "test", "production"] = "development"
    service_name: str = "riskstream"

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_linger_ms: float = Field(default=5.0, ge=0)
    """How long a producer lets records gather before it sends a request (records the
    services produce together, a batch's outputs, go out at once regardless). Measured on
    the whole pipeline at 1,000 events/s (CPU per event of all processes; event→action
    p50/p99): 0 ms 1,595 µs, 124/403 ms; 5 ms 1,504 µs, 114/515 ms; 20 ms 1,219 µs but
    2.8/4.2 s, the pipeline falling behind. 5 ms keeps the latency of 0 for less CPU."""
    kafka_batch_bytes: int = Field(default=512 * 1024, ge=16 * 1024)
    """Largest batch of one partition's records in a produce request."""
    kafka_fetch_min_bytes: int = Field(default=1, ge=1)
    kafka_fetch_max_wait_ms: int = Field(default=500, ge=0)
    """A consumer's fetch returns once this many bytes are there, or after this long. The
    broker holds a fetch while nothing is there, so a consumer asks about as often as its
    producers write; waiting for more bytes only pays when they write very small batches
    (measured: a 64 kB minimum with a 5 ms wait made the stream consumers ask six times as
    often, most answers empty)."""
    kafka_commit_interval_ms: float = Field(default=200.0, ge=0)
    """The stream consumers commit what they have handled at most this often (and when the
    stream pauses, and before they stop): a commit is a write on the broker, and a record
    handled but not yet committed is only read again after a crash (at-least-once)."""
    topic_prefix: str = ""
    event_partitions: int = Field(default=6, ge=1, le=1024)
    topic_replication_factor: int = Field(default=1, ge=1, le=16)
    decision_retention_days: int = Field(default=DEFAULT_DECISION_RETENTION_DAYS, ge=1)
    """How long ``risk.decisions`` keeps each decision (its ``retention.ms`` when created)."""

    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_key_prefix: str = "rs"
    redis_timeout_ms: float = Field(default=50.0, gt=0)
    redis_rebuild_rate: float = Field(default=10_000.0, gt=0)
    """Most customers per second a writer (feature worker, warning service) rewrites to
    Redis while it rebuilds its keys from Kafka, so a rebuild leaves Redis room to serve
    checkout; each writer process paces itself."""
    redis_rebuild_batch: int = Field(default=500, ge=1, le=10_000)
    """Customers per Redis write of a rebuild."""
    redis_epoch_check_s: float = Field(default=1.0, gt=0)
    """How often a writer checks its epoch key, to notice within that time that Redis
    lost its keys and start rebuilding them (see ``services.common.redis_keys``)."""

    client_api_keys: ApiKeyList = Field(default_factory=lambda: [SecretStr(DEVELOPMENT_CLIENT_KEY)])
    admin_api_keys: ApiKeyList = Field(
        default_factory=lambda: [
            SecretStr(DEVELOPMENT_ADMIN_KEY),
            SecretStr(f"approver:approver:{DEVELOPMENT_APPROVER_KEY}"),
            SecretStr(f"console:delegate:{DEVELOPMENT_CONSOLE_KEY}"),
        ]
    )
    auditor_api_keys: ApiKeyList = Field(default_factory=list)
    """Keys that may read the decision log and nothing else (auditors, analysts); none by
    default, when only admin keys may."""

    service_tiers_path: Path | None = None
    """The service tiers file (grade to repayment terms, promotions, monitoring, VIP);
    None: the packaged ``services/common/service_tiers.yaml``."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    pseudonym_key: SecretStr = SecretStr("riskstream-development-pseudonym-key")

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> ServiceSettings:
        if self.env != "production":
            return self
        keys = {
            split_key_entry(k.get_secret_value())[2]
            for k in [*self.client_api_keys, *self.admin_api_keys]
        }
        if keys & DEVELOPMENT_KEYS:
            raise ConfigurationError(
                "RISKSTREAM_ENV=production refuses the development API keys; "
                "set RISKSTREAM_CLIENT_API_KEYS and RISKSTREAM_ADMIN_API_KEYS"
            )
        if self.pseudonym_key.get_secret_value() == "riskstream-development-pseudonym-key":
            raise ConfigurationError("RISKSTREAM_ENV=production needs RISKSTREAM_PSEUDONYM_KEY")
        return self

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix, self.decision_retention_days)
