"""Adverse-action notices in the warning core: every restricting action carries one, in the
customer's language, with the rule's and the model's reasons, an improvement checked
against the acting rule, and the appeal reference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from riskmodel.counterfactuals import LEVERS, least_changes
from schemas.actions import RESTRICTING_ACTIONS
from schemas.common import GRADES, Grade
from schemas.scores import Counterfactual, FeatureChange, LeverStep, ReasonCode, ScoreRecord
from services.common.texts import texts_for
from services.warning.core import WarningState, evaluate, load_default_rules, manual_override
from services.warning.core.evaluation import environments
from services.warning.core.notices import improvement
from services.warning.core.rules import Rule
from tests.services.warning.warning_fakes import score

AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LATE = ReasonCode(
    code="R_LATE_REPAYMENTS", feature="repayments_late_90d", value=3.0, impact=0.9, text="3 late"
)
TO_B = Counterfactual(
    steps=[LeverStep(lever="no_failed_payments_30d")],
    changes=[
        FeatureChange(feature="payments_failed_24h", current=4.0, changed=0.0),
        FeatureChange(feature="payments_failed_30d", current=4.0, changed=0.0),
    ],
    grade="B",
    score=605,
    model_version="m-1",
)


def grade_d_score(locale: str | None, improvements: list[Counterfactual]) -> ScoreRecord:
    record = score("c-1", AT, "D", payments_failed_24h=4.0, payments_failed_30d=4.0)
    return record.model_copy(
        update={"locale": locale, "reasons": [LATE], "improvements": improvements}
    )


def test_each_restricting_action_has_a_notice_in_the_customers_language() -> None:
    record = grade_d_score("en-US", [TO_B])

    evaluation = evaluate(load_default_rules(), None, record, AT)

    restricting = [a for a in evaluation.actions if a.action in RESTRICTING_ACTIONS]
    assert {a.action for a in restricting} == {"cut_limit", "freeze_credit", "require_prepayment"}
    assert all(a.notice is None for a in evaluation.actions if a not in restricting)
    for action in restricting:
        notice = action.notice
        assert notice is not None
        assert notice.locale == "en"
        assert notice.appeal_reference == action.action_id
        assert action.decision_id == record.score_id
        assert notice.improvement is not None
        assert notice.improvement.lifts_restriction
        assert notice.improvement.text == (
            "No failed payment for 30 days would bring your credit grade to B and lift this "
            "restriction."
        )
    prepay = next(a for a in restricting if a.action == "require_prepayment")
    assert prepay.notice is not None
    # The rule read failed payments in 24 hours; the model's top reason follows.
    assert [r.text for r in prepay.notice.reasons] == [
        "Failed payments in the last 24 hours: 4",
        "Late repayments in the last 90 days: 3",
    ]
    assert evaluation.state.locale == "en-US"


def test_without_a_model_counterfactual_the_rule_itself_says_what_lifts_it() -> None:
    record = grade_d_score(None, [])

    evaluation = evaluate(load_default_rules(), None, record, AT)

    prepay = next(a for a in evaluation.actions if a.action == "require_prepayment")
    freeze = next(a for a in evaluation.actions if a.action == "freeze_credit")
    assert prepay.notice is not None
    assert prepay.notice.locale == "zh-CN"
    assert prepay.notice.improvement is not None
    assert prepay.notice.improvement.grade is None
    chinese = texts_for("zh-CN")
    assert prepay.notice.improvement.text == chinese(
        "improvement.lift", changes=chinese("lever.no_failed_payments_30d")
    )
    # A grade rule cannot be lifted by the customer's behaviour without the model.
    assert freeze.notice is not None
    assert freeze.notice.improvement is None


def test_a_later_score_without_a_locale_keeps_the_customers_language() -> None:
    rules = load_default_rules()
    first = evaluate(rules, None, score("c-1", AT, "A").model_copy(update={"locale": "en"}), AT)
    later = grade_d_score(None, [TO_B]).model_copy(update={"scored_at": AT.replace(hour=13)})

    evaluation = evaluate(rules, first.state, later, AT)

    notices = [a.notice for a in evaluation.actions if a.notice is not None]
    assert notices
    assert {n.locale for n in notices} == {"en"}


def test_a_restricting_override_carries_the_reviewers_reason_as_its_notice() -> None:
    state = WarningState(customer_id="c-1", locale="zh-CN")

    evaluation = manual_override(state, "freeze_credit", "identity not confirmed", "admin:1", AT)

    (action,) = evaluation.actions
    assert action.notice is not None
    assert action.notice.reasons[0].text == texts_for("zh-CN")(
        "notice.manual", reason="identity not confirmed"
    )
    assert action.notice.improvement is None


LEVER_FEATURES = sorted({name for lever in LEVERS for name in lever.features})


@settings(max_examples=100)
@given(
    values=st.fixed_dictionaries(
        {name: st.one_of(st.none(), st.floats(0, 100)) for name in LEVER_FEATURES}
    ),
    grade=st.sampled_from(GRADES),
)
def test_a_rule_reading_no_feature_is_lifted_by_no_change_of_behaviour(
    values: dict[str, float | None], grade: Grade
) -> None:
    # The notice does not search then: the search would find nothing.
    rules = load_default_rules()
    record = score("c-1", AT, grade, **values)
    environment = environments(record, WarningState(customer_id="c-1"))
    blind = [
        rule
        for rule in rules.rules
        if not set(rule.exit_condition.names) & set(record.features)
        and not rule.exit_condition(environment(record.features, record.grade, record.score))
    ]
    assert grade not in "SAB" or not blind
    for rule in blind:

        def lifted(rows: Sequence[Mapping[str, float | None]], rule: Rule = rule) -> list[float]:
            return [
                float(rule.exit_condition(environment(row, record.grade, record.score)))
                for row in rows
            ]

        assert least_changes(record.features, lifted, [1.0]) == [None]
        assert improvement(rule, record, environment, texts_for("en")) is None
