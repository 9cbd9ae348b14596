"""An in-memory stand-in for the change ledger (``services.common.changes.ChangeStore``)."""

from __future__ import annotations

from schemas.changes import ChangeRequest
from schemas.records import AuditRecord
from services.common.changes import ChangeError


class FakeChangeStore:
    def __init__(self) -> None:
        self.changes: dict[str, ChangeRequest] = {}
        self.audits: list[AuditRecord] = []
        self.available = True

    async def wait_caught_up(self, timeout_s: float) -> None:
        assert timeout_s > 0
        if not self.available:
            raise ChangeError("changes_unavailable", "kafka down")

    def get(self, change_id: str) -> ChangeRequest | None:
        return self.changes.get(change_id)

    def all(self) -> list[ChangeRequest]:
        return list(self.changes.values())

    async def put(self, change: ChangeRequest) -> None:
        if not self.available:
            raise ChangeError("changes_unavailable", "kafka down")
        self.changes[change.change_id] = change

    async def audit(self, record: AuditRecord) -> None:
        if not self.available:
            raise ChangeError("changes_unavailable", "kafka down")
        self.audits.append(record)
