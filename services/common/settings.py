"""Settings shared by every service. Each service defines exactly one subclass, builds it
in its entry point and passes it down; nothing reads the environment anywhere else."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.common.topics import TopicNames

DEVELOPMENT_CLIENT_KEY = "dev-client-key"
DEVELOPMENT_ADMIN_KEY = "dev-admin-key"


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


ApiKeyList = Annotated[list[SecretStr], NoDecode, BeforeValidator(_split_commas)]
"""API keys from a comma-separated variable; each is a plain key or ``sha256:<hex digest>``."""


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
    topic_prefix: str = ""
    event_partitions: int = Field(default=6, ge=1, le=1024)
    topic_replication_factor: int = Field(default=1, ge=1, le=16)

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
    admin_api_keys: ApiKeyList = Field(default_factory=lambda: [SecretStr(DEVELOPMENT_ADMIN_KEY)])

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    pseudonym_key: SecretStr = SecretStr("riskstream-development-pseudonym-key")

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> ServiceSettings:
        if self.env != "production":
            return self
        keys = {k.get_secret_value() for k in [*self.client_api_keys, *self.admin_api_keys]}
        if keys & {DEVELOPMENT_CLIENT_KEY, DEVELOPMENT_ADMIN_KEY}:
            raise ConfigurationError(
                "RISKSTREAM_ENV=production refuses the development API keys; "
                "set RISKSTREAM_CLIENT_API_KEYS and RISKSTREAM_ADMIN_API_KEYS"
            )
        if self.pseudonym_key.get_secret_value() == "riskstream-development-pseudonym-key":
            raise ConfigurationError("RISKSTREAM_ENV=production needs RISKSTREAM_PSEUDONYM_KEY")
        return self

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)
