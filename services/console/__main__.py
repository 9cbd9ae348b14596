"""``python -m services.console``: the risk team's console on ``RISKSTREAM_CONSOLE_PORT``
(8004)."""

from __future__ import annotations

from services.common.http import serve
from services.console.settings import ConsoleSettings
from services.console.wiring import build_app


def main() -> None:
    settings = ConsoleSettings()
    serve(lambda: build_app(settings), settings, settings.console_host, settings.console_port)


if __name__ == "__main__":
    main()
