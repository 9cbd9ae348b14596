"""``python -m services.reporting``: the outcomes monitor on ``RISKSTREAM_REPORTING_PORT``
(8005): realised bad rates by monthly cohort and grade beside the predicted PD, as
Prometheus gauges."""

from __future__ import annotations

from services.common.http import serve
from services.reporting.settings import ReportingSettings
from services.reporting.wiring import build_app


def main() -> None:
    settings = ReportingSettings()
    serve(lambda: build_app(settings), settings, settings.reporting_host, settings.reporting_port)


if __name__ == "__main__":
    main()
