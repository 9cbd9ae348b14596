from __future__ import annotations

from schemas.features import FEATURE_SCHEMA
from training.catalogue import (
    RISK_DECREASING,
    RISK_INCREASING,
    monotone_constraints,
    reason_texts,
)


def test_every_schema_feature_has_its_own_code_and_readable_text() -> None:
    texts = reason_texts(FEATURE_SCHEMA.names)
    codes = [text.code for text in texts.values()]
    assert len(set(codes)) == len(codes)
    for name, text in texts.items():
        assert "=" not in text.template, name
        assert text.template.format(value=3.0)
        assert text.missing_text


def test_late_repayments_read_as_a_sentence() -> None:
    text = reason_texts(["repayments_late_90d"])["repayments_late_90d"]
    assert text.template.format(value=3.0) == "3 late repayments in the last 90 days"


def test_unknown_columns_get_a_generic_code_with_escaped_braces() -> None:
    text = reason_texts(["odd {name}"])["odd {name}"]
    assert text.code == "R_ODD__NAME_"
    assert text.template.format(value=2.5) == "odd {name} = 2.5"


def test_monotone_constraints_follow_credit_sense() -> None:
    names = list(FEATURE_SCHEMA.names)
    assert set(names) >= RISK_INCREASING
    constraints = dict(zip(names, monotone_constraints(names), strict=True))
    assert constraints["repayments_late_90d"] == 1
    assert constraints["chargebacks_90d"] == 1
    assert constraints["payments_failed_30d"] == 1
    assert constraints["shared_signals_confirmed_fraud"] == 1
    assert constraints["bureau_score_normalised"] == -1
    assert constraints["verified_real_name"] == -1
    assert set(names) >= RISK_DECREASING
    assert not RISK_INCREASING & RISK_DECREASING
    assert set(constraints.values()) == {-1, 0, 1}
    assert constraints["orders_count_7d"] == 0
