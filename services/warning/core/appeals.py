"""Appeals: a customer disputes an action or a decision, and a person reviews it.

The shop's customer service records the dispute (``POST /v1/customers/{id}/appeals``) with
the customer's statement; it opens a review case (origin ``appeal``) that an analyst
decides like any other: **release** upholds the appeal and lifts the restriction under
appeal (when it is still in force), **confirm** rejects it, **escalate** passes it to an
approver. The case, and so the appeal, has a stable id per customer and disputed record:
one appeal per action or decision, and a second gets :class:`AppealConflictError`.

What can be appealed: an action still in effect on the account (a restriction, or the
notice of an active rule; its id is the ``appeal_reference`` of the adverse-action
notice), or a decision the platform knows: a score answer on the decision log, or the
streamed score the warning service last judged.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final, Literal

from schemas.actions import ActiveAction
from services.warning.core.case_record import MAX_STATEMENT, ReviewCase
from services.warning.core.cases import case_id, with_case
from services.warning.core.state import WarningState
from services.warning.errors import AppealConflictError, StateError, UnknownAppealSubjectError

AppealSubject = Literal["action", "decision"]
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_statement(statement: str) -> str:
    """The statement as stored: plain text, 1 to :data:`MAX_STATEMENT` characters after
    trimming, no control characters other than line breaks and tabs. It is never
    interpreted as markup: every page shows it escaped. Raises StateError."""
    text = statement.strip()
    if not text:
        raise StateError("the statement is empty")
    if len(text) > MAX_STATEMENT:
        raise StateError(f"the statement has more than {MAX_STATEMENT} characters")
    if _CONTROL.search(text):
        raise StateError("the statement holds control characters")
    return text


def appeal_case_id(customer_id: str, subject: AppealSubject, reference: str) -> str:
    """The id of the (one) appeal against ``reference``."""
    return case_id(customer_id, "appeal", f"{subject}:{reference}")


def _in_effect(state: WarningState, action_id: str) -> ActiveAction | None:
    for issued in (*state.holds, *(n for a in state.activations for n in a.notices)):
        if issued.action_id == action_id:
            return issued
    return None


def open_appeal(
    state: WarningState | None,
    customer_id: str,
    subject: AppealSubject,
    reference: str,
    statement: str,
    now: datetime,
    *,
    decision_known: bool = False,
) -> tuple[WarningState, ReviewCase]:
    """The customer's state with the appeal's case added, and the case.

    ``reference`` is an action id (``subject="action"``: it must be in effect) or a
    decision id (``"decision"``: known when it is the last score judged, or when the
    caller found it on the decision log, ``decision_known``). Raises
    UnknownAppealSubjectError for a record the customer does not have,
    AppealConflictError when it was appealed already (open or decided), StateError for a
    bad statement.
    """
    text = check_statement(statement)
    current = state if state is not None else WarningState(customer_id=customer_id)
    wanted = appeal_case_id(customer_id, subject, reference)
    for existing in current.cases:
        if existing.case_id == wanted:
            if existing.is_open:
                raise AppealConflictError(
                    f"an appeal against {subject} {reference} is open already (case {wanted})"
                )
            raise AppealConflictError(
                f"the appeal against {subject} {reference} was decided already "
                f"({existing.decision} by {existing.decided_by}, case {wanted})"
            )
    holds: tuple[str, ...] = ()
    rule_id: str | None = None
    if subject == "action":
        disputed = _in_effect(current, reference)
        if disputed is None:
            raise UnknownAppealSubjectError(
                f"customer {customer_id} has no action {reference} in effect"
            )
        if any(hold.action_id == reference for hold in current.holds):
            holds = (reference,)
        rule_id = disputed.rule_id
        reason = f"The customer appeals {disputed.action} ({disputed.rule_id}): {disputed.reason}"
    else:
        if not (decision_known or reference == current.last_score_id):
            raise UnknownAppealSubjectError(f"customer {customer_id} has no decision {reference}")
        reason = f"The customer appeals decision {reference}"
    case = ReviewCase(
        case_id=wanted,
        origin="appeal",
        reference=f"{subject}:{reference}",
        customer_id=customer_id,
        opened_at=now,
        rule_id=rule_id,
        reason=reason,
        severity="yellow",
        score=current.last_score,
        grade=current.last_grade,
        holds=holds,
        statement=text,
    )
    opened = with_case(current, case).model_copy(
        update={"updated_at": now, "version": current.version + 1}
    )
    return opened, case
