"""The feature worker's faust floor: the worker's own faust app (same options, consumer,
RocksDB store, batching, logging and acknowledgement scheme) with a bare relay agent instead
of the feature code. It does the least the worker must: parse each value as JSON, write
each customer's table entry once per batch (one changelog record) and produce one output
record per record; a batch's outputs go out in one produce batch per partition and its
offsets are acknowledged once Kafka has them, in a task of their own as the worker's
flusher does.

Its rate from the same backlog is what faust itself allows one worker process on this
machine, so the worker's rate over it is the share the feature code leaves.

``python -m bench.faust_floor PROGRESS_FILE`` with the worker's ``RISKSTREAM_*``
environment (its own app id and data directory): it writes the number of records done to
``PROGRESS_FILE`` every quarter second, until stopped.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import faust
import orjson
import uvloop

from services.common.kafka import KeyPartitioner, send_batches
from services.common.topics import FEATURE_SOURCE_TOPICS, Topic
from services.features.__main__ import create_changelogs, run_worker
from services.features.app import faust_app, make_current, raw_table
from services.features.settings import STATE_TABLE, FeaturesSettings

PROGRESS_INTERVAL_S = 0.25
IN_FLIGHT_BATCHES = 4
"""Batches waiting for Kafka before the relay holds the stream back, as the worker's flusher."""


def create_floor_app(settings: FeaturesSettings, progress: Path) -> faust.App:
    partitioner = KeyPartitioner()
    app = faust_app(settings, partitioner)
    topics = settings.topics
    source = app.topic(
        *(topics(t) for t in FEATURE_SOURCE_TOPICS), key_serializer="raw", value_serializer="raw"
    )
    table = raw_table(app, STATE_TABLE, settings)
    output_topic = topics(Topic.FEATURE_UPDATES)
    done = 0
    in_flight = asyncio.Semaphore(IN_FLIGHT_BATCHES)

    @app.agent(source, concurrency=1)
    async def relay(stream: faust.StreamT[bytes]) -> None:
        nonlocal done
        manual = cast(faust.Stream[bytes], cast(faust.Stream[bytes], stream).noack())
        batches = manual.noack_take(
            settings.redis_flush_max_records, settings.redis_flush_interval_ms / 1000
        )
        async for taken in batches:
            events = cast(Sequence[faust.types.EventT[bytes]], taken)
            outputs: list[tuple[bytes | None, bytes]] = []
            last: dict[bytes, tuple[faust.types.EventT[bytes], bytes]] = {}
            for event in events:
                key, value = event.message.key or b"", event.message.value or b"{}"
                document = orjson.loads(value)
                last[key] = (event, value)
                outputs.append((key, orjson.dumps({"fields": len(document)})))
            # One table write (one changelog record) per customer per batch, as the worker.
            for key, (event, value) in last.items():
                make_current(event)
                table[key] = value
            done += len(events)
            producer = cast(Any, app.producer)._ensure_producer()
            sends = await send_batches(producer, partitioner, output_topic, outputs)
            await in_flight.acquire()

            async def acknowledge(
                batch: Sequence[faust.types.EventT[bytes]] = events,
                pending: list[asyncio.Future[Any]] = sends,
            ) -> None:
                try:
                    await asyncio.gather(*pending)
                    for event in batch:
                        await manual.ack(event)
                finally:
                    in_flight.release()

            asyncio.ensure_future(acknowledge())  # noqa: RUF006 (held by the semaphore)

    @app.timer(interval=PROGRESS_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def report_progress() -> None:
        written = progress.with_suffix(".tmp")
        written.write_text(str(done))
        written.replace(progress)

    return app


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    settings = FeaturesSettings()
    settings.features_data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(create_changelogs(settings))
    app = create_floor_app(settings, Path(sys.argv[1]))
    run_worker(app, settings)


if __name__ == "__main__":
    main()
