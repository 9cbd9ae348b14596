"""Limit applications and appeals in the warning core: the decision table, referrals and
appeals as review cases, and what deciding them issues."""

from datetime import UTC, datetime, timedelta

import pytest

from schemas.scores import Grade
from services.warning.core import (
    LimitAssessment,
    LimitReason,
    WarningState,
    appeal_case_id,
    decide_case,
    decide_limit_application,
    manual_override,
    open_appeal,
)
from services.warning.errors import (
    AppealConflictError,
    LimitApplicationConflictError,
    StateError,
    UnknownAppealSubjectError,
)

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
LATER = AT + timedelta(hours=2)


def assessed(grade: Grade = "B", limit: float = 5000.0, thin_file: bool = False) -> LimitAssessment:
    return LimitAssessment(
        decision_id="a" * 32,
        score=610,
        grade=grade,
        credit_limit=limit,
        model_version="m1",
        thin_file=thin_file,
        reasons=(
            LimitReason("R_LATE", "late"),
            LimitReason("R_FAILED", "failed"),
            LimitReason("R_X", "x"),
        ),
    )


def held(action: str, **kwargs: float) -> WarningState:
    evaluation = manual_override(
        WarningState(customer_id="c-1"), action, "why", "admin", AT, **kwargs
    )  # type: ignore[arg-type]
    return evaluation.state


def test_an_application_within_what_is_allowed_is_approved_with_a_grant() -> None:
    decided = decide_limit_application(None, "c-1", assessed(), 3000, 1000, AT)
    assert (decided.outcome, decided.approved_limit, decided.state) == ("approve", 3000, None)
    assert decided.action is not None
    assert (decided.action.action, decided.action.limit_granted) == ("notify", 3000)
    assert decided.action.decision_id == "a" * 32
    again = decide_limit_application(None, "c-1", assessed(), 3000, 1000, AT)
    assert again.action is not None
    assert again.action.action_id == decided.action.action_id


def test_more_than_allowed_is_approved_up_to_the_ceiling_never_above() -> None:
    capped = decide_limit_application(None, "c-1", assessed(), 9000, None, AT)
    assert (capped.outcome, capped.approved_limit, capped.ceiling) == ("approve", 5000, 5000)
    assert [r.code for r in capped.reasons] == ["L_CAPPED", "R_LATE", "R_FAILED"]


@pytest.mark.parametrize(
    ("state", "assessment", "current", "code"),
    [
        (held("freeze_credit"), assessed(), None, "L_CREDIT_FROZEN"),
        (held("suspend_account"), assessed(), None, "L_ACCOUNT_SUSPENDED"),
        (None, assessed("D"), None, "L_GRADE"),
        (None, assessed(limit=2000), 2000, "L_NO_HEADROOM"),
        (held("cut_limit", credit_limit=800), assessed(), 1000, "L_NO_HEADROOM"),
    ],
)
def test_declines(
    state: WarningState | None, assessment: LimitAssessment, current: float | None, code: str
) -> None:
    decided = decide_limit_application(state, "c-1", assessment, 6000, current, AT)
    assert (decided.outcome, decided.approved_limit, decided.reasons[0].code) == (
        "decline",
        None,
        code,
    )
    assert decided.action is None
    assert decided.case is None


@pytest.mark.parametrize(
    ("state", "assessment", "code"),
    [
        (None, assessed("C", limit=1000), "L_GRADE"),
        (None, assessed(thin_file=True), "L_NO_HISTORY"),
        (held("require_prepayment"), assessed(), "L_RESTRICTED"),
    ],
)
def test_referrals_open_a_case_whose_release_grants_what_was_allowed(
    state: WarningState | None, assessment: LimitAssessment, code: str
) -> None:
    decided = decide_limit_application(state, "c-1", assessment, 9000, None, AT)
    assert (decided.outcome, decided.reasons[0].code) == ("refer", code)
    assert decided.case is not None
    assert decided.state is not None
    assert decided.case.limit_offered == min(9000, assessment.credit_limit)
    with pytest.raises(LimitApplicationConflictError):
        decide_limit_application(decided.state, "c-1", assessment, 100, None, AT)
    released = decide_case(
        decided.state, decided.case.case_id, "release", "ana", "analyst", "ok", LATER
    )
    (grant,) = released.actions
    assert (grant.action, grant.limit_granted, grant.review_outcome) == (
        "notify",
        decided.case.limit_offered,
        "released",
    )
    declined = decide_case(
        decided.state, decided.case.case_id, "confirm", "ana", "analyst", "no", LATER
    )
    assert [(a.action, a.limit_granted) for a in declined.actions] == [("notify", None)]
    escalated = decide_case(
        decided.state, decided.case.case_id, "escalate", "ana", "analyst", "big", LATER
    )
    assert "freeze_credit" not in [a.action for a in escalated.actions]
    follow_up = next(c for c in escalated.state.cases if c.origin == "escalation")
    assert follow_up.limit_offered == decided.case.limit_offered


def test_an_appeal_against_a_restriction_opens_one_case_whose_release_lifts_it() -> None:
    state = held("freeze_credit")
    (freeze,) = state.holds
    opened, case = open_appeal(state, "c-1", "action", freeze.action_id, "  I paid <b>  ", AT)
    assert (case.origin, case.holds, case.statement) == (
        "appeal",
        (freeze.action_id,),
        "I paid <b>",
    )
    assert case.case_id == appeal_case_id("c-1", "action", freeze.action_id)
    with pytest.raises(AppealConflictError, match="open"):
        open_appeal(opened, "c-1", "action", freeze.action_id, "again", AT)
    upheld = decide_case(opened, case.case_id, "release", "ana", "analyst", "ok", LATER)
    assert [a.action for a in upheld.actions] == ["unfreeze_credit"]
    with pytest.raises(AppealConflictError, match="decided"):
        open_appeal(upheld.state, "c-1", "action", freeze.action_id, "again", AT)
    escalated = decide_case(opened, case.case_id, "escalate", "ana", "analyst", "hm", LATER)
    assert "freeze_credit" not in [a.action for a in escalated.actions]


def test_an_appeal_names_a_record_the_customer_has() -> None:
    state = held("freeze_credit")
    with pytest.raises(UnknownAppealSubjectError):
        open_appeal(state, "c-1", "action", "0" * 36, "why", AT)
    with pytest.raises(UnknownAppealSubjectError):
        open_appeal(state, "c-1", "decision", "b" * 32, "why", AT)
    _, case = open_appeal(state, "c-1", "decision", "b" * 32, "why", AT, decision_known=True)
    assert (case.reference, case.holds) == ("decision:" + "b" * 32, ())


@pytest.mark.parametrize("statement", ["   ", "x" * 2001, "a\x00b", "a\x1bb"])
def test_a_statement_is_bounded_plain_text(statement: str) -> None:
    state = held("freeze_credit")
    with pytest.raises(StateError):
        open_appeal(state, "c-1", "action", state.holds[0].action_id, statement, AT)
