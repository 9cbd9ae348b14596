"""The feature contract: the versioned feature schema (which features exist, in which order
the model sees them), the model-row mapping, and the feature records on ``features.updates``
and of ``riskstream features show``."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
from pydantic import BaseModel, ConfigDict

from schemas.common import Identifier, Timestamp
from schemas.events import TriggerType


@dataclass(frozen=True, slots=True)
class FeatureSchema:
    """A versioned, ordered list of feature names.

    A name keeps its meaning across versions; a new version may only add names. The model
    input row follows ``names`` exactly.
    """

    version: int
    names: tuple[str, ...]

    def index(self, name: str) -> int:
        """Position of ``name`` in the model row; KeyError for a name not in the schema."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"feature {name!r} is not in feature schema v{self.version}") from None

    def fingerprint(self) -> str:
        """sha256 (hex) of the canonical JSON ``{"names":[...],"version":N}`` (sorted keys,
        no spaces): equal fingerprints mean the same names in the same order."""
        canonical = json.dumps(
            {"version": self.version, "names": list(self.names)},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


FEATURE_SCHEMA_V1_NAMES: tuple[str, ...] = (
    "orders_count_1h",
    "orders_count_24h",
    "orders_count_7d",
    "orders_count_30d",
    "orders_count_90d",
    "orders_amount_24h",
    "orders_amount_7d",
    "orders_amount_30d",
    "orders_amount_90d",
    "orders_cancelled_ratio_30d",
    "orders_credit_share_30d",
    "order_amount_avg_90d",
    "order_amount_max_90d",
    "spend_spike_ratio_24h",
    "shipping_addresses_distinct_30d",
    "days_since_first_event",
    "days_since_last_order",
    "payments_failed_24h",
    "payments_failed_7d",
    "payments_failed_30d",
    "payments_failed_ratio_30d",
    "chargebacks_90d",
    "repayments_on_time_ratio_90d",
    "repayments_late_90d",
    "days_past_due_max_90d",
    "days_past_due_mean_90d",
    "credit_outstanding",
    "refunds_count_7d",
    "refunds_count_30d",
    "refunds_count_90d",
    "refunds_amount_30d",
    "refund_rate_30d",
    "refunds_without_return_30d",
    "refunds_rejected_90d",
    "reviews_count_90d",
    "review_rating_mean_90d",
    "reviews_negative_ratio_90d",
    "reviews_abusive_90d",
)
"""The names of feature schema version 1 (CONTRACTS.md, "Feature names"), in order."""

FEATURE_SCHEMA = FeatureSchema(
    version=2,
    names=(
        *FEATURE_SCHEMA_V1_NAMES,
        # Onboarding: registration, verification and bureau report events.
        "days_since_registration",
        "verified_kinds_count",
        "verified_phone",
        "verified_email",
        "verified_real_name",
        "verified_bank_card",
        "verifications_failed_30d",
        "bureau_score_normalised",
        "bureau_delinquencies",
        "bureau_inquiries_6m",
        "days_since_bureau_report",
        # Shared signals from other platforms, active at the instant read.
        "shared_signals_confirmed_fraud",
        "shared_signals_serious_delinquency_90d",
        "shared_signals_chargeback_abuse",
        "shared_signals_max_severity",
    ),
)
"""Feature schema version 2: version 1's 38 names, unchanged and in the same places, then
the onboarding and shared-signal features. docs/features.md defines each."""


def to_model_row(features: Mapping[str, float | None]) -> list[float]:
    """The model input row: every :data:`FEATURE_SCHEMA` name in schema order, NaN for None.

    KeyError if ``features`` lacks a schema name; names outside the schema are ignored.
    """
    return [
        math.nan if (value := features[name]) is None else value for name in FEATURE_SCHEMA.names
    ]


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
    trigger_event_type: TriggerType
    event_occurred_at: Timestamp
    locale: str | None = None
    """The triggering event's ``locale`` (the customer's language), when it gave one."""


def feature_update_json(update: FeatureUpdate) -> bytes:
    """``update.model_dump_json()``, byte for byte, at a fraction of its cost: the feature
    worker writes one per event. orjson writes an aware datetime as its ``isoformat()``,
    which is what :data:`Timestamp` serialises to."""
    return orjson.dumps({name: getattr(update, name) for name in FeatureUpdate.model_fields})
