"""The live rule set and how it is replaced: validated first, audited, then swapped.

A rule set that fails validation is refused with its line and reason, the refusal is
counted and audited, and the old rules stay live. A valid change that cannot be recorded on
``risk.audit`` is refused too: no rule change takes effect without its audit record.
Replacements are serialised, so a ``PUT /v1/rules`` and a change of the rule file never
interleave.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from schemas.records import AuditRecord
from services.common.clock import Clock
from services.warning.core import RuleSet, load_rules
from services.warning.errors import PublishUnavailableError, RulesError
from services.warning.usecase import SERVICE, AuditSink

log = logging.getLogger(__name__)


class RulesObserver(Protocol):
    def rules_live(self, version: str, digest: str) -> None: ...

    def rules_refused(self, source: str) -> None: ...


@dataclass(frozen=True, slots=True)
class LiveRules:
    """A validated rule set with the text it came from. ``origin`` is where it came from
    (``file:<path>`` or ``api``)."""

    rules: RuleSet
    text: str
    sha256: str
    origin: str
    loaded_at: datetime

    @classmethod
    def parse(cls, text: bytes, origin: str, at: datetime) -> LiveRules:
        """Validates ``text``; raises :class:`RulesError` naming the line and reason."""
        rules = load_rules(text)
        return cls(rules, text.decode("utf-8"), digest_of(text), origin, at)


@dataclass(frozen=True, slots=True)
class RulesChange:
    """The rules live after a replacement; ``changed`` is false when the text was the live
    one already (nothing audited, nothing swapped)."""

    live: LiveRules
    changed: bool


def digest_of(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


class Rulebook:
    """Holds the live rules (the :class:`services.warning.usecase.RuleSource` the use case
    reads) and replaces them."""

    def __init__(
        self, initial: LiveRules, audit: AuditSink, clock: Clock, observer: RulesObserver
    ) -> None:
        self._live = initial
        self._audit = audit
        self._clock = clock
        self._observer = observer
        self._lock = asyncio.Lock()
        observer.rules_live(initial.rules.version, initial.sha256)

    def current(self) -> RuleSet:
        return self._live.rules

    def live(self) -> LiveRules:
        return self._live

    async def validate(self, text: bytes, *, origin: str, source: str, actor: str) -> LiveRules:
        """Validates ``text`` as a candidate rule set without making it live. A refusal is
        logged, counted and audited as :meth:`replace` does, then raised."""
        now = self._clock.now()
        try:
            return LiveRules.parse(text, origin, now)
        except RulesError as error:
            await self._refused(error, text, origin, source, actor, now)
            raise

    async def replace(
        self,
        text: bytes,
        *,
        origin: str,
        source: str,
        actor: str,
        persist: Callable[[bytes], None] | None = None,
        approval: dict[str, str] | None = None,
    ) -> RulesChange:
        """Validates ``text`` and makes it the live rule set.

        ``source`` labels the refusal metric (``file`` or ``api``); ``persist``, if given,
        writes the accepted text where it will be read on the next start, after the audit
        and before the swap. ``approval`` (the change id, who proposed and who approved a
        four-eyes change) goes into the audit record's details. Raises
        :class:`RulesError` (line and reason) for an invalid set and
        :class:`PublishUnavailableError` when the change could not be audited; in both
        cases the old rules stay live.
        """
        async with self._lock:
            now = self._clock.now()
            try:
                candidate = LiveRules.parse(text, origin, now)
            except RulesError as error:
                await self._refused(error, text, origin, source, actor, now)
                raise
            live = self._live
            if candidate.sha256 == live.sha256:
                return RulesChange(live, changed=False)
            try:
                await self._audit.record(
                    self._audit_record(
                        "rules.reload",
                        actor,
                        origin,
                        f"rule set {candidate.rules.version} replaces {live.rules.version}",
                        {
                            "old_version": live.rules.version,
                            "new_version": candidate.rules.version,
                            "old_sha256": live.sha256,
                            "new_sha256": candidate.sha256,
                            "rule_ids": [rule.id for rule in candidate.rules.rules],
                            **(approval or {}),
                        },
                        now,
                    )
                )
            except PublishUnavailableError:
                self._observer.rules_refused(source)
                raise
            if persist is not None:
                persist(text)
            self._live = candidate
            self._observer.rules_live(candidate.rules.version, candidate.sha256)
            log.info(
                "rules replaced",
                extra={
                    "origin": origin,
                    "version": candidate.rules.version,
                    "sha256": candidate.sha256,
                },
            )
            return RulesChange(candidate, changed=True)

    async def _refused(
        self, error: RulesError, text: bytes, origin: str, source: str, actor: str, now: datetime
    ) -> None:
        self._observer.rules_refused(source)
        log.error(
            "rule set refused; the old rules stay live",
            extra={"origin": origin, "line": error.line, "reason": error.reason},
        )
        record = self._audit_record(
            "rules.reload_refused",
            actor,
            origin,
            str(error),
            {
                "line": error.line,
                "error": error.reason,
                "sha256": digest_of(text),
                "live_version": self._live.rules.version,
            },
            now,
        )
        try:
            await self._audit.record(record)
        except PublishUnavailableError as audit_error:
            # The refusal stands whether or not it could be recorded.
            log.error("refusal not audited", extra={"error": str(audit_error)})

    @staticmethod
    def _audit_record(
        operation: str,
        actor: str,
        subject: str,
        reason: str,
        details: dict[str, Any],
        now: datetime,
    ) -> AuditRecord:
        return AuditRecord.new(
            service=SERVICE,
            actor=actor,
            operation=operation,
            subject=subject,
            reason=reason,
            details=details,
            at=now,
        )
