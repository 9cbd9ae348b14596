"""Feature records: ``features.updates`` and ``riskstream features show``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas.common import Identifier, Timestamp


class FeatureSnapshot(BaseModel):
    """A customer's features for windows ending at ``as_of`` (null = undefined ratio)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: Identifier
    feature_schema_version: int
    as_of: Timestamp
    features: dict[str, float | None]


class FeatureUpdate(FeatureSnapshot):
    """Published on ``features.updates`` after each applied event."""

    triggered_by: str
    trigger_event_type: Literal["order", "payment", "refund", "review"]
    event_occurred_at: Timestamp
