"""The customer-facing message catalogues: complete in every language, and the wording
helpers format values the way each language writes them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from riskmodel.counterfactuals import LEVERS
from schemas.features import FEATURE_SCHEMA
from services.common.texts import (
    SUPPORTED_LANGUAGES,
    UnsupportedLanguageError,
    catalogue,
    customer_language,
    language_of,
    placeholders,
    texts_for,
)
from training.catalogue import reason_texts


def test_every_key_is_in_every_language_with_the_same_placeholders() -> None:
    catalogues = {language: catalogue(language) for language in SUPPORTED_LANGUAGES}
    keys = {language: set(messages) for language, messages in catalogues.items()}
    english = keys["en"]
    for language, present in keys.items():
        assert present == english, (
            f"{language}: missing {english - present}, extra {present - english}"
        )
        for key, text in catalogues[language].items():
            assert text.strip(), f"{language}: {key} is empty"
            assert placeholders(text) == placeholders(catalogues["en"][key]), (language, key)


def test_every_feature_lever_and_restricting_action_has_its_text() -> None:
    messages = catalogue("en")
    assert {f"reason.{name}" for name in FEATURE_SCHEMA.names} <= set(messages)
    for lever in LEVERS:
        assert f"lever.{lever.name}" in messages or f"lever.{lever.name}.one" in messages
    for action in ("cut_limit", "freeze_credit", "require_prepayment", "suspend_account"):
        assert {f"notice.title.{action}", f"notice.summary.{action}"} <= set(messages)
    # The bundle's undefined-value texts have catalogue counterparts where a value can be
    # undefined (a ratio without a denominator).
    for name, text in reason_texts(FEATURE_SCHEMA.names).items():
        if not text.missing_text.endswith("undefined"):
            assert f"reason_undefined.{name}" in messages, name


@pytest.mark.parametrize(
    ("tag", "language"),
    [("zh", "zh-CN"), ("zh-CN", "zh-CN"), ("zh_Hans_CN", "zh-CN"), ("en", "en"), ("en-GB", "en")],
)
def test_language_tags_map_to_a_supported_language(tag: str, language: str) -> None:
    assert language_of(tag) == language


@pytest.mark.parametrize("tag", ["fr", "zh-TW", "zh-Hant", "", "x" * 40])
def test_other_languages_are_refused_by_name_and_default_for_customers(tag: str) -> None:
    with pytest.raises(UnsupportedLanguageError):
        language_of(tag)
    assert customer_language(tag) == "zh-CN"
    assert customer_language(None) == "zh-CN"


def test_values_are_written_the_way_each_language_writes_them() -> None:
    english, chinese = texts_for("en"), texts_for("zh-CN")
    assert english.reason("credit_outstanding", 1234.5, "x") == "Credit still to repay: CN¥1,234.50"
    assert chinese.reason("repayments_on_time_ratio_90d", 0.5, "x").endswith("50%")
    assert english.reason("repayments_on_time_ratio_90d", None, "x") == (
        "No repayments in the last 90 days"
    )
    assert english.reason("a_column_of_a_csv_bundle", 3.0, "the bundle's text") == (
        "the bundle's text"
    )
    steps = [("on_time_repayments", 1), ("no_failed_payments_30d", 1)]
    assert english.steps(steps, {}) == (
        "1 more repayment made on time and no failed payment for 30 days"
    )
    assert english.sentence("improvement.lift", changes="no failed payment for 30 days") == (
        "No failed payment for 30 days would lift this restriction."
    )
    assert chinese.steps([("on_time_repayments", 2)], {}) == "再按时还款2次"


def test_a_date_is_written_in_each_languages_long_form_whatever_the_hour() -> None:
    english, chinese = texts_for("en"), texts_for("zh-CN")
    for hour in (0, 23):
        instant = datetime(2026, 12, 1, hour, tzinfo=UTC)
        assert english.date(instant) == "December 1, 2026"
        assert chinese.date(instant) == "2026年12月1日"
    assert english.date(datetime(2027, 1, 2, tzinfo=UTC)) == "January 2, 2027"
