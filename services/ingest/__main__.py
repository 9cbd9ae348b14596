"""``python -m services.ingest``: the event gateway on ``RISKSTREAM_INGEST_PORT`` (8001)."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.clock import SystemClock
from services.common.http import serve
from services.ingest.api import create_app
from services.ingest.core import EventGateway
from services.ingest.publisher import KafkaEventPublisher
from services.ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()

    def build() -> FastAPI:
        publisher = KafkaEventPublisher(settings, settings.produce_timeout_s)
        return create_app(
            settings, EventGateway(publisher, settings.topics, SystemClock()), publisher
        )

    serve(build, settings, settings.ingest_host, settings.ingest_port)


if __name__ == "__main__":
    main()
