"""Builds the score service from its settings: adapters, use cases and the app."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from schemas.changes import ChangeKind, ChangeRequest
from schemas.features import FEATURE_SCHEMA
from services.common.changes import Applier, ChangeDesk, ChangeError, ChangeLedger
from services.common.clock import SystemClock
from services.common.http import Background, Lifecycle
from services.common.kafka import ResilientProducer
from services.common.redis_client import make_redis
from services.common.redis_keys import RedisKeys
from services.common.tiers import read_service_tiers
from services.common.topics import Topic
from services.scorer.admin import SERVICE, ModelAdmin
from services.scorer.api import create_app
from services.scorer.control import ControlFollower
from services.scorer.core import FallbackPolicy, ThinFileDefault
from services.scorer.decision_copy import DecisionCopier, RedisDecisionReader
from services.scorer.decision_log import DecisionLogWriter
from services.scorer.explanations import Explainer
from services.scorer.holder import ModelHolder
from services.scorer.metrics import MODEL_LOAD_FAILURES, MODEL_MONITOR, PrometheusObserver
from services.scorer.producer import KafkaControlPublisher, KafkaSink
from services.scorer.registry import ModelRegistry
from services.scorer.rescoring import Rescheduler
from services.scorer.settings import ScorerSettings
from services.scorer.spool import Spool
from services.scorer.store import RedisFeatureStore
from services.scorer.stream import StreamScorer
from services.scorer.usecase import Budgets, Scorer

BACKGROUND_REDIS_TIMEOUT_MS = 2000.0
"""Redis timeout of the decision copy's reads and writes (batches, off the checkout path)."""


def model_appliers(admin: ModelAdmin) -> dict[ChangeKind, Applier]:
    """Puts approved activations and rollbacks in force; a change proposed while another
    model was champion is refused as stale."""

    def check_base(change: ChangeRequest) -> None:
        if admin.champion() != change.base:
            raise ChangeError(
                "stale_change",
                f"the champion changed since change {change.change_id} was proposed "
                f"(then {change.base}, now {admin.champion()})",
            )

    def approval(change: ChangeRequest, approver: str) -> dict[str, Any]:
        return {
            "change_id": change.change_id,
            "proposed_by": change.proposed_by,
            "approved_by": approver,
        }

    async def activate(change: ChangeRequest, approver: str) -> dict[str, Any]:
        check_base(change)
        return await admin.activate(
            change.target, approver, change.reason, approval(change, approver)
        )

    async def rollback(change: ChangeRequest, approver: str) -> dict[str, Any]:
        check_base(change)
        return await admin.rollback(approver, change.reason, approval(change, approver))

    return {"model.activate": activate, "model.rollback": rollback}


def build_app(settings: ScorerSettings) -> FastAPI:
    clock = SystemClock()
    observer = PrometheusObserver()
    holder = ModelHolder()
    redis = make_redis(settings)
    background_redis = make_redis(settings, timeout_ms=BACKGROUND_REDIS_TIMEOUT_MS)
    keys = RedisKeys(settings.redis_key_prefix)
    store = RedisFeatureStore(redis, keys, settings.event_partitions)
    decision_sink = ResilientProducer(settings, timeout_s=settings.decision_produce_timeout_s)
    decision_log = DecisionLogWriter(
        decision_sink,
        settings.topics(Topic.DECISIONS),
        Spool(
            settings.decision_spool_dir,
            settings.decision_spool_max_bytes,
            settings.decision_spool_segment_bytes,
        ),
        batch_max=settings.decision_log_batch_max,
        linger_s=settings.decision_log_linger_ms / 1000,
        queue_max=settings.decision_log_queue_max,
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
        decision_log if settings.decision_log_enabled else None,
        read_service_tiers(settings.service_tiers_path),
    )
    registry = ModelRegistry(
        settings.model_registry_dir, FEATURE_SCHEMA, settings.min_adverse_impact_ratio
    )
    sink = KafkaSink(settings, timeout_s=10.0)
    publisher = KafkaControlPublisher(sink, settings)
    admin = ModelAdmin(
        registry,
        publisher,
        holder,
        clock,
        settings.swap_wait_s,
        lambda operation: MODEL_LOAD_FAILURES.labels(operation).inc(),
    )
    follower = ControlFollower(settings, holder, registry, FEATURE_SCHEMA)
    ledger = ChangeLedger(settings, sink)
    changes = ChangeDesk(SERVICE, ledger, clock, model_appliers(admin))
    background: list[Background] = [follower.run, ledger.run]
    starts = [sink.start]
    stops = [sink.stop]
    if settings.decision_log_enabled:
        starts += [decision_sink.start, decision_log.start]
        stops = [decision_log.close, *stops, decision_sink.stop]
        background.append(decision_log.run)
    if settings.decision_copy_enabled:
        background.append(DecisionCopier(settings, background_redis, keys, sink, clock).run)
    if settings.stream_enabled:
        stream = StreamScorer(
            settings, holder, sink, clock, observer, holder.champion_loaded, MODEL_MONITOR
        )
        background.append(stream.run)
        if settings.rescore_enabled:
            background.append(
                Rescheduler(
                    settings,
                    background_redis,
                    keys,
                    RedisFeatureStore(background_redis, keys, settings.event_partitions),
                    holder,
                    sink,
                    publisher,
                    clock,
                    stream.partitions,
                ).run
            )

    async def close_redis() -> None:
        await redis.aclose()
        await background_redis.aclose()

    return create_app(
        settings,
        scorer,
        admin,
        changes,
        holder,
        store.ready,
        Lifecycle(starts=starts, stops=[*stops, close_redis], background=background),
        explainer=Explainer(scorer),
        decisions=RedisDecisionReader(background_redis, keys),
        audit=publisher,
        clock=clock,
        store_details=store.completeness,
    )
