"""Settings of the console (``RISKSTREAM_<FIELD>``)."""

from __future__ import annotations

from functools import cache
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import NoDecode

from services.common.settings import (
    DEVELOPMENT_CONSOLE_KEY,
    ConfigurationError,
    ServiceSettings,
)

DEVELOPMENT_PASSWORD = "riskstream-dev"  # noqa: S105 (refused in production)
"""The password of every development account (refused in production)."""
DEVELOPMENT_ACCOUNTS = (
    ("analyst", "analyst"),
    ("analyst2", "analyst"),
    ("approver", "approver"),
    ("approver2", "approver"),
    ("admin", "admin"),
)
"""The local platform's accounts (name, role), all with :data:`DEVELOPMENT_PASSWORD`."""
DEVELOPMENT_SESSION_SECRET = "riskstream-development-session-secret"  # noqa: S105 (refused in production)


@cache
def _development_hash() -> str:
    return PasswordHasher().hash(DEVELOPMENT_PASSWORD)


def _development_accounts() -> list[SecretStr]:
    return [
        SecretStr(f"{name}:{role}:{_development_hash()}") for name, role in DEVELOPMENT_ACCOUNTS
    ]


def _split_entries(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.replace("\n", ";").split(";") if part.strip()]
    return value


AccountList = Annotated[list[SecretStr], NoDecode, BeforeValidator(_split_entries)]
"""Accounts from a variable separated by semicolons or new lines (an argon2 hash holds
commas), each ``<name>:<role>:<argon2 hash>``."""


class ConsoleSettings(ServiceSettings):
    """Where the console listens, the services it calls, its accounts and sessions.

    ``console_accounts`` lists ``<name>:<role>:<argon2id hash>`` (roles: analyst, approver,
    admin); make a hash with ``riskstream console hash-password``. The console calls the
    warning service and the scorer with ``console_api_key``, a delegate key that acts for
    the signed-in user. ``RISKSTREAM_ENV=production`` refuses the development accounts,
    session secret and key.
    """

    service_name: str = "console"
    console_host: str = "127.0.0.1"
    console_port: int = Field(default=8004, ge=1, le=65535)
    max_body_bytes: int = Field(default=512 * 1024, ge=1024)
    warning_url: str = "http://127.0.0.1:8003"
    scorer_url: str = "http://127.0.0.1:8002"
    console_api_key: SecretStr = SecretStr(DEVELOPMENT_CONSOLE_KEY)
    upstream_timeout_s: float = Field(default=30.0, gt=0)
    redis_timeout_ms: float = Field(default=2000.0, gt=0)

    console_accounts: AccountList = Field(default_factory=_development_accounts)
    session_secret: SecretStr = SecretStr(DEVELOPMENT_SESSION_SECRET)
    session_ttl_s: int = Field(default=8 * 3600, ge=60)
    cookie_secure: bool = False
    """Send cookies over HTTPS only (set it wherever TLS terminates in front)."""
    login_attempts: int = Field(default=5, ge=1)
    """Failed sign-ins allowed per account name, and ten times as many per client address,
    in ``login_window_s`` before further attempts are refused (429)."""
    login_window_s: int = Field(default=900, ge=1)

    records_scanned: int = Field(default=20_000, ge=100)
    """Most recent records read per partition of a topic for a customer's page."""
    backtest_events: int = Field(default=20_000, ge=100)
    """Most recent events per partition replayed by a rule backtest."""

    @model_validator(mode="after")
    def _refuse_development_accounts_in_production(self) -> ConsoleSettings:
        if self.env != "production":
            return self
        if self.session_secret.get_secret_value() == DEVELOPMENT_SESSION_SECRET:
            raise ConfigurationError("RISKSTREAM_ENV=production needs RISKSTREAM_SESSION_SECRET")
        if self.console_api_key.get_secret_value() == DEVELOPMENT_CONSOLE_KEY:
            raise ConfigurationError("RISKSTREAM_ENV=production needs RISKSTREAM_CONSOLE_API_KEY")
        hasher = PasswordHasher()
        for entry in self.console_accounts:
            stored = entry.get_secret_value().split(":", 2)[-1]
            try:
                hasher.verify(stored, DEVELOPMENT_PASSWORD)
            except (VerificationError, InvalidHashError):
                continue
            raise ConfigurationError(
                "RISKSTREAM_ENV=production refuses the development console accounts; "
                "set RISKSTREAM_CONSOLE_ACCOUNTS"
            )
        return self
