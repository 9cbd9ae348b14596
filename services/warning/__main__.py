"""``python -m services.warning``: the warning service (HTTP API and ``risk.scores``
consumer in one process) on ``RISKSTREAM_WARNING_PORT`` (8003)."""

from __future__ import annotations

import uvicorn

from services.common.logs import configure_logging
from services.common.metrics import record_build
from services.warning.settings import WarningSettings
from services.warning.wiring import build_app


def main() -> None:
    settings = WarningSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    record_build(settings.service_name)
    uvicorn.run(
        build_app(settings),
        host=settings.warning_host,
        port=settings.warning_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
