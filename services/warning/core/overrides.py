"""Administrators' actions on a customer (an unfreeze after a review, a manual freeze):
the same state and the same action contract as the rules use, under their own rule id."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from schemas.actions import ActionType, ActiveAction, RiskAction
from schemas.scores import RiskLevel
from services.common.texts import customer_language, texts_for
from services.warning.core.notices import override_notice
from services.warning.core.rules import RESTRICTIONS, REVERSALS
from services.warning.core.state import Enforced, Evaluation, WarningState, action_id
from services.warning.errors import StateError

MANUAL_OVERRIDE_RULE_ID: Final = "manual-override"
"""``rule_id`` of administrator actions (rule ids cannot contain '-', so it never clashes)."""
MANUAL_OVERRIDE_VERSION: Final = "manual"

_OVERRIDE_SEVERITY: Final[Mapping[ActionType, RiskLevel]] = {
    "notify": "green",
    "manual_review": "yellow",
    "require_prepayment": "yellow",
    "cut_limit": "yellow",
    "freeze_credit": "red",
    "suspend_account": "red",
    "restore_limit": "green",
    "unfreeze_credit": "green",
    "reinstate_account": "green",
}


def manual_override(
    state: WarningState,
    action: ActionType,
    reason: str,
    actor: str,
    now: datetime,
    credit_limit: float | None = None,
) -> Evaluation:
    """An administrator's action on a customer, e.g. unfreeze after a review.

    A reversal lifts every hold it undoes, whichever rule imposed it; the rule itself
    stays active, so it does not re-impose the hold on the next score (it can again once
    it has exited and re-entered, or by escalation). A restriction adds a hold under
    :data:`MANUAL_OVERRIDE_RULE_ID` that only a manual reversal lifts; ``cut_limit``
    needs ``credit_limit``. The action's ``triggered_by`` names the actor and instant,
    so its id is stable for a retried request. Raises :class:`StateError` for an empty
    reason or actor, a reversal with nothing to reverse, or a misplaced ``credit_limit``.
    """
    if not reason.strip() or not actor.strip():
        raise StateError("a manual override needs a reason and an actor")
    if (action == "cut_limit") != (credit_limit is not None):
        raise StateError("credit_limit goes with cut_limit, and only with it")
    if credit_limit is not None and not (math.isfinite(credit_limit) and credit_limit >= 0):
        raise StateError("credit_limit must be a non-negative amount")
    triggered_by = f"override:{actor}:{now.isoformat()}"
    identifier = action_id(
        state.customer_id, MANUAL_OVERRIDE_RULE_ID, MANUAL_OVERRIDE_VERSION, action, triggered_by
    )
    text = f"manual override by {actor}: {reason}"
    before = Enforced.of(state.holds)
    holds = list(state.holds)
    if action in REVERSALS:
        holds = [hold for hold in holds if hold.action not in REVERSALS[action]]
        if not before.differs_for(action, Enforced.of(holds)):
            raise StateError(f"nothing to {action}: the customer is {state.status}")
    elif action in RESTRICTIONS:
        holds = [
            hold
            for hold in holds
            if not (hold.rule_id == MANUAL_OVERRIDE_RULE_ID and hold.action == action)
        ]
        holds.append(
            ActiveAction(
                action_id=identifier,
                action=action,
                rule_id=MANUAL_OVERRIDE_RULE_ID,
                reason=text,
                issued_at=now,
                credit_limit=credit_limit,
                severity=_OVERRIDE_SEVERITY[action],
            )
        )
    after = Enforced.of(holds)
    published_limit = after.limit if action in ("cut_limit", "restore_limit") else None
    risk_action = RiskAction(
        action_id=identifier,
        customer_id=state.customer_id,
        action=action,
        credit_limit=published_limit,
        severity=_OVERRIDE_SEVERITY[action],
        rule_id=MANUAL_OVERRIDE_RULE_ID,
        rule_version=MANUAL_OVERRIDE_VERSION,
        reason=text,
        score=state.last_score,
        grade=state.last_grade,
        triggered_by=triggered_by,
        issued_at=now,
    )
    new_state = state.model_copy(
        update={
            "holds": tuple(holds),
            "status_since": now if after.status != before.status else state.status_since,
            "updated_at": now,
            "version": state.version + 1,
        }
    )
    texts = texts_for(customer_language(state.locale))
    return Evaluation([override_notice(risk_action, reason, texts)], new_state)
