"""Settings of the outcomes monitor (``RISKSTREAM_<FIELD>``)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    """Transport and refresh settings of ``python -m services.reporting``."""

    service_name: str = "reporting"
    reporting_host: str = "127.0.0.1"
    reporting_port: int = Field(default=8005, ge=1, le=65535)
    outcomes_refresh_s: float = Field(default=30.0, gt=0)
    """How often the vintage gauges are recomputed from what has been read."""
    outcomes_cohorts: int = Field(default=12, ge=1, le=60)
    """Monthly cohorts exported (the latest ones), which bounds the gauges' label sets."""
