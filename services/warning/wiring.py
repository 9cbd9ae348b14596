"""Builds the warning service from settings: Redis store, Kafka publisher and consumer,
the state log and the guard that rebuilds Redis from it, the rulebook with its file
watcher, the use case and the app."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from fastapi import FastAPI

from schemas.changes import ChangeRequest
from services.common.changes import Applier, ChangeDesk, ChangeError, ChangeLedger
from services.common.clock import Clock, SystemClock
from services.common.http import Lifecycle, readiness_from
from services.common.rebuilds import EpochGuard, EpochMarker, Pacer
from services.common.redis_client import make_redis
from services.common.redis_keys import RedisKeys, Writer
from services.common.settings import ConfigurationError
from services.common.tiers import read_service_tiers
from services.warning.api import create_app, rules_view
from services.warning.consumer import ScoreConsumer
from services.warning.core import DEFAULT_RULES_PATH
from services.warning.errors import RulesError, StoreUnavailableError
from services.warning.metrics import PrometheusObserver
from services.warning.publisher import KafkaPublisher
from services.warning.rulebook import LiveRules, Rulebook
from services.warning.rules_file import RulesFileWatcher, file_origin, write_atomically
from services.warning.scoring import HttpScoreSource
from services.warning.settings import WarningSettings
from services.warning.state_log import KafkaStateHistory
from services.warning.store import RedisStateStore
from services.warning.usecase import SERVICE, WarningDesk

log = logging.getLogger(__name__)


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


def rules_applier(settings: WarningSettings, rulebook: Rulebook) -> Applier:
    """Puts an approved rule change in force: refused as stale when the live rules are no
    longer those it was proposed against; written back to the rule file unless that is the
    packaged default."""
    persist = (
        None
        if settings.rules_path.resolve() == DEFAULT_RULES_PATH
        else partial(write_atomically, settings.rules_path)
    )

    async def apply(change: ChangeRequest, approver: str) -> dict[str, Any]:
        live = rulebook.live()
        if change.payload is None or live.sha256 != change.base:
            raise ChangeError(
                "stale_change",
                f"the live rules changed since change {change.change_id} was proposed; "
                "propose it again against the rules now live",
            )
        result = await rulebook.replace(
            change.payload.encode(),
            origin="api",
            source="api",
            actor=approver,
            persist=persist,
            approval={
                "change_id": change.change_id,
                "proposed_by": change.proposed_by,
                "approved_by": approver,
            },
        )
        return {
            **rules_view(result.live),
            "changed": result.changed,
            "persisted": result.changed and persist is not None,
        }

    return apply


async def watch_review_queue(
    store: RedisStateStore, observer: PrometheusObserver, clock: Clock, interval_s: float
) -> None:
    """Publishes the review queue's length and its oldest case's age as metrics."""
    while True:
        try:
            waiting, oldest = await store.queue_stats()
        except StoreUnavailableError as error:
            log.warning("review queue not measured", extra={"error": str(error)})
        else:
            now = clock.now().timestamp()
            observer.queue(waiting, 0.0 if oldest is None else max(now - oldest, 0.0))
        await asyncio.sleep(interval_s)


def build_app(settings: WarningSettings) -> FastAPI:
    clock = SystemClock()
    observer = PrometheusObserver()
    redis = make_redis(settings)
    keys = RedisKeys(settings.redis_key_prefix)
    tiers = read_service_tiers(settings.service_tiers_path)
    store = RedisStateStore(redis, keys, settings.event_partitions, tiers)
    publisher = KafkaPublisher(settings, settings.produce_timeout_s)
    rulebook = Rulebook(initial_rules(settings, clock), publisher, clock, observer)
    scores = HttpScoreSource(settings.scorer_url, settings.score_key, settings.scorer_timeout_s)
    desk = WarningDesk(
        rulebook,
        store,
        publisher,
        publisher,
        publisher,
        clock,
        observer,
        tiers=tiers,
        scores=scores,
        decisions=store,
    )
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
    ledger = ChangeLedger(settings, publisher)
    changes = ChangeDesk(SERVICE, ledger, clock, {"rules": rules_applier(settings, rulebook)})

    async def consumer_assigned() -> bool:
        return consumer.assigned()

    async def store_complete() -> bool:
        return guard.complete()

    async def close_redis() -> None:
        await redis.aclose()

    async def queue_metrics() -> None:
        await watch_review_queue(store, observer, clock, settings.lag_interval_s)

    return create_app(
        settings,
        desk,
        rulebook,
        changes,
        readiness_from(
            [
                ("kafka_consumer", consumer_assigned),
                ("redis", store.ready),
                ("store_complete", store_complete),
            ]
        ),
        Lifecycle(
            starts=[publisher.start, scores.start],
            stops=[publisher.stop, scores.stop, close_redis],
            background=[consumer.run, guard_store, watcher.run, ledger.run, queue_metrics],
        ),
        guard.details,
    )
