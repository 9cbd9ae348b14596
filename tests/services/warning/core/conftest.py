"""Shared fixtures of the warning core tests."""

import pytest

from services.warning.core.rules import RuleSet, load_default_rules

# Feature schema version 1 (CONTRACTS.md, "Feature names").
CONTRACT_FEATURE_NAMES = (
    *(f"orders_count_{w}" for w in ("1h", "24h", "7d", "30d", "90d")),
    *(f"orders_amount_{w}" for w in ("24h", "7d", "30d", "90d")),
    "orders_cancelled_ratio_30d",
    "orders_credit_share_30d",
    "order_amount_avg_90d",
    "order_amount_max_90d",
    "spend_spike_ratio_24h",
    "shipping_addresses_distinct_30d",
    "days_since_first_event",
    "days_since_last_order",
    *(f"payments_failed_{w}" for w in ("24h", "7d", "30d")),
    "payments_failed_ratio_30d",
    "chargebacks_90d",
    "repayments_on_time_ratio_90d",
    "repayments_late_90d",
    "days_past_due_max_90d",
    "days_past_due_mean_90d",
    "credit_outstanding",
    *(f"refunds_count_{w}" for w in ("7d", "30d", "90d")),
    "refunds_amount_30d",
    "refund_rate_30d",
    "refunds_without_return_30d",
    "refunds_rejected_90d",
    "reviews_count_90d",
    "review_rating_mean_90d",
    "reviews_negative_ratio_90d",
    "reviews_abusive_90d",
)


@pytest.fixture
def feature_names() -> tuple[str, ...]:
    return CONTRACT_FEATURE_NAMES


@pytest.fixture(scope="session")
def default_rules() -> RuleSet:
    return load_default_rules(CONTRACT_FEATURE_NAMES)
