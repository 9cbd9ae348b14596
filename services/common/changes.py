"""Four-eyes changes: one person proposes, another with the approver role puts it in force.

:class:`ChangeDesk` is the use case every transport calls (the warning service's rules, the
scorer's model activations and rollbacks; their HTTP routes, the command line and the
console through them). The rule it enforces:

- anyone with a proposing role may propose; a proposal changes nothing;
- only an approver may approve, and never their own proposal (identities are compared,
  so one person using two keys, or the console and a key, is still one person);
- an approval applies the change through the service's applier, then records the change
  as applied; ``change.propose`` / ``change.approve`` / ``change.reject`` audit records
  name the proposer and the approver;
- a change proposed against something that has since changed is refused as stale.

The record is the compacted ``admin.changes`` topic (:class:`ChangeLedger`): every process
reads it whole at start-up and follows it, so a proposal made on one instance can be
approved on another and survives restarts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.changes import ChangeKind, ChangeRequest
from schemas.records import AuditRecord
from services.common.clock import Clock
from services.common.consuming import run_consumer
from services.common.kafka import ProducerUnavailableError, ResilientProducer, make_consumer
from services.common.settings import ServiceSettings
from services.common.topics import Topic

log = logging.getLogger(__name__)

CATCH_UP_WAIT_S = 10.0
"""Longest a change operation waits for the ledger to have read the topic's history."""


