"""``python -m services.scorer``: the score service on ``RISKSTREAM_SCORER_PORT`` (8002)."""

from __future__ import annotations

from services.common.http import serve
from services.scorer.settings import ScorerSettings
from services.scorer.wiring import build_app


def main() -> None:
    settings = ScorerSettings()
    serve(lambda: build_app(settings), settings, settings.scorer_host, settings.scorer_port)


if __name__ == "__main__":
    main()
