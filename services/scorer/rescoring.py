"""The dormant-customer scheduler: once a day, each partition's dormant customers are
re-scored and their scores published on ``risk.scores`` (see
:mod:`services.scorer.core.rescoring` for what is re-scored and why the ids are stable).

It runs in every scorer process beside the stream scorer and works only on the partitions
that process's stream consumer holds (the consumer group spreads ``features.updates``,
co-partitioned with every customer's events, over the scorer instances), so several
instances share the work instead of repeating it. Every ``RISKSTREAM_RESCORE_CHECK_S`` it
looks for partitions whose run instant has passed and whose run for that day is not
marked done in Redis; a run:

1. finds the partition's customers by scanning the feature-state keys (a customer's
   partition is the default partitioner's, murmur2 of the customer id, as for every topic);
2. reads each batch's feature and risk states in one round trip with the epoch keys, as the
   score API does: while the store is incomplete (Redis lost data) the run stops, and is
   tried again at the next check;
3. computes the features for windows ending at the run instant, scores the due customers
   in one model run per batch, and publishes the scores (acks=all), paced at
   ``RISKSTREAM_RESCORE_RATE`` customers a second so the score API keeps the process;
4. marks the day done, counts the run and records it on ``risk.audit`` (``rescore.run``),
   which the portfolio report lists.

A run repeated for the same day (the marker lost, a partition moving between instances
mid-run) publishes the same scores with the same ids; the warning service skips them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime, timedelta

import numpy as np
from aiokafka.partitioner import murmur2
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from schemas.actions import CustomerRiskState
from schemas.features import FEATURE_SCHEMA, to_model_row
from schemas.records import AuditRecord
from schemas.scores import Counterfactual, Grade
from services.common.clock import Clock
from services.common.rebuilds import Pacer
from services.common.redis_client import as_bytes
from services.common.redis_keys import RedisKeys
from services.common.topics import Topic
from services.features.core import CustomerState, FeaturesError, compute_features, from_us
from services.scorer.core import (
    Dormancy,
    Rescore,
    RunSummary,
    ServedModel,
    dormancy,
    due_day,
    low_grade_improvements,
    rescore_record,
    run_instant,
    score_rows,
)
from services.scorer.errors import StoreUnavailableError
from services.scorer.metrics import (
    RESCORE_CUSTOMERS,
    RESCORE_LAST_RUN,
    RESCORE_RUN_SECONDS,
    RESCORE_RUNS,
)
from services.scorer.ports import FeatureStore, ModelSource
from services.scorer.producer import KafkaControlPublisher, KafkaSink
from services.scorer.settings import ScorerSettings

log = logging.getLogger(__name__)

SERVICE = "scorer"
ACTOR = "rescore-scheduler"


class RunAbortedError(Exception):
    """A run stopped short (incomplete store, no model, Redis or Kafka failing); it is
    tried again at the next check."""


def partition_of(customer_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record keyed by ``customer_id``."""
    digest: int = murmur2(customer_id.encode())
    return (digest & 0x7FFFFFFF) % partitions


