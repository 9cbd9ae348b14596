"""``python -m services.scorer``: the score service on ``RISKSTREAM_SCORER_PORT`` (8002)."""

from __future__ import annotations

import uvicorn

from services.common.logs import configure_logging
from services.common.metrics import record_build
from services.scorer.settings import ScorerSettings
from services.scorer.wiring import build_app


def main() -> None:
    settings = ScorerSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    record_build(settings.service_name)
    uvicorn.run(
        build_app(settings),
        host=settings.scorer_host,
        port=settings.scorer_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
