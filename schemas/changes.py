"""Four-eyes change requests on the compacted ``admin.changes`` topic (key: ``change_id``;
the latest record of a change is its state).

A change that alters how customers' credit is decided (a rule set, a model activation or
rollback) is *proposed* by one person and *approved* by another with the approver role;
only the approval puts it in force. Both names stay on the record and on ``risk.audit``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Timestamp

ChangeKind = Literal["rules", "model.activate", "model.rollback"]
ChangeStatus = Literal["proposed", "applied", "rejected", "withdrawn"]
MAX_CHANGE_REASON = 500


class ChangeRequest(BaseModel):
    """One proposed change and what became of it.

    ``target`` is what the change puts in force (the rule set's version, the model version);
    ``payload`` the rule file's text for ``rules``; ``base`` what was in force when it was
    proposed (the live rules' sha256, the serving model version), so an approval of a
    change proposed against something that has changed since is refused as stale.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    change_id: str
    kind: ChangeKind
    target: str
    payload: str | None = None
    payload_sha256: str | None = None
    base: str | None = None
    reason: str = Field(min_length=1, max_length=MAX_CHANGE_REASON)
    proposed_by: str
    proposed_at: Timestamp
    status: ChangeStatus = "proposed"
    decided_by: str | None = None
    decided_at: Timestamp | None = None
    decision_reason: str | None = Field(default=None, max_length=MAX_CHANGE_REASON)
    emergency: bool = False
