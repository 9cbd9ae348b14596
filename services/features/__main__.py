"""``python -m services.features``: the feature worker (web server on
``RISKSTREAM_FEATURES_PORT``, 6066, serving /metrics, /live and /ready)."""

from __future__ import annotations

import asyncio
import logging

import faust
import uvloop
from aiokafka.errors import KafkaError
from faust.worker import Worker

from services.common.clock import SystemClock
from services.common.kafka import ensure_topics
from services.common.logs import JsonFormatter
from services.common.metrics import record_build
from services.common.redis_client import make_redis
from services.features.app import create_app
from services.features.settings import FeaturesSettings


async def create_changelogs(settings: FeaturesSettings) -> None:
    """Creates the tables' changelog topics if they are missing, waiting for Kafka as long
    as it takes (see ``FeaturesSettings.changelogs``)."""
    while True:
        try:
            await ensure_topics(settings, settings.changelogs())
            return
        except (KafkaError, TimeoutError) as error:
            logging.getLogger(__name__).warning(
                "Kafka not ready for the changelog topic, retrying", extra={"error": repr(error)}
            )
            await asyncio.sleep(2.0)


def main() -> None:
    # uvloop, as the other services run: its event loop and transports cost a fraction of
    # asyncio's own per callback and per socket write.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    settings = FeaturesSettings()
    record_build(settings.service_name)
    settings.features_data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(create_changelogs(settings))
    app = create_app(
        settings, SystemClock(), make_redis(settings, settings.features_redis_timeout_ms)
    )
    run_worker(app, settings)


def run_worker(app: faust.App, settings: FeaturesSettings) -> None:
    """Runs ``app`` in faust's worker until it is stopped, logging as the service does:
    JSON lines on stderr at ``settings.log_level``, faust's and Kafka's own loggers at
    WARNING (their debug records would otherwise be built on every send)."""
    logging_config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "service": settings.service_name}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["stderr"], "level": settings.log_level},
        "loggers": {name: {"level": "WARNING"} for name in ("aiokafka", "faust", "mode")},
    }
    worker = Worker(
        app,
        loglevel=settings.log_level,
        logging_config=logging_config if settings.log_format == "json" else None,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
