"""``riskstream features show CUSTOMER_ID``: the customer's current features as JSON, read
from the state the feature worker keeps in Redis and computed for windows ending now."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import orjson
import typer

from schemas.features import FEATURE_SCHEMA, FeatureSnapshot
from services.cli.settings import CliSettings
from services.common.clock import SystemClock
from services.common.redis_client import make_redis
from services.common.redis_keys import RedisKeys
from services.features.core import CustomerState, compute_features

app = typer.Typer(help="Customer features.", no_args_is_help=True)


async def _load_state(settings: CliSettings, customer_id: str) -> bytes | None:
    redis = make_redis(settings, timeout_ms=2000)
    try:
        stored = await redis.get(RedisKeys(settings.redis_key_prefix).feature_state(customer_id))
        return stored if isinstance(stored, bytes) else None
    finally:
        await redis.aclose()


@app.command()
def show(customer_id: Annotated[str, typer.Argument(help="The customer's id.")]) -> None:
    """Print {feature_schema_version, as_of, features} for windows ending now.

    A customer never seen prints the features of an empty history and exits 0."""
    settings = CliSettings()
    stored = asyncio.run(_load_state(settings, customer_id))
    state = (
        CustomerState.from_bytes(stored) if stored is not None else CustomerState.new(customer_id)
    )
    as_of = SystemClock().now()
    snapshot = FeatureSnapshot(
        customer_id=customer_id,
        feature_schema_version=FEATURE_SCHEMA.version,
        as_of=as_of,
        features=compute_features(state, as_of),
    )
    sys.stdout.write(
        orjson.dumps(snapshot.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode() + "\n"
    )
