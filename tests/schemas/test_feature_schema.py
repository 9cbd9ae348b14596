"""The feature schema and the model row."""

from __future__ import annotations

import math

import pytest

from schemas.features import FEATURE_SCHEMA, FEATURE_SCHEMA_V1_NAMES, FeatureSchema, to_model_row


def test_schema_version_2_keeps_version_1_names_in_place_and_adds_names_once_each():
    assert FEATURE_SCHEMA.version == 2
    assert len(FEATURE_SCHEMA.names) == 53
    assert len(set(FEATURE_SCHEMA.names)) == 53
    assert len(FEATURE_SCHEMA_V1_NAMES) == 38
    assert FEATURE_SCHEMA.names[:38] == FEATURE_SCHEMA_V1_NAMES
    assert FEATURE_SCHEMA.names[0] == "orders_count_1h"
    assert FEATURE_SCHEMA.names[37] == "reviews_abusive_90d"
    assert FEATURE_SCHEMA.names[38] == "days_since_registration"
    assert FEATURE_SCHEMA.names[-1] == "shared_signals_max_severity"


def test_index_gives_the_position_in_the_model_row():
    assert FEATURE_SCHEMA.index("orders_count_1h") == 0
    assert FEATURE_SCHEMA.index("credit_outstanding") == 26
    with pytest.raises(KeyError, match="not_a_feature"):
        FEATURE_SCHEMA.index("not_a_feature")


def test_fingerprint_depends_on_version_names_and_order():
    names = FEATURE_SCHEMA.names
    fingerprint = FEATURE_SCHEMA.fingerprint()

    assert len(fingerprint) == 64
    assert FeatureSchema(2, names).fingerprint() == fingerprint
    assert FeatureSchema(3, names).fingerprint() != fingerprint
    assert FeatureSchema(2, (names[1], names[0], *names[2:])).fingerprint() != fingerprint


def test_model_row_follows_schema_order_with_nan_for_none():
    features: dict[str, float | None] = {
        name: float(i) for i, name in enumerate(reversed(FEATURE_SCHEMA.names))
    }
    features["refund_rate_30d"] = None

    row = to_model_row(features)

    assert len(row) == 53
    assert row[0] == features["orders_count_1h"]
    assert math.isnan(row[FEATURE_SCHEMA.index("refund_rate_30d")])
    assert row[-1] == 0.0


def test_model_row_refuses_features_missing_a_name():
    with pytest.raises(KeyError, match="orders_count_1h"):
        to_model_row({})
