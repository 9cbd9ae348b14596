"""Builds the warning service from settings: Redis store, Kafka publisher and consumer,
the state log and the guard that rebuilds Redis from it, the rulebook with its file
watcher, the use case and the app."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.clock import SystemClock
from services.common.http import Lifecycle, readiness_from
from services.common.rebuilds import EpochGuard, EpochMarker, Pacer
from services.common.redis_client import make_redis
from services.common.redis_keys import RedisKeys, Writer
from services.common.settings import ConfigurationError
from services.warning.api import create_app
from services.warning.consumer import ScoreConsumer
from services.warning.errors import RulesError
from services.warning.metrics import PrometheusObserver
from services.warning.publisher import KafkaPublisher
from services.warning.rulebook import LiveRules, Rulebook
from services.warning.rules_file import RulesFileWatcher, file_origin
from services.warning.settings import WarningSettings
from services.warning.state_log import KafkaStateHistory
from services.warning.store import RedisStateStore
from services.warning.usecase import WarningDesk


def initial_rules(settings: WarningSettings, clock: SystemClock) -> LiveRules:
    """The rule file's rules; ConfigurationError when it is missing or invalid (at start-up
    there are no older rules to keep, so the service refuses to start)."""
    path = settings.rules_path
    try:
        text = path.read_bytes()
    except OSError as error:
        raise ConfigurationError(f"rule file {path} cannot be read: {error}") from error
    try:
        return LiveRules.parse(text, file_origin(path), clock.now())
    except RulesError as error:
        raise ConfigurationError(f"rule file {path}: {error}") from error


def build_app(settings: WarningSettings) -> FastAPI:
    clock = SystemClock()
    observer = PrometheusObserver()
    redis = make_redis(settings)
    keys = RedisKeys(settings.redis_key_prefix)
    store = RedisStateStore(redis, keys, settings.event_partitions)
    publisher = KafkaPublisher(settings, settings.produce_timeout_s)
    rulebook = Rulebook(initial_rules(settings, clock), publisher, clock, observer)
    desk = WarningDesk(rulebook, store, publisher, publisher, publisher, clock, observer)
    consumer = ScoreConsumer(settings, desk, publisher, clock, publisher.connected)
    guard = EpochGuard(
        Writer.WARNING, EpochMarker(redis, keys, Writer.WARNING), settings.redis_epoch_check_s
    )
    consumer.on_revoke(guard.cancel)
    history = KafkaStateHistory(settings)

    async def restore(partitions: frozenset[int]) -> bool:
        pacer = Pacer(settings.redis_rebuild_rate)
        return await desk.restore(partitions, history, pacer.take, settings.redis_rebuild_batch)

    async def guard_store() -> None:
        await guard.run(consumer.partitions, restore)

    watcher = RulesFileWatcher(settings.rules_path, rulebook, settings.rules_poll_s)

    async def consumer_assigned() -> bool:
        return consumer.assigned()

    async def store_complete() -> bool:
        return guard.complete()

    async def close_redis() -> None:
        await redis.aclose()

    return create_app(
        settings,
        desk,
        rulebook,
        readiness_from(
            [
                ("kafka_consumer", consumer_assigned),
                ("redis", store.ready),
                ("store_complete", store_complete),
            ]
        ),
        Lifecycle(
            starts=[publisher.start],
            stops=[publisher.stop, close_redis],
            background=[consumer.run, guard_store, watcher.run],
        ),
        guard.details,
    )
