"""Builds the outcomes monitor's app: ``/live``, ``/ready`` (reading Kafka) and
``/metrics`` (the vintage gauges)."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.http import NO_OPENTELEMETRY, Lifecycle, install_common, readiness_from
from services.reporting.monitor import OutcomesMonitor
from services.reporting.settings import ReportingSettings


def build_app(settings: ReportingSettings) -> FastAPI:
    monitor = OutcomesMonitor(settings)

    async def reading() -> bool:
        return monitor.reading()

    lifecycle = Lifecycle(background=[monitor.run, monitor.export_forever])
    app = FastAPI(
        telemetry=NO_OPENTELEMETRY, title="riskstream outcomes monitor", lifespan=lifecycle.lifespan
    )
    install_common(app, readiness_from([("kafka_consumer", reading)]))
    return app
