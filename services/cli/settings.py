"""Settings of the ``riskstream`` command line."""

from __future__ import annotations

from pydantic import SecretStr

from services.common.settings import DEVELOPMENT_ADMIN_KEY, DEVELOPMENT_CLIENT_KEY, ServiceSettings


class CliSettings(ServiceSettings):
    service_name: str = "cli"
    ingest_url: str = "http://127.0.0.1:8001"
    scorer_url: str = "http://127.0.0.1:8002"
    warning_url: str = "http://127.0.0.1:8003"
    console_url: str = "http://127.0.0.1:8004"
    api_key: SecretStr = SecretStr(DEVELOPMENT_CLIENT_KEY)
    """Key the command line sends to the HTTP services (RISKSTREAM_API_KEY)."""
    admin_api_key: SecretStr = SecretStr(DEVELOPMENT_ADMIN_KEY)
    """Key for administrative commands (RISKSTREAM_ADMIN_API_KEY)."""
    auditor_api_key: SecretStr | None = None
    """Key for reading the decision log (RISKSTREAM_AUDITOR_API_KEY); the admin key if unset."""
