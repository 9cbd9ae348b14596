"""Following ``models.control``: every scorer process reads the whole compacted history
(no consumer group: each process needs every record, not a share of them), applies the
latest ``active`` and ``shadow`` records, then follows new ones as they arrive.

A record names a bundle directory (``bundle_uri``); the process opens and gates it in a
worker thread, then swaps it in with one reference assignment. A bundle this process cannot
open is counted and logged, and the model serving before keeps serving.

With no ``active`` record in the history, the configured default bundle (if any) is
published into the registry and served, so a fresh platform scores from its first minute.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from riskmodel.loading import LoadedModel, open_bundle
from schemas.features import FeatureSchema
from schemas.records import ModelControl
from services.common.consuming import run_consumer
from services.common.kafka import make_consumer
from services.common.topics import Topic
from services.scorer.holder import ModelHolder
from services.scorer.metrics import MODEL_LOAD_FAILURES
from services.scorer.registry import ModelRegistry
from services.scorer.settings import ScorerSettings

log = logging.getLogger(__name__)


class ControlFollower:
    def __init__(
        self,
        settings: ScorerSettings,
        holder: ModelHolder,
        registry: ModelRegistry,
        schema: FeatureSchema,
    ) -> None:
        self._settings = settings
        self._holder = holder
        self._registry = registry
        self._schema = schema
        self.caught_up = asyncio.Event()
        self._next_offset = 0

    async def run(self) -> None:
        """Follows the topic forever, reconnecting after Kafka errors. If the history
        cannot be read within ``control_wait_s`` (Kafka down at start-up), the default
        bundle serves meanwhile; a control record read later replaces it."""
        fallback = asyncio.create_task(self._default_if_kafka_is_slow())
        try:
            await self._follow_forever()
        finally:
            fallback.cancel()

    async def _default_if_kafka_is_slow(self) -> None:
        try:
            await asyncio.wait_for(self.caught_up.wait(), self._settings.control_wait_s)
        except TimeoutError:
            if self._holder.champion() is None:
                log.warning("models.control unreadable; serving the default bundle meanwhile")
                await self._serve_default_bundle()

    async def _follow_forever(self) -> None:
        await run_consumer(
            "models.control follower",
            lambda: make_consumer(self._settings, group_id=None),
            self._follow,
            delay_s=0.5,
            max_delay_s=5.0,
        )

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        partition = TopicPartition(self._settings.topics(Topic.MODEL_CONTROL), 0)
        consumer.assign([partition])
        # After a reconnect, carry on where this process left off: replaying the history
        # would swap through every old version again.
        consumer.seek(partition, self._next_offset)
        if not self.caught_up.is_set():
            end = (await consumer.end_offsets([partition]))[partition]
            latest: dict[str, ModelControl] = {}
            while self._next_offset < end:
                batch = await consumer.getmany(partition, timeout_ms=1000)
                for record in batch.get(partition, []):
                    self._next_offset = record.offset + 1
                    control = _parse(record.value)
                    if control is not None:
                        latest[control.role] = control
            for role in ("active", "shadow"):
                if role in latest:
                    await self.apply(latest[role])
            if "active" not in latest and self._holder.champion() is None:
                await self._serve_default_bundle()
            self.caught_up.set()
            log.info("models.control history applied", extra={"end_offset": end})
        while True:
            batch = await consumer.getmany(partition, timeout_ms=1000)
            for record in batch.get(partition, []):
                self._next_offset = record.offset + 1
                control = _parse(record.value)
                if control is not None:
                    await self.apply(control)

    async def apply(self, control: ModelControl) -> None:
        """Serves what ``control`` names (or clears the shadow); an ``active`` version that
        serves is recorded in the registry's rollback history."""
        if control.model_version is None or control.bundle_uri is None:
            if control.role == "shadow":
                self._holder.swap("shadow", None)
            return
        current = self._holder.serving(control.role)
        if current is not None and current.version == control.model_version:
            await self._record_activation(control)
            return
        model = await self._open(Path(control.bundle_uri), f"control_{control.role}")
        if model is not None and model.version == control.model_version:
            # Recorded before the swap: an admin call returns once its process serves the
            # change, and by then a rollback must already find this activation.
            await self._record_activation(control)
            self._holder.swap(control.role, model)
            log.info(
                "model swapped in", extra={"role": control.role, "model_version": model.version}
            )
        elif model is not None:
            MODEL_LOAD_FAILURES.labels(f"control_{control.role}").inc()
            log.error(
                "bundle version differs from the control record",
                extra={"expected": control.model_version, "found": model.version},
            )

    async def _record_activation(self, control: ModelControl) -> None:
        """Adds an ``active`` record's version to this process's rollback history. A
        history that cannot be written is logged: the swap matters more."""
        if control.role != "active" or control.model_version is None:
            return
        try:
            await asyncio.to_thread(self._registry.record_activation, control.model_version)
        except (OSError, ValueError) as error:
            log.error(
                "activation not recorded in the registry history",
                extra={"model_version": control.model_version, "error": str(error)},
            )

    async def _open(self, path: Path, operation: str) -> LoadedModel | None:
        try:
            return await asyncio.to_thread(open_bundle, path, self._schema)
        except Exception as error:
            MODEL_LOAD_FAILURES.labels(operation).inc()
            log.error("model bundle not loaded", extra={"path": str(path), "error": str(error)})
            return None

    async def _serve_default_bundle(self) -> None:
        source = self._settings.default_bundle
        if source is None:
            return
        try:
            entry, _ = await asyncio.to_thread(self._registry.publish, source)
        except Exception as error:
            MODEL_LOAD_FAILURES.labels("default_bundle").inc()
            log.error("default bundle refused", extra={"path": str(source), "error": str(error)})
            return
        model = await self._open(entry.path, "default_bundle")
        if model is not None:
            self._holder.swap("active", model)
            if not await asyncio.to_thread(self._registry.history):
                await asyncio.to_thread(self._registry.record_activation, model.version)
            log.info("serving the default bundle", extra={"model_version": model.version})


def _parse(value: bytes | None) -> ModelControl | None:
    if value is None:
        return None
    try:
        return ModelControl.model_validate_json(value)
    except ValidationError as error:
        log.error("unreadable models.control record skipped", extra={"error": str(error)})
        return None
