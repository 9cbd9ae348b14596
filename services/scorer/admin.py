"""Registry operations for data scientists: publish, list, activate, rollback, shadow.

Each operation that changes what serves is published on ``models.control`` (so every scorer
instance, this one included, swaps when it reads it) and recorded on ``risk.audit`` with
who, when and why. The HTTP admin routes and, through them, ``riskstream model`` call
:class:`ModelAdmin`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import orjson

from riskmodel.errors import GateRefusedError
from schemas.records import AuditRecord, ModelControl
from services.common.clock import Clock
from services.scorer.holder import ModelHolder, Role
from services.scorer.registry import ModelRegistry

SERVICE = "scorer"


class ControlPublisher(Protocol):
    """Publishes control and audit records; each call returns once Kafka acknowledged
    (raises ControlUnavailableError otherwise)."""

    async def publish_control(self, record: ModelControl) -> None: ...

    async def publish_audit(self, record: AuditRecord) -> None: ...


class ModelAdmin:
    def __init__(
        self,
        registry: ModelRegistry,
        publisher: ControlPublisher,
        holder: ModelHolder,
        clock: Clock,
        swap_wait_s: float,
        on_load_failure: Callable[[str], None],
    ) -> None:
        self._registry = registry
        self._publisher = publisher
        self._holder = holder
        self._clock = clock
        self._swap_wait_s = swap_wait_s
        self._on_load_failure = on_load_failure

    async def _audit(
        self, actor: str, operation: str, subject: str, reason: str, details: dict[str, Any]
    ) -> None:
        await self._publisher.publish_audit(
            AuditRecord.new(
                service=SERVICE,
                actor=actor,
                operation=operation,
                subject=subject,
                reason=reason,
                details=details,
                at=self._clock.now(),
            )
        )

    async def _gated(self, operation: str, action: Callable[[], Any]) -> Any:
        try:
            return await asyncio.to_thread(action)
        except Exception:
            self._on_load_failure(operation)
            raise

    async def publish(self, source: Path, actor: str, reason: str) -> dict[str, Any]:
        """Gates and stores the bundle at ``source``; the audit says whether it was new. A
        bundle the gate refuses is audited too (``model.publish_refused``, with the code),
        so the gate's verdicts are on the trail."""
        try:
            entry, created = await self._gated("publish", lambda: self._registry.publish(source))
        except GateRefusedError as refused:
            await self._audit(
                actor,
                "model.publish_refused",
                source.name,
                reason,
                {"code": refused.code, "detail": str(refused)[:500], "path": str(source)},
            )
            raise
        await self._audit(
            actor,
            "model.publish",
            entry.model_version,
            reason,
            {"created": created, "path": str(entry.path), "metrics": entry.metrics},
        )
        return {**entry.as_dict(), "created": created}

    async def list(self) -> dict[str, Any]:
        entries = await asyncio.to_thread(self._registry.entries)
        history = await asyncio.to_thread(self._registry.history)
        champion = self._holder.champion()
        challenger = self._holder.challenger()
        return {
            "active": champion.version if champion else None,
            "shadow": challenger.version if challenger else None,
            "history": history,
            "models": [entry.as_dict() for entry in entries],
        }

    async def _switch(
        self, role: Role, version: str | None, actor: str, reason: str
    ) -> dict[str, Any]:
        """Publishes the control record for ``role`` and waits until this process serves it."""
        uri = None
        if version is not None:
            model = await self._gated(f"{role}", lambda: self._registry.open(version))
            uri = str(model.path)
        await self._publisher.publish_control(
            ModelControl(
                role=role,
                model_version=version,
                bundle_uri=uri,
                actor=actor,
                reason=reason,
                at=self._clock.now(),
            )
        )
        applied = await self._wait_until(lambda: self._serving(role) == version)
        return {"role": role, "model_version": version, "applied_locally": applied}

    def _serving(self, role: Role) -> str | None:
        model = self._holder.serving(role)
        return model.version if model is not None else None

    async def _wait_until(self, condition: Callable[[], bool]) -> bool:
        deadline = asyncio.get_running_loop().time() + self._swap_wait_s
        while not condition():
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def champion(self) -> str | None:
        """The version this process serves as champion (None: none)."""
        return self._serving("active")

    async def previous(self) -> tuple[str, str]:
        """``(serving, previous)`` per the activation history; RegistryError
        ``nothing_to_roll_back``."""
        return await asyncio.to_thread(self._registry.previous)

    async def check_published(self, version: str) -> None:
        """RegistryError ``unknown_version`` unless ``version`` is published."""
        await asyncio.to_thread(self._registry.path_of, version)

    async def report(self, version: str) -> dict[str, Any] | None:
        """The evaluation report (``report.json``) a published bundle carries, if any."""
        path = await asyncio.to_thread(self._registry.path_of, version)
        report = path / "report.json"
        if not await asyncio.to_thread(report.is_file):
            return None
        loaded: dict[str, Any] = orjson.loads(await asyncio.to_thread(report.read_bytes))
        return loaded

    async def activate(
        self, version: str, actor: str, reason: str, approval: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Makes ``version`` the champion on every instance. ``approval`` (the four-eyes
        change: its id, proposer and approver) goes into the audit details."""
        previous = self._serving("active")
        result = await self._switch("active", version, actor, reason)
        await self._audit(
            actor, "model.activate", version, reason, {"previous": previous, **(approval or {})}
        )
        return result

    async def rollback(
        self,
        actor: str,
        reason: str,
        approval: dict[str, Any] | None = None,
        emergency: bool = False,
    ) -> dict[str, Any]:
        """Re-activates the version active before the current one (the history is the one
        every process records from ``models.control``, so any process can roll back an
        activation another one made). An ``emergency`` rollback, done by one person alone,
        is audited as ``model.rollback.emergency``."""
        current, previous = await asyncio.to_thread(self._registry.previous)
        result = await self._switch("active", previous, actor, reason)
        operation = "model.rollback.emergency" if emergency else "model.rollback"
        await self._audit(actor, operation, previous, reason, {"from": current, **(approval or {})})
        return result

    async def shadow(self, version: str | None, actor: str, reason: str) -> dict[str, Any]:
        """Scores ``version`` beside the champion on live traffic (None: stop shadowing)."""
        previous = self._serving("shadow")
        result = await self._switch("shadow", version, actor, reason)
        await self._audit(actor, "model.shadow", version or "none", reason, {"previous": previous})
        return result
