"""``python -m services.ingest``: the event gateway on ``RISKSTREAM_INGEST_PORT`` (8001)."""

from __future__ import annotations

import uvicorn

from services.common.clock import SystemClock
from services.common.logs import configure_logging
from services.common.metrics import record_build
from services.ingest.api import create_app
from services.ingest.core import EventGateway
from services.ingest.publisher import KafkaEventPublisher
from services.ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    record_build(settings.service_name)
    publisher = KafkaEventPublisher(settings, settings.produce_timeout_s)
    gateway = EventGateway(publisher, settings.topics, SystemClock())
    app = create_app(settings, gateway, publisher)
    uvicorn.run(
        app, host=settings.ingest_host, port=settings.ingest_port, log_config=None, access_log=False
    )


if __name__ == "__main__":
    main()
