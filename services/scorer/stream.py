"""The streaming scorer: ``features.updates`` in, ``risk.scores`` out.

Each update carries the feature vector the feature service computed after an event, so it
is scored as it is (no Redis read). Records are handled in batches, one model run per
batch; offsets are committed only after every score and dead letter of the batch is
acknowledged by Kafka (at-least-once). A score's id depends only on its trigger and model
version, so a redelivered update yields the same id. A record that cannot be scored goes to
``events.dlq`` with its topic, partition, offset and reason; the consumer never stops for
one. While no model is loaded nothing is consumed: the updates wait in Kafka.

A score of grade C or D carries the model's counterfactuals (``improvements``: the least
feasible changes found that re-score into each better grade up to B), for the notices the
warning service attaches to restricting actions; the update's ``locale`` goes along.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from pydantic import ValidationError

from schemas.features import FEATURE_SCHEMA, FeatureUpdate, to_model_row
from schemas.scores import Counterfactual
from services.common import metrics
from services.common.clock import Clock
from services.common.consuming import consume_batches, run_consumer
from services.common.dead_letters import dead_letter
from services.common.kafka import LagReporter, make_consumer
from services.common.topics import Topic
from services.scorer.core import (
    LOW_GRADES,
    RowScore,
    ServedModel,
    low_grade_improvements,
    score_record,
)
from services.scorer.metrics import COUNTERFACTUAL_SECONDS, STREAM_RECORDS
from services.scorer.ports import ModelMonitor, ModelSource, ScoringObserver
from services.scorer.producer import KafkaSink
from services.scorer.settings import ScorerSettings
from services.scorer.usecase import observed_score_rows, shadow_score

log = logging.getLogger(__name__)
_stream_records = metrics.cached_labels(STREAM_RECORDS)
_counterfactual_seconds = COUNTERFACTUAL_SECONDS.labels("stream")


class StreamScorer:
    def __init__(
        self,
        settings: ScorerSettings,
        models: ModelSource,
        sink: KafkaSink,
        clock: Clock,
        observer: ScoringObserver,
        model_loaded: asyncio.Event,
        monitor: ModelMonitor | None = None,
    ) -> None:
        self._settings = settings
        self._monitor = monitor
        self._model_loaded = model_loaded
        self._models = models
        self._sink = sink
        self._clock = clock
        self._observer = observer
        self._source_topic = settings.topics(Topic.FEATURE_UPDATES)
        self._scores_topic = settings.topics(Topic.SCORES)
        self._dlq_topic = settings.topics(Topic.DLQ)
        self._lag = LagReporter(settings.stream_group_id)
        self._consumer: AIOKafkaConsumer | None = None

    def partitions(self) -> frozenset[int]:
        """The partitions of ``features.updates`` this process holds now: its share of
        the customers (the dormant-customer scheduler re-scores those)."""
        consumer = self._consumer
        if consumer is None:
            return frozenset()
        return frozenset(tp.partition for tp in consumer.assignment())

    def _track(self, consumer: AIOKafkaConsumer | None) -> None:
        self._consumer = consumer

    async def run(self) -> None:
        """Consumes forever; reconnects after Kafka errors."""
        await self._model_loaded.wait()
        await self._sink.connected.wait()
        await run_consumer(
            "stream scorer",
            lambda: make_consumer(
                self._settings,
                self._source_topic,
                group_id=self._settings.stream_group_id,
                max_poll_records=self._settings.stream_batch_max,
            ),
            lambda consumer: consume_batches(
                consumer,
                self._handle_acknowledged,
                max_records=self._settings.stream_batch_max,
                lag=self._lag,
            ),
            on_consumer=self._track,
        )

    async def _handle_acknowledged(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        await asyncio.gather(*await self.handle(records))

    async def handle(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[Any]:
        """Scores a batch and queues its outputs; returns the futures to await before the
        batch's offsets may be committed."""
        model = self._models.champion()
        assert model is not None, "run() waits for a model before consuming"
        now = self._clock.now()
        pending: list[Any] = []
        updates: list[tuple[ConsumerRecord[bytes, bytes], FeatureUpdate]] = []
        rows: list[list[float]] = []
        for record in records:
            try:
                update = FeatureUpdate.model_validate_json(record.value or b"")
                if update.feature_schema_version != FEATURE_SCHEMA.version:
                    raise ValueError(
                        f"feature schema v{update.feature_schema_version}; "
                        f"this scorer serves v{FEATURE_SCHEMA.version}"
                    )
                row = to_model_row(update.features)
            except (ValidationError, ValueError, KeyError) as error:
                pending.append(await self._dead_letter(record, "schema_violation", str(error)))
                continue
            updates.append((record, update))
            rows.append(row)
        if rows:
            matrix = np.asarray(rows, dtype=np.float64)
            verdicts = observed_score_rows(model, matrix, self._observer, self._monitor)
            for (record, update), verdict in zip(updates, verdicts, strict=True):
                if verdict is None:
                    pending.append(
                        await self._dead_letter(
                            record, "unscorable", f"model {model.version} output is not in [0, 1]"
                        )
                    )
                    continue
                found = self._improvements(model, update, verdict)
                if found:
                    # A search runs the model a few times (a fraction of a millisecond): let
                    # the score API's requests in between, as this loop shares their process.
                    await asyncio.sleep(0)
                scored = score_record(update, verdict, model.version, now, found)
                pending.append(
                    await self._sink.send(
                        self._scores_topic,
                        update.customer_id.encode(),
                        scored.model_dump_json().encode(),
                    )
                )
                _stream_records("scored").inc()
            challenger = self._models.challenger()
            if challenger is not None and challenger is not model:
                await shadow_score(challenger, model, matrix, verdicts, self._observer)
        return pending

    def _improvements(
        self, model: ServedModel, update: FeatureUpdate, verdict: RowScore
    ) -> list[Counterfactual]:
        """For grade C or D (the grades the rules restrict), the model's counterfactuals up
        to the standard grade B, which the warning service's notices state."""
        if not self._settings.stream_counterfactuals or verdict.assessment.grade not in LOW_GRADES:
            return []
        started = time.perf_counter()
        found = low_grade_improvements(model, update.features, verdict.assessment.grade)
        _counterfactual_seconds.observe(time.perf_counter() - started)
        return found

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, detail: str
    ) -> Any:
        _stream_records(reason).inc()
        metrics.DEAD_LETTERS.labels(record.topic, reason).inc()
        letter = dead_letter(
            record,
            service=self._settings.service_name,
            reason=reason,
            detail=detail,
            now=self._clock.now(),
        )
        return await self._sink.send(self._dlq_topic, record.key, letter.model_dump_json().encode())
