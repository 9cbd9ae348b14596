"""``python -m services.signals``: the signal gateway on ``RISKSTREAM_SIGNALS_PORT`` (8006):
shared risk signals in from the exchange and this platform's own out (docs/sharing.md)."""

from __future__ import annotations

from services.common.http import serve
from services.signals.settings import SignalsSettings
from services.signals.wiring import build_app


def main() -> None:
    settings = SignalsSettings()
    serve(lambda: build_app(settings), settings, settings.signals_host, settings.signals_port)


if __name__ == "__main__":
    main()
