"""``python -m services.scorer.bench``: the score endpoint against a bare endpoint of the
same server, in the same run.

1. Closed loop: ``--connections`` keep-alive connections send back to back for
   ``--seconds`` to ``GET /v1/bare`` (authentication and middleware, no work), then to
   ``POST /v1/score``: throughput, p50 and p99 of each, and the ratio of throughputs.
2. Open loop: ``POST /v1/score`` at a fixed ``--rate`` for ``--seconds``: p50, p99, p99.9.

Customers ``bench-0`` .. ``bench-<N-1>`` get feature state in Redis first (``--customers``),
so scores go through features, the model and reason codes. The client is a minimal
HTTP/1.1 keep-alive client: a general one would measure itself more than the server.
Prints a JSON report (``--out`` also writes it to a file).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson
from redis.asyncio import Redis

from schemas.events import parse_event
from services.common.redis_keys import RedisKeys
from services.features.core import CustomerState, apply_event
from services.scorer.settings import ScorerSettings


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(self, raw: bytes) -> int:
        """Sends a request and reads the whole response; returns the status code."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status


def _raw(method: str, host: str, path: str, key: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _summary(latencies: list[float], seconds: float, errors: int) -> dict[str, Any]:
    values = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "throughput_rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(float(np.percentile(values, 50)), 3) if len(values) else None,
        "p99_ms": round(float(np.percentile(values, 99)), 3) if len(values) else None,
        "p999_ms": round(float(np.percentile(values, 99.9)), 3) if len(values) else None,
    }


async def _connect(host: str, port: int) -> _Connection:
    reader, writer = await asyncio.open_connection(host, port)
    return _Connection(reader, writer)


async def closed_loop(
    host: str, port: int, requests: list[bytes], connections: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal errors
        connection = await _connect(host, port)
        i = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status = await connection.request(requests[i % len(requests)])
            latencies.append(time.perf_counter() - started)
            errors += status != 200
            i += connections
        connection.writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(connections)))
    return _summary(latencies, time.perf_counter() - started, errors)


async def open_loop(
    host: str, port: int, requests: list[bytes], rate: float, seconds: float
) -> dict[str, Any]:
    """Sends at a fixed rate whatever the answers' pace (latency includes queueing)."""
    latencies: list[float] = []
    errors = 0
    pool: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(32):
        pool.put_nowait(await _connect(host, port))

    async def one(raw: bytes, scheduled: float) -> None:
        nonlocal errors
        connection = await pool.get()
        status = await connection.request(raw)
        latencies.append(time.perf_counter() - scheduled)
        errors += status != 200
        pool.put_nowait(connection)

    tasks = []
    started = time.perf_counter()
    total = int(rate * seconds)
    for n in range(total):
        scheduled = started + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(requests[n % len(requests)], scheduled)))
    await asyncio.gather(*tasks)
    report = _summary(latencies, time.perf_counter() - started, errors)
    report["target_rps"] = rate
    return report


async def seed(settings: ScorerSettings, customers: int) -> None:
    """Writes feature state for ``bench-<i>``: a few orders and payments each, some failed."""
    redis = Redis.from_url(settings.redis_url.get_secret_value())
    keys = RedisKeys(settings.redis_key_prefix)
    now = datetime.now(UTC)
    generator = random.Random(7)  # noqa: S311 - synthetic data, not secrets
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(customers):
                customer_id = f"bench-{i}"
                state = CustomerState.new(customer_id)
                for n in range(generator.randint(1, 6)):
                    common = {"customer_id": customer_id, "occurred_at": now.isoformat()}
                    order = {
                        **common,
                        "event_id": f"{customer_id}-o{n}",
                        "event_type": "order",
                        "order_id": f"{customer_id}-{n}",
                        "amount": str(generator.randint(10, 900)),
                        "currency": "CNY",
                        "payment_method": generator.choice(["card", "bnpl", "instalment"]),
                        "status": "placed",
                        "item_count": 1,
                        "channel": "app",
                    }
                    payment = {
                        **common,
                        "event_id": f"{customer_id}-p{n}",
                        "event_type": "payment",
                        "order_id": f"{customer_id}-{n}",
                        "payment_id": f"{customer_id}-pay{n}",
                        "amount": "10",
                        "currency": "CNY",
                        "kind": "charge",
                        "status": generator.choice(["succeeded", "succeeded", "failed"]),
                    }
                    for raw in (order, payment):
                        apply_event(state, parse_event(raw, now=now), now)
                pipe.set(keys.feature_state(customer_id), state.to_bytes())
            await pipe.execute()
    finally:
        await redis.aclose()


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    settings = ScorerSettings()
    url = urlsplit(arguments.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    key = settings.client_api_keys[0].get_secret_value()
    await seed(settings, arguments.customers)
    bare = [_raw("GET", host, "/v1/bare", key)]
    scores = [
        _raw(
            "POST",
            host,
            "/v1/score",
            key,
            orjson.dumps(
                {
                    "customer_id": f"bench-{i}",
                    "order": {"amount": 120.5, "currency": "CNY", "payment_method": "bnpl"},
                }
            ),
        )
        for i in range(arguments.customers)
    ]
    # Warm up both paths (connections, caches) before measuring.
    await closed_loop(host, port, scores, arguments.connections, 1.0)
    bare_report = await closed_loop(host, port, bare, arguments.connections, arguments.seconds)
    score_report = await closed_loop(host, port, scores, arguments.connections, arguments.seconds)
    fixed = await open_loop(host, port, scores, arguments.rate, arguments.seconds)
    return {
        "target": arguments.url,
        "connections": arguments.connections,
        "bare": bare_report,
        "score": score_report,
        "score_to_bare_throughput": round(
            score_report["throughput_rps"] / bare_report["throughput_rps"], 3
        ),
        "score_at_fixed_rate": fixed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8002")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args()
    report = asyncio.run(run(arguments))
    text = orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if arguments.out is not None:
        arguments.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
