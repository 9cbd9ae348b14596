"""``python -m loadtests.kafka_driver``: replays simulated customers' events straight into
the event topics of a Kafka cluster at a target rate, as the order, payment and review
systems of a busy shop would.

Events are contract-valid (the simulator builds them through the event schemas), keyed by
customer id, with ids unique to the run (``<id>.<run>``), so a replay is never taken for
a duplicate. Connection and security settings come from the ``RISKSTREAM_KAFKA_*``
variables (TLS, SASL) like every service; ``--bootstrap-servers`` and ``--topic-prefix``
override them. Prints a JSON summary: sent, achieved rate, send errors.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from services.common.kafka import make_producer, wait_for_kafka
from services.common.settings import ServiceSettings
from simulator import simulate


class RatePacer:
    """A fixed schedule: record ``n`` is due ``n / rate`` seconds after the first call.

    Pacing against the schedule (not the last send) keeps the average rate exact when one
    send is late: the next ones go out at once until the schedule is met again."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._rate = rate
        self._clock = clock
        self._started: float | None = None

    def delay_before(self, n: int) -> float:
        """Seconds to wait before sending record ``n`` (0 when it is due or late)."""
        now = self._clock()
        if self._started is None:
            self._started = now
        return max(0.0, self._started + n / self._rate - now)


def replay_bodies(
    customers: int, days: int, seed: int, run_id: str, end: datetime
) -> Iterator[dict[str, Any]]:
    """The simulated events of ``customers`` over the ``days`` before ``end``, in event-time
    order, as JSON bodies with run-unique ids; repeated (with ids ``<id>.<run>.<round>``)
    for as long as the caller keeps reading."""
    events = simulate(customers, days, seed, end - timedelta(days=days)).events
    round_number = 0
    while True:
        suffix = run_id if round_number == 0 else f"{run_id}.{round_number}"
        for event in events:
            body = event.model_dump(mode="json", exclude_none=True)
            body["event_id"] = f"{event.event_id}.{suffix}"[:64]
            yield body
        round_number += 1


async def drive(
    settings: ServiceSettings, bodies: Iterator[dict[str, Any]], rate: float, seconds: float
) -> dict[str, Any]:
    """Sends ``rate`` events per second for ``seconds``; returns what was sent."""
    await wait_for_kafka(settings, timeout_s=30)
    producer = make_producer(settings)
    await producer.start()
    pacer = RatePacer(rate, time.perf_counter)
    pending: list[asyncio.Future[Any]] = []
    started = time.perf_counter()
    try:
        for n in range(int(rate * seconds)):
            await asyncio.sleep(pacer.delay_before(n))
            body = next(bodies)
            pending.append(
                await producer.send(
                    settings.topics.event_topic(body["event_type"]),
                    value=orjson.dumps(body),
                    key=str(body["customer_id"]).encode(),
                )
            )
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
    finally:
        await producer.stop()
    elapsed = time.perf_counter() - started
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    return {
        "sent": len(pending) - len(errors),
        "errors": len(errors),
        "first_error": repr(errors[0]) if errors else None,
        "seconds": round(elapsed, 2),
        "achieved_rate": round((len(pending) - len(errors)) / elapsed, 1),
        "target_rate": rate,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--bootstrap-servers", help="default: RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS")
    parser.add_argument("--topic-prefix", help="default: RISKSTREAM_TOPIC_PREFIX")
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=60, help="days of history per customer")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if arguments.bootstrap_servers:
        overrides["kafka_bootstrap_servers"] = arguments.bootstrap_servers
    if arguments.topic_prefix is not None:
        overrides["topic_prefix"] = arguments.topic_prefix
    settings = ServiceSettings(**overrides)
    bodies = replay_bodies(
        arguments.customers, arguments.days, arguments.seed, uuid.uuid4().hex[:8], datetime.now(UTC)
    )
    summary = asyncio.run(drive(settings, bodies, arguments.rate, arguments.seconds))
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
