"""Builds the signal gateway from its settings: the exchange consumer, the producers (to the
platform's cluster, and to the exchange's when it is another) and the app."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.clock import SystemClock
from services.common.http import Lifecycle, readiness_from
from services.common.kafka import ResilientProducer
from services.signals.api import create_app
from services.signals.intake import SignalIntake, intake_policy
from services.signals.publishing import SignalPublisher
from services.signals.settings import SignalsSettings


def build_app(settings: SignalsSettings) -> FastAPI:
    clock = SystemClock()
    platform = ResilientProducer(settings, settings.produce_timeout_s)
    separate = settings.exchange_bootstrap_servers not in (None, settings.kafka_bootstrap_servers)
    exchange = (
        ResilientProducer(settings.exchange(), settings.produce_timeout_s) if separate else platform
    )
    intake = SignalIntake(settings, intake_policy(settings), clock, platform)
    publisher = SignalPublisher(settings, exchange, platform, clock)
    producers = [platform, exchange] if separate else [platform]

    async def reading() -> bool:
        return intake.reading

    lifecycle = Lifecycle(
        starts=[producer.start for producer in producers],
        stops=[producer.stop for producer in producers],
        background=[intake.run],
    )
    readiness = readiness_from(
        [("kafka", platform.ready), ("exchange", exchange.ready), ("exchange_consumer", reading)]
    )
    return create_app(settings, publisher, lifecycle, readiness)
