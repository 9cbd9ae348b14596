"""The sync score API against the bare endpoint of the same server, in the same run.

``GET /v1/bare`` passes the same authentication and middleware as ``POST /v1/score`` and
does no work, so the ratio of their throughputs is the share of the server's capacity
left once the scoring itself (one Redis round trip, features computed at request time,
the model, reason codes, the decision) is paid for. Customers ``bench-<i>`` get feature
state in Redis first, so every score goes the whole way. The decision log is on, as in
production: every answer is queued, produced to ``risk.decisions`` and copied to Redis by
the same process, and the report says how many decisions it moved and whether any was lost.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis

from bench.httpload import closed_loop, open_loop, raw_request
from bench.profiles import read_profile, start_recording
from bench.stats import ratio
from schemas.events import parse_event
from services.common.redis_keys import RedisKeys
from services.features.core import CustomerState, apply_event, feature_vector, to_us

HOST = "127.0.0.1"
FIXED_RATES = (200, 1000)


async def seed_customers(redis_url: str, key_prefix: str, customers: int) -> None:
    """Writes feature state for ``bench-0`` .. ``bench-<customers-1>``: one to six orders,
    each with a charge (a third of them failed), applied by the feature core itself, and
    beside it the precomputed vector, as the feature worker writes them."""
    redis = Redis.from_url(redis_url)
    keys = RedisKeys(key_prefix)
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
                vector = feature_vector(state, to_us(now))
                pipe.mset(
                    {
                        keys.feature_state(customer_id): state.to_bytes(),
                        keys.feature_vector(customer_id): vector.to_bytes() if vector else b"",
                    }
                )
            await pipe.execute()
    finally:
        await redis.aclose()


def score_requests(port: int, api_key: str, customers: int) -> list[bytes]:
    """One ``POST /v1/score`` per seeded customer, a BNPL order each."""
    host = f"{HOST}:{port}"
    return [
        raw_request(
            "POST",
            host,
            "/v1/score",
            api_key,
            orjson.dumps(
                {
                    "customer_id": f"bench-{i}",
                    "order": {"amount": 120.5, "currency": "CNY", "payment_method": "bnpl"},
                }
            ),
        )
        for i in range(customers)
    ]


DECISION_LOG_SERIES = {
    "produced": 'riskstream_decision_log_records_total{outcome="produced"}',
    "spooled": 'riskstream_decision_log_records_total{outcome="spooled"}',
    "replayed": 'riskstream_decision_log_records_total{outcome="replayed"}',
    "copied": 'riskstream_decision_copies_total{outcome="copied"}',
}


async def decision_log_counts(port: int) -> dict[str, float]:
    """The scorer's decision-log counters (decisions produced, spooled, replayed, copied to
    Redis, and dropped for any reason), read from its ``/metrics``."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=10.0) as http:
        text = (await http.get("/metrics")).text
    counts = dict.fromkeys([*DECISION_LOG_SERIES, "dropped"], 0.0)
    for line in text.splitlines():
        for name, series in DECISION_LOG_SERIES.items():
            if line.startswith(series + " "):
                counts[name] = float(line.rsplit(" ", 1)[1])
        if line.startswith("riskstream_decision_log_dropped_total{"):
            counts["dropped"] += float(line.rsplit(" ", 1)[1])
    return counts


async def measure(
    port: int,
    pid: int,
    api_key: str,
    redis_url: str,
    key_prefix: str,
    profile_dir: Path,
    seconds: float = 8.0,
    connections: int = 16,
    customers: int = 1000,
) -> dict[str, Any]:
    """Closed loop on the bare endpoint, then on the score endpoint (throughput and
    latency when saturated), then the score endpoint at each of :data:`FIXED_RATES`;
    finally a profile of the scorer while it is saturated with scores."""
    await seed_customers(redis_url, key_prefix, customers)
    bare = [raw_request("GET", f"{HOST}:{port}", "/v1/bare", api_key)]
    scores = score_requests(port, api_key, customers)
    await closed_loop(HOST, port, scores, connections, 2.0)  # warm-up: connections, caches
    bare_result = (await closed_loop(HOST, port, bare, connections, seconds)).summary()
    score_result = (await closed_loop(HOST, port, scores, connections, seconds)).summary()
    fixed = {
        str(rate): (await open_loop(HOST, port, scores, rate, seconds)).summary()
        for rate in FIXED_RATES
    }
    profile_s = 5.0
    output = profile_dir / "scorer-score-api.txt"
    recording = start_recording(pid, profile_s, output)
    await closed_loop(HOST, port, scores, connections, profile_s + 1.0)
    return {
        "decision_log": await decision_log_counts(port),
        "connections": connections,
        "customers": customers,
        "bare": bare_result,
        "score": score_result,
        "throughput_ratio": ratio(score_result["throughput_rps"], bare_result["throughput_rps"]),
        "p50_ratio": ratio(score_result["p50_ms"], bare_result["p50_ms"]),
        "p99_ratio": ratio(score_result["p99_ms"], bare_result["p99_ms"]),
        "fixed_rate": fixed,
        "profile": read_profile(recording),
    }
