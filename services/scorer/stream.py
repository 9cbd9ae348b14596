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

from schemas.codecs import FeatureUpdateRecord, decode_feature_update
from schemas.features import FEATURE_SCHEMA, to_model_row
from schemas.scores import Counterfactual
from services.common import metrics
from services.common.clock import Clock
from services.common.consuming import consume_batches, run_consumer
from services.common.dead_letters import dead_letter
from services.common.kafka import LagReporter, make_consumer
from services.common.topics import Topic
from services.scorer.core import (
    LOW_GRADES,
    STANDARD_GRADE,
    RowScore,
    ServedModel,
    better_grades,
    improvements_of,
    score_record_bytes,
)
from services.scorer.metrics import COUNTERFACTUAL_SECONDS, STREAM_RECORDS
from services.scorer.ports import ModelMonitor, ModelSource, ScoringObserver
from services.scorer.producer import KafkaSink
from services.scorer.settings import ScorerSettings
from services.scorer.usecase import observed_score_rows, shadow_score

log = logging.getLogger(__name__)
_stream_records = metrics.cached_labels(STREAM_RECORDS)
_counterfactual_seconds = COUNTERFACTUAL_SECONDS.labels("stream")
SEARCH_SLICE = 64
"""Counterfactual searches run side by side at most this many at a time."""


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
                commit_interval_s=self._settings.kafka_commit_interval_ms / 1000,
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
        letters: list[tuple[bytes | None, bytes]] = []
        updates: list[tuple[ConsumerRecord[bytes, bytes], FeatureUpdateRecord]] = []
        rows: list[list[float]] = []
        for record in records:
            try:
                update = decode_feature_update(record.value or b"")
                if update.feature_schema_version != FEATURE_SCHEMA.version:
                    raise ValueError(
                        f"feature schema v{update.feature_schema_version}; "
                        f"this scorer serves v{FEATURE_SCHEMA.version}"
                    )
                row = to_model_row(update.features)
            except (ValidationError, ValueError, KeyError) as error:
                letters.append(self._dead_letter(record, "schema_violation", str(error)))
                continue
            updates.append((record, update))
            rows.append(row)
        scores: list[tuple[bytes | None, bytes]] = []
        if rows:
            matrix = np.asarray(rows, dtype=np.float64)
            verdicts = observed_score_rows(model, matrix, self._observer, self._monitor)
            found = await self._improvements(model, updates, verdicts)
            for (record, update), verdict, improved in zip(updates, verdicts, found, strict=True):
                if verdict is None:
                    letters.append(
                        self._dead_letter(
                            record, "unscorable", f"model {model.version} output is not in [0, 1]"
                        )
                    )
                    continue
                value = score_record_bytes(update, verdict, model.version, now, improved)
                scores.append((update.customer_id.encode(), value))
            _stream_records("scored").inc(len(scores))
            challenger = self._models.challenger()
            if challenger is not None and challenger is not model:
                await shadow_score(challenger, model, matrix, verdicts, self._observer)
        pending = await self._sink.send_batch(self._scores_topic, scores)
        return pending + await self._sink.send_batch(self._dlq_topic, letters)

    async def _improvements(
        self,
        model: ServedModel,
        updates: Sequence[tuple[ConsumerRecord[bytes, bytes], FeatureUpdateRecord]],
        verdicts: Sequence[RowScore | None],
    ) -> list[list[Counterfactual]]:
        """For each score of grade C or D (the grades the rules restrict), the model's
        counterfactuals up to the standard grade B, which the warning service's notices
        state; searched side by side, a slice of the batch at a time."""
        found: list[list[Counterfactual]] = [[] for _ in updates]
        if not self._settings.stream_counterfactuals:
            return found
        low = [
            (index, verdict.assessment.grade)
            for index, verdict in enumerate(verdicts)
            if verdict is not None and verdict.assessment.grade in LOW_GRADES
        ]
        for start in range(0, len(low), SEARCH_SLICE):
            chunk = low[start : start + SEARCH_SLICE]
            started = time.perf_counter()
            searched = improvements_of(
                model,
                [
                    (updates[index][1].features, better_grades(grade, STANDARD_GRADE))
                    for index, grade in chunk
                ],
            )
            _counterfactual_seconds.observe((time.perf_counter() - started) / len(chunk))
            for (index, _), improved in zip(chunk, searched, strict=True):
                found[index] = improved
            # A slice runs the model a few times (milliseconds): let the score API's
            # requests in between, as this loop shares their process.
            await asyncio.sleep(0)
        return found

    def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, detail: str
    ) -> tuple[bytes | None, bytes]:
        """The dead letter of ``record`` as a ``(key, value)`` record for ``events.dlq``."""
        _stream_records(reason).inc()
        metrics.DEAD_LETTERS.labels(record.topic, reason).inc()
        letter = dead_letter(
            record,
            service=self._settings.service_name,
            reason=reason,
            detail=detail,
            now=self._clock.now(),
        )
        return record.key, letter.model_dump_json().encode()
