"""Settings of the ingest service."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    service_name: str = "ingest"
    ingest_host: str = "127.0.0.1"
    ingest_port: int = Field(default=8001, ge=1, le=65535)
    produce_timeout_s: float = Field(default=5.0, gt=0)
    retry_after_s: int = Field(default=5, ge=1)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