class ChangeError(Exception):
    """A change operation refused, with a stable ``code``: ``unknown_change``,
    ``change_closed``, ``four_eyes`` (the proposer tried to approve), ``stale_change``,
    ``not_allowed``, ``invalid_change`` or ``changes_unavailable`` (Kafka)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


Applier = Callable[[ChangeRequest, str], Awaitable[dict[str, Any]]]
"""Puts an approved change in force (given the approver's identity) and answers what it did;
raises ChangeError (``stale_change``) or the service's own errors to refuse."""


class ChangeStore(Protocol):
    """Where change requests are recorded and read back."""

    async def wait_caught_up(self, timeout_s: float) -> None:
        """Returns once the history is read; ChangeError ``changes_unavailable`` if not in
        time."""
        ...

    def get(self, change_id: str) -> ChangeRequest | None: ...

    def all(self) -> list[ChangeRequest]: ...

    async def put(self, change: ChangeRequest) -> None:
        """Records ``change`` (acknowledged by Kafka); ChangeError otherwise."""
        ...

    async def audit(self, record: AuditRecord) -> None:
        """Records ``record`` on ``risk.audit``; ChangeError otherwise."""
        ...


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class ChangeDesk:
    """Proposals, approvals and rejections of the change kinds one service applies."""

    def __init__(
        self,
        service: str,
        store: ChangeStore,
        clock: Clock,
        appliers: Mapping[ChangeKind, Applier],
    ) -> None:
        self._service = service
        self._store = store
        self._clock = clock
        self._appliers = dict(appliers)
        self._lock = asyncio.Lock()

    @property
    def kinds(self) -> Collection[ChangeKind]:
        return self._appliers.keys()

    async def list(self, status: str | None = None) -> list[ChangeRequest]:
        """This service's changes, newest first, optionally of one status."""
        await self._store.wait_caught_up(CATCH_UP_WAIT_S)
        changes = [
            change
            for change in self._store.all()
            if change.kind in self._appliers and (status is None or change.status == status)
        ]
        return sorted(changes, key=lambda change: change.proposed_at, reverse=True)

    async def get(self, change_id: str) -> ChangeRequest:
        await self._store.wait_caught_up(CATCH_UP_WAIT_S)
        change = self._store.get(change_id)
        if change is None or change.kind not in self._appliers:
            raise ChangeError("unknown_change", f"no change {change_id}")
        return change

    async def propose(
        self,
        kind: ChangeKind,
        *,
        target: str,
        reason: str,
        proposer: str,
        payload: str | None = None,
        base: str | None = None,
    ) -> ChangeRequest:
        """Records a proposal (nothing changes yet) and audits it."""
        if kind not in self._appliers:
            raise ChangeError("invalid_change", f"{self._service} does not apply {kind} changes")
        await self._store.wait_caught_up(CATCH_UP_WAIT_S)
        now = self._clock.now()
        change = ChangeRequest(
            change_id=uuid.uuid4().hex,
            kind=kind,
            target=target,
            payload=payload,
            payload_sha256=None if payload is None else digest_of(payload),
            base=base,
            reason=reason,
            proposed_by=proposer,
            proposed_at=now,
        )
        await self._record(proposer, "change.propose", change, reason)
        return change

    async def approve(
        self, change_id: str, approver: str, reason: str
    ) -> tuple[ChangeRequest, dict[str, Any]]:
        """Puts a proposed change in force; refused (ChangeError ``four_eyes``) when the
        approver proposed it, ``change_closed`` when it is no longer proposed. The caller
        checks the approver's role."""
        async with self._lock:
            change = await self.get(change_id)
            refuse_closed(change)
            if change.proposed_by == approver:
                raise ChangeError("four_eyes", "the person who proposed a change cannot approve it")
            result = await self._appliers[change.kind](change, approver)
            decided = self._decided(change, "applied", approver, reason)
            await self._record(approver, "change.approve", decided, reason)
        return decided, result

    async def reject(self, change_id: str, actor: str, reason: str) -> ChangeRequest:
        """Closes a proposal without applying it: ``withdrawn`` by its proposer,
        ``rejected`` by anyone else (the caller checks the role)."""
        async with self._lock:
            change = await self.get(change_id)
            refuse_closed(change)
            status = "withdrawn" if change.proposed_by == actor else "rejected"
            decided = self._decided(change, status, actor, reason)
            await self._record(actor, "change.reject", decided, reason)
        return decided

    async def record_emergency(
        self, kind: ChangeKind, target: str, actor: str, reason: str, base: str | None
    ) -> ChangeRequest:
        """Records a change one person put in force alone in an emergency (the caller has
        applied it), marked ``emergency`` and audited as such."""
        now = self._clock.now()
        change = ChangeRequest(
            change_id=uuid.uuid4().hex,
            kind=kind,
            target=target,
            base=base,
            reason=reason,
            proposed_by=actor,
            proposed_at=now,
            status="applied",
            decided_by=actor,
            decided_at=now,
            decision_reason=reason,
            emergency=True,
        )
        await self._record(actor, "change.emergency", change, reason)
        return change

    def _decided(
        self, change: ChangeRequest, status: str, actor: str, reason: str
    ) -> ChangeRequest:
        return ChangeRequest.model_validate(
            {
                **change.model_dump(),
                "status": status,
                "decided_by": actor,
                "decided_at": self._clock.now(),
                "decision_reason": reason,
            }
        )

    async def _record(self, actor: str, operation: str, change: ChangeRequest, reason: str) -> None:
        """Audits the change, then records it on the ledger."""
        await self._store.audit(
            AuditRecord.new(
                service=self._service,
                actor=actor,
                operation=operation,
                subject=change.target,
                reason=reason,
                details={
                    "change_id": change.change_id,
                    "kind": change.kind,
                    "status": change.status,
                    "proposed_by": change.proposed_by,
                    "approved_by": change.decided_by if change.status == "applied" else None,
                    "decided_by": change.decided_by,
                    "payload_sha256": change.payload_sha256,
                    "base": change.base,
                    "emergency": change.emergency,
                },
                at=self._clock.now(),
            )
        )
        await self._store.put(change)


def refuse_closed(change: ChangeRequest) -> None:
    if change.status != "proposed":
        raise ChangeError("change_closed", f"change {change.change_id} is {change.status} already")


class ChangeLedger:
    """The Kafka adapter of :class:`ChangeStore`: the compacted ``admin.changes`` topic,
    read whole and followed by :meth:`run` (no consumer group), written through the
    service's producer."""

    def __init__(self, settings: ServiceSettings, producer: ResilientProducer) -> None:
        self._settings = settings
        self._producer = producer
        self._topic = settings.topics(Topic.ADMIN_CHANGES)
        self._changes: dict[str, ChangeRequest] = {}
        self._next_offset = 0
        self.caught_up = asyncio.Event()

    async def wait_caught_up(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self.caught_up.wait(), timeout_s)
        except TimeoutError as error:
            raise ChangeError(
                "changes_unavailable", "the change history could not be read from Kafka"
            ) from error

    def get(self, change_id: str) -> ChangeRequest | None:
        return self._changes.get(change_id)

    def all(self) -> list[ChangeRequest]:
        return list(self._changes.values())

    async def _send(self, topic: str, key: str, value: bytes) -> None:
        try:
            await self._producer.send_all(topic, [(key.encode(), value)])
        except ProducerUnavailableError as error:
            raise ChangeError("changes_unavailable", str(error)) from error

    async def put(self, change: ChangeRequest) -> None:
        await self._send(self._topic, change.change_id, change.model_dump_json().encode())
        self._changes[change.change_id] = change

    async def audit(self, record: AuditRecord) -> None:
        await self._send(
            self._settings.topics(Topic.AUDIT), record.subject, record.model_dump_json().encode()
        )

    async def run(self) -> None:
        """Reads the history, then follows new records, reconnecting after Kafka errors."""
        await run_consumer(
            "admin.changes follower",
            lambda: make_consumer(self._settings, group_id=None),
            self._follow,
            delay_s=0.5,
            max_delay_s=5.0,
        )

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        partition = TopicPartition(self._topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, self._next_offset)
        end = (await consumer.end_offsets([partition]))[partition]
        while True:
            batch = await consumer.getmany(partition, timeout_ms=500)
            for record in batch.get(partition, []):
                self._next_offset = record.offset + 1
                self._apply(record.value)
            if self._next_offset >= end and not self.caught_up.is_set():
                self.caught_up.set()

    def _apply(self, value: bytes | None) -> None:
        if value is None:
            return
        try:
            change = ChangeRequest.model_validate_json(value)
        except ValidationError as error:
            log.error("unreadable admin.changes record skipped", extra={"error": str(error)})
            return
        known = self._changes.get(change.change_id)
        if known is not None and known.status != "proposed" and change.status == "proposed":
            return  # this process wrote the decision already; the proposal is older
        self._changes[change.change_id] = change
