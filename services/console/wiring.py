"""Builds the console from its settings: Redis (sessions), the two services' APIs, the
topic reader, the pages and the app."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.clock import SystemClock
from services.common.http import Lifecycle, readiness_from
from services.common.redis_client import make_redis
from services.console.app import create_app
from services.console.pages import Pages
from services.console.records import KafkaRecords
from services.console.sessions import Sessions
from services.console.settings import ConsoleSettings
from services.console.upstream import Upstream


def build_app(settings: ConsoleSettings) -> FastAPI:
    redis = make_redis(settings)
    sessions = Sessions(settings, redis)
    warning = Upstream("warning", settings.warning_url, settings)
    scorer = Upstream("scorer", settings.scorer_url, settings)
    records = KafkaRecords(settings)
    pages = Pages(settings, warning, scorer, records, records, redis, SystemClock())

    async def redis_ready() -> bool:
        return bool(await redis.ping())

    async def close() -> None:
        await warning.close()
        await scorer.close()
        await redis.aclose()

    return create_app(
        settings,
        sessions,
        pages,
        readiness_from([("redis", redis_ready)]),
        Lifecycle(stops=[close]),
    )