class Rescheduler:
    def __init__(
        self,
        settings: ScorerSettings,
        redis: Redis,
        keys: RedisKeys,
        store: FeatureStore,
        models: ModelSource,
        sink: KafkaSink,
        audit: KafkaControlPublisher,
        clock: Clock,
        partitions: Callable[[], frozenset[int]],
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._keys = keys
        self._store = store
        self._models = models
        self._sink = sink
        self._audit = audit
        self._clock = clock
        self._partitions = partitions
        self._topic = settings.topics(Topic.SCORES)
        self._dormant_after = timedelta(seconds=settings.rescore_dormant_after_s)
        self._horizon = timedelta(seconds=settings.rescore_horizon_s)

    async def run(self) -> None:
        """Checks for due runs every ``rescore_check_s``, forever."""
        await self._sink.connected.wait()
        while True:
            try:
                await self.run_due()
            except RunAbortedError as error:
                log.warning("re-score run stopped short", extra={"error": str(error)})
            await asyncio.sleep(self._settings.rescore_check_s)

    async def run_due(self) -> list[RunSummary]:
        """Runs every owned partition whose run for its due day is not marked done."""
        done: list[RunSummary] = []
        total = self._settings.event_partitions
        for partition in sorted(self._partitions()):
            day = due_day(self._clock.now(), partition, total)
            if await self._last_day(partition) == day:
                continue
            done.append(await self.run_partition(partition, day))
        return done

    async def _last_day(self, partition: int) -> date | None:
        try:
            stored = as_bytes(await self._redis.get(self._keys.rescored(partition)))
        except (RedisError, OSError) as error:
            raise RunAbortedError(f"redis: {type(error).__name__}") from error
        return None if stored is None else date.fromisoformat(stored.decode())

    async def run_partition(self, partition: int, day: date) -> RunSummary:
        """Re-scores ``partition``'s dormant customers for ``day`` at its run instant, marks
        the day done and records the run. Raises RunAbortedError when it stopped short."""
        at = run_instant(day, partition, self._settings.event_partitions)
        summary = RunSummary(partition, day, at)
        started = time.monotonic()
        pacer = Pacer(self._settings.rescore_rate)
        batch: list[str] = []
        try:
            async for customer_id in self._customers(partition):
                batch.append(customer_id)
                if len(batch) >= self._settings.rescore_batch:
                    await pacer.take(len(batch))
                    await self._rescore(batch, day, at, summary)
                    batch = []
            if batch:
                await pacer.take(len(batch))
                await self._rescore(batch, day, at, summary)
            summary.seconds = time.monotonic() - started
            await self._redis.set(self._keys.rescored(partition), day.isoformat())
            await self._audit.publish_audit(
                AuditRecord.new(
                    service=SERVICE,
                    actor=ACTOR,
                    operation="rescore.run",
                    subject=f"partition {partition}",
                    reason=f"dormant customers re-scored for {day.isoformat()}",
                    details=summary.details(),
                    at=self._clock.now(),
                )
            )
        except (RunAbortedError, RedisError, OSError, StoreUnavailableError) as error:
            RESCORE_RUNS.labels("aborted").inc()
            raise RunAbortedError(f"partition {partition}, {day}: {error}") from error
        except Exception as error:
            RESCORE_RUNS.labels("aborted").inc()
            raise RunAbortedError(f"partition {partition}, {day}: {error!r}") from error
        RESCORE_RUNS.labels("completed").inc()
        RESCORE_RUN_SECONDS.observe(summary.seconds)
        RESCORE_LAST_RUN.labels(str(partition)).set(time.time())
        for outcome in ("rescored", "active", "expired", "unreadable", "unscorable"):
            RESCORE_CUSTOMERS.labels(outcome).inc(getattr(summary, outcome))
        log.info("re-score run done", extra=summary.details())
        return summary

    async def _customers(self, partition: int) -> AsyncIterator[str]:
        """The customers with a feature state whose key maps to ``partition``."""
        total = self._settings.event_partitions
        async for key in self._redis.scan_iter(
            match=self._keys.feature_state_pattern(), count=self._settings.rescore_scan_count
        ):
            text = key.decode() if isinstance(key, bytes) else str(key)
            customer_id = self._keys.customer_of_feature_state(text)
            if customer_id is not None and partition_of(customer_id, total) == partition:
                yield customer_id

    async def _rescore(
        self, customer_ids: Sequence[str], day: date, at: datetime, summary: RunSummary
    ) -> None:
        model = self._models.champion()
        if model is None:
            raise RunAbortedError("no model is loaded")
        read = await self._store.fetch(customer_ids)
        if not read.complete:
            raise RunAbortedError("the store is being rebuilt")
        due: list[Rescore] = []
        for customer_id, stored in zip(customer_ids, read.customers, strict=True):
            rescore = self._due(customer_id, stored.feature_state, stored.risk_state, at, summary)
            if rescore is not None:
                due.append(rescore)
        if not due:
            return
        rows = np.asarray([to_model_row(r.features) for r in due], dtype=np.float64)
        verdicts = score_rows(model, rows)
        sends = []
        for rescore, verdict in zip(due, verdicts, strict=True):
            if verdict is None:
                summary.unscorable += 1
                continue
            record = rescore_record(
                rescore,
                verdict,
                model.version,
                FEATURE_SCHEMA.version,
                day,
                at,
                self._improvements(model, rescore, verdict.assessment.grade),
            )
            sends.append(
                await self._sink.send(
                    self._topic, rescore.customer_id.encode(), record.model_dump_json().encode()
                )
            )
            summary.rescored += 1
        await asyncio.gather(*sends)

    def _improvements(
        self, model: ServedModel, rescore: Rescore, grade: Grade
    ) -> list[Counterfactual]:
        """The notices' counterfactuals, as streamed scores carry them."""
        if not self._settings.stream_counterfactuals:
            return []
        return low_grade_improvements(model, rescore.features, grade)

    def _due(
        self,
        customer_id: str,
        feature_state: bytes | None,
        risk_state: bytes | None,
        at: datetime,
        summary: RunSummary,
    ) -> Rescore | None:
        if feature_state is None:
            return None  # the key went away since the scan
        try:
            state = CustomerState.from_bytes(feature_state)
            if state.clock_us is None:
                return None
            last_event_at = from_us(state.clock_us)
            kind = dormancy(last_event_at, at, self._dormant_after, self._horizon)
            if kind == Dormancy.ACTIVE:
                summary.active += 1
                return None
            if kind == Dormancy.EXPIRED:
                summary.expired += 1
                return None
            features = compute_features(state, at)
            locale = (
                None
                if risk_state is None
                else CustomerRiskState.model_validate_json(risk_state).locale
            )
        except (FeaturesError, ValidationError):
            summary.unreadable += 1
            return None
        return Rescore(customer_id, features, last_event_at, locale)
