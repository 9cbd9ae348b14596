"""``python -m services.features``: the feature worker (web server on
``RISKSTREAM_FEATURES_PORT``, 6066, serving /metrics, /live and /ready)."""

from __future__ import annotations

from faust.worker import Worker

from services.common.clock import SystemClock
from services.common.logs import JsonFormatter
from services.common.metrics import record_build
from services.common.redis_client import make_redis
from services.features.app import create_app
from services.features.settings import FeaturesSettings


def main() -> None:
    settings = FeaturesSettings()
    record_build(settings.service_name)
    settings.features_data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(
        settings, SystemClock(), make_redis(settings, settings.features_redis_timeout_ms)
    )
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
