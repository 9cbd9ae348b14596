"""``python -m services.warning``: the warning service (HTTP API and ``risk.scores``
consumer in one process) on ``RISKSTREAM_WARNING_PORT`` (8003)."""

from __future__ import annotations

from services.common.http import serve
from services.warning.settings import WarningSettings
from services.warning.wiring import build_app


def main() -> None:
    settings = WarningSettings()
    serve(lambda: build_app(settings), settings, settings.warning_host, settings.warning_port)


if __name__ == "__main__":
    main()
