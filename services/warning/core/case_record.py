"""The review case record kept in a customer's warning state (see
:mod:`services.warning.core.cases` for how cases open and are decided)."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Identifier, Timestamp
from schemas.scores import Grade, RiskLevel

CaseOrigin = Literal["rule_review", "escalation", "appeal", "limit_application"]
"""Why a case exists: ``rule_review`` (a rule issued manual_review; ``reference`` is that
action's id), ``escalation`` (a reviewer escalated a case; ``reference`` is its id),
``appeal`` (the customer disputes an action or a decision; ``reference`` is
``action:<action_id>`` or ``decision:<decision_id>``) or ``limit_application`` (an
application for a higher limit was referred; ``reference`` is its ``decision_id``)."""
CASE_ORIGINS: tuple[CaseOrigin, ...] = ("rule_review", "escalation", "appeal", "limit_application")
CaseStatus = Literal["open", "claimed", "decided"]
CaseDecision = Literal["confirm", "release", "escalate"]
Reviewer = Literal["analyst", "approver"]
"""The role a case needs: analysts (or approvers) decide rule reviews, approvers decide
escalations."""

MAX_COMMENT: Final = 2000
"""Longest decision comment, in characters."""
MAX_STATEMENT: Final = 2000
"""Longest statement of a customer's appeal, in characters."""


class ReviewCase(BaseModel):
    """One case. ``holds`` are the ids of the restrictions under review (restricting
    actions in the customer's holds); ``reason_codes`` the score's most adverse reasons.
    Confirm keeps what is reviewed (an appeal is rejected, a limit application declined);
    release lifts the holds under review (an appeal is upheld) or grants ``limit_offered``
    (a limit application is approved)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: str
    origin: CaseOrigin
    reference: str
    customer_id: Identifier
    opened_at: Timestamp
    reviewer: Reviewer = "analyst"
    rule_id: str | None = None
    rule_version: str | None = None
    reason: str
    severity: RiskLevel = "yellow"
    score: int | None = None
    grade: Grade | None = None
    model_version: str | None = None
    triggered_by: str | None = None
    reason_codes: tuple[str, ...] = ()
    holds: tuple[str, ...] = ()
    status: CaseStatus = "open"
    claimed_by: str | None = None
    claimed_at: Timestamp | None = None
    decision: CaseDecision | None = None
    decided_by: str | None = None
    decided_at: Timestamp | None = None
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)
    decision_action_ids: tuple[str, ...] = ()
    statement: str | None = Field(default=None, max_length=MAX_STATEMENT)
    """An appeal's statement, as the customer gave it: plain text, shown escaped."""
    limit_requested: float | None = Field(default=None, ge=0)
    """A limit application's requested limit."""
    limit_offered: float | None = Field(default=None, ge=0)
    """What releasing a limit application grants: the requested limit capped by what the
    model and the rules allowed when it was made."""

    @property
    def is_open(self) -> bool:
        """Waiting for a decision (open or claimed)."""
        return self.status != "decided"
