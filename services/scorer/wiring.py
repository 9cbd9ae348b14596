"""Builds the score service from its settings: adapters, use cases and the app."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from schemas.features import FEATURE_SCHEMA
from services.common.clock import SystemClock
from services.common.http import Lifecycle
from services.common.redis_client import make_redis
from services.common.redis_keys import RedisKeys
from services.scorer.admin import ModelAdmin
from services.scorer.api import create_app
from services.scorer.control import ControlFollower
from services.scorer.core import FallbackPolicy, ThinFileDefault
from services.scorer.holder import ModelHolder
from services.scorer.metrics import MODEL_LOAD_FAILURES, MODEL_MONITOR, PrometheusObserver
from services.scorer.producer import KafkaControlPublisher, KafkaSink
from services.scorer.registry import ModelRegistry
from services.scorer.settings import ScorerSettings
from services.scorer.store import RedisFeatureStore
from services.scorer.stream import StreamScorer
from services.scorer.usecase import Budgets, Scorer


def build_app(settings: ScorerSettings) -> FastAPI:
    clock = SystemClock()
    observer = PrometheusObserver()
    holder = ModelHolder()
    redis = make_redis(settings)
    store = RedisFeatureStore(
        redis, RedisKeys(settings.redis_key_prefix), settings.event_partitions
    )
    scorer = Scorer(
        store,
        holder,
        clock,
        observer,
        Budgets(
            redis_s=settings.redis_budget_ms / 1000,
            model_s=settings.model_budget_ms / 1000,
            inline_rows=settings.inline_inference_rows,
            features_max_age=timedelta(seconds=settings.features_max_age_s),
        ),
        FallbackPolicy(
            credit_decision=settings.fallback_credit_decision,
            other_decision=settings.fallback_other_decision,
            grade=settings.fallback_grade,
            risk_level=settings.fallback_risk_level,
            score=settings.fallback_score,
            probability_of_default=settings.fallback_probability,
            credit_limit=settings.fallback_credit_limit,
        ),
        ThinFileDefault(
            probability_of_default=settings.thin_file_probability,
            grade=settings.thin_file_grade,
            credit_limit=settings.thin_file_credit_limit,
        ),
        MODEL_MONITOR,
    )
    registry = ModelRegistry(settings.model_registry_dir, FEATURE_SCHEMA)
    sink = KafkaSink(settings, timeout_s=10.0)
    admin = ModelAdmin(
        registry,
        KafkaControlPublisher(sink, settings),
        holder,
        clock,
        settings.swap_wait_s,
        lambda operation: MODEL_LOAD_FAILURES.labels(operation).inc(),
    )
    follower = ControlFollower(settings, holder, registry, FEATURE_SCHEMA)
    background = [follower.run]
    if settings.stream_enabled:
        background.append(
            StreamScorer(
                settings, holder, sink, clock, observer, holder.champion_loaded, MODEL_MONITOR
            ).run
        )

    async def close_redis() -> None:
        await redis.aclose()

    return create_app(
        settings,
        scorer,
        admin,
        holder,
        store.ready,
        Lifecycle(starts=[sink.start], stops=[sink.stop, close_redis], background=background),
        store.completeness,
    )
