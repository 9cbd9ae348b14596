"""Settings of the signal gateway (``RISKSTREAM_<FIELD>``; docs/sharing.md, "Configuration")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from services.common.settings import ConfigurationError, NameList, SecretList, ServiceSettings
from services.common.topics import Topic

DEVELOPMENT_SIGNING_KEY = "riskstream-development-signing-key"


class SignalsSettings(ServiceSettings):
    """The exchange's location, the consortium's rules and this platform's identity on it.

    ``signal_issuers`` lists the partners whose signals are accepted, each as ``<issuer>``
    (allow-listed: the exchange's own access control vouches for who wrote the record) or
    ``<issuer>:<secret>`` (its records must carry a valid HMAC-SHA256 signature under that
    secret; list an issuer twice while it rotates its secret). ``signal_key_ids`` are the
    consortium keys whose hashes are accepted in a new signal: several during a rotation.
    """

    service_name: str = "signals"
    signals_host: str = "127.0.0.1"
    signals_port: int = Field(default=8006, ge=1, le=65535)
    platform_id: str = Field(default="riskstream", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    """This platform's issuer id: its own signals coming back from the exchange are not
    counted again."""
    signal_issuers: SecretList = Field(default_factory=list)
    signal_key_ids: NameList = Field(default_factory=lambda: ["dev-1"])
    signal_max_age_days: float = Field(default=30.0, gt=0)
    """A signal issued longer ago than this is refused (a stale or replayed record)."""
    signal_signing_key: SecretStr = SecretStr(DEVELOPMENT_SIGNING_KEY)
    """This platform's secret for signing the signals it publishes."""
    signals_group_id: str = "riskstream-signals"
    """Consumer group on the exchange (the topic prefix is prepended)."""
    signals_batch_max: int = Field(default=500, ge=1)

    exchange_bootstrap_servers: str | None = None
    """The exchange's cluster; none: this platform's own (``kafka_bootstrap_servers``)."""
    exchange_topic: str | None = None
    """The exchange's topic; none: this platform's ``signals.shared`` (prefixed)."""
    exchange_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = (
        None
    )
    exchange_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    exchange_sasl_username: str | None = None
    exchange_sasl_password: SecretStr | None = None
    exchange_ssl_cafile: str | None = None
    exchange_ssl_certfile: str | None = None
    exchange_ssl_keyfile: str | None = None
    produce_timeout_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _refuse_development_signing_key_in_production(self) -> SignalsSettings:
        if (
            self.env == "production"
            and self.signal_signing_key.get_secret_value() == DEVELOPMENT_SIGNING_KEY
        ):
            raise ConfigurationError(
                "RISKSTREAM_ENV=production needs RISKSTREAM_SIGNAL_SIGNING_KEY"
            )
        return self

    @property
    def group_id(self) -> str:
        return f"{self.topic_prefix}{self.signals_group_id}"

    @property
    def exchange_topic_name(self) -> str:
        return self.exchange_topic or self.topics(Topic.SIGNALS_SHARED)

    def exchange(self) -> ServiceSettings:
        """Connection settings for the exchange's cluster: this platform's, with every
        ``exchange_*`` setting that is given in place of its ``kafka_*`` one."""
        overrides: dict[str, Any] = {
            "kafka_bootstrap_servers": self.exchange_bootstrap_servers,
            "kafka_security_protocol": self.exchange_security_protocol,
            "kafka_sasl_mechanism": self.exchange_sasl_mechanism,
            "kafka_sasl_username": self.exchange_sasl_username,
            "kafka_sasl_password": self.exchange_sasl_password,
            "kafka_ssl_cafile": self.exchange_ssl_cafile,
            "kafka_ssl_certfile": self.exchange_ssl_certfile,
            "kafka_ssl_keyfile": self.exchange_ssl_keyfile,
        }
        return self.model_copy(
            update={name: value for name, value in overrides.items() if value is not None}
        )
