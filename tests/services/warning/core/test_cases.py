"""Review cases in the warning core: opened by a rule's manual_review, decided once."""

from datetime import UTC, datetime, timedelta

import pytest

from services.warning.core import (
    CASE_RULE_ID,
    WarningState,
    claim_case,
    decide_case,
    evaluate,
    load_default_rules,
)
from services.warning.errors import (
    CaseConflictError,
    CaseForbiddenError,
    CaseNotFoundError,
    StateError,
)
from tests.services.warning.warning_fakes import score

RULES = load_default_rules()
AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def reviewed_customer() -> tuple[WarningState, str]:
    """A customer whose two chargebacks froze credit and opened review cases (the
    ``chargeback`` rule's, reviewing nothing, and ``repeated_chargebacks``', reviewing the
    freeze); the latter's id."""
    evaluation = evaluate(RULES, None, score("c-1", AT, "B", chargebacks_90d=2.0), AT)
    review = next(
        a
        for a in evaluation.actions
        if a.action == "manual_review" and a.rule_id == "repeated_chargebacks"
    )
    assert review.case_id is not None
    return evaluation.state, review.case_id


def test_a_manual_review_opens_a_case_reviewing_the_rules_restrictions() -> None:
    state, case_id = reviewed_customer()
    case = next(c for c in state.cases if c.case_id == case_id)
    assert (case.origin, case.status, case.rule_id) == (
        "rule_review",
        "open",
        "repeated_chargebacks",
    )
    frozen = [h for h in state.holds if h.rule_id == "repeated_chargebacks"]
    assert case.holds == tuple(h.action_id for h in frozen)
    again = evaluate(RULES, None, score("c-1", AT, "B", number=1, chargebacks_90d=2.0), AT)
    first = evaluate(RULES, None, score("c-1", AT, "B", number=1, chargebacks_90d=2.0), AT)
    assert [c.case_id for c in again.state.cases] == [c.case_id for c in first.state.cases]


def test_release_lifts_the_reviewed_freeze_with_a_stable_id_and_decides_once() -> None:
    state, case_id = reviewed_customer()
    later = AT + timedelta(hours=1)
    claimed = claim_case(state, case_id, "ana", "analyst", later)

    released = decide_case(claimed, case_id, "release", "ana", "analyst", "paid back", later)
    retried = decide_case(claimed, case_id, "release", "ana", "analyst", "paid back", later)

    assert [a.action for a in released.actions] == ["unfreeze_credit"]
    action = released.actions[0]
    assert (action.rule_id, action.case_id, action.review_outcome) == (
        CASE_RULE_ID,
        case_id,
        "released",
    )
    assert [a.action_id for a in retried.actions] == [action.action_id]
    assert released.state.status == "active"
    with pytest.raises(CaseConflictError, match="already decided by ana"):
        decide_case(released.state, case_id, "confirm", "bo", "analyst", "no", later)


def test_a_case_held_by_one_reviewer_cannot_be_decided_by_another() -> None:
    state, case_id = reviewed_customer()
    claimed = claim_case(state, case_id, "ana", "analyst", AT)
    assert claim_case(claimed, case_id, "ana", "analyst", AT) is claimed
    with pytest.raises(CaseConflictError, match="claimed by ana"):
        claim_case(claimed, case_id, "bo", "analyst", AT)
    with pytest.raises(CaseConflictError):
        decide_case(claimed, case_id, "release", "bo", "analyst", "mine", AT)


def test_confirm_keeps_the_restriction_and_still_tells_the_order_system() -> None:
    state, case_id = reviewed_customer()
    confirmed = decide_case(state, case_id, "confirm", "ana", "analyst", "fraud ring", AT)
    assert [(a.action, a.review_outcome) for a in confirmed.actions] == [("notify", "confirmed")]
    assert confirmed.state.status == "frozen"


def test_escalation_freezes_and_opens_a_case_only_an_approver_decides() -> None:
    state, case_id = reviewed_customer()
    escalated = decide_case(state, case_id, "escalate", "ana", "analyst", "too big", AT)
    follow_up = next(c for c in escalated.state.cases if c.origin == "escalation")

    assert [a.action for a in escalated.actions] == ["freeze_credit"]
    assert follow_up.reference == case_id
    with pytest.raises(CaseForbiddenError):
        claim_case(escalated.state, follow_up.case_id, "ana", "analyst", AT)
    with pytest.raises(StateError):
        decide_case(escalated.state, follow_up.case_id, "escalate", "lee", "approver", "again", AT)
    released = decide_case(
        escalated.state, follow_up.case_id, "release", "lee", "approver", "checked", AT
    )
    assert released.state.status == "active"


@pytest.mark.parametrize("comment", ["", "   ", "x" * 2001])
def test_a_decision_needs_a_comment_of_bounded_length(comment: str) -> None:
    state, case_id = reviewed_customer()
    with pytest.raises(StateError):
        decide_case(state, case_id, "release", "ana", "analyst", comment, AT)


def test_an_unknown_case_and_a_role_without_cases_are_refused() -> None:
    state, case_id = reviewed_customer()
    with pytest.raises(CaseNotFoundError):
        claim_case(state, "nope", "ana", "analyst", AT)
    with pytest.raises(CaseForbiddenError):
        decide_case(state, case_id, "release", "root", "admin", "x", AT)
