"""Operational records: dead letters (``events.dlq``), the audit trail (``risk.audit``) and
model control messages (``models.control``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Timestamp


class DeadLetterRecord(BaseModel):
    """A record some consumer could not process, with where it came from and why.

    ``value_b64`` holds the original bytes (base64) so an operator can repair and replay it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    reason: str = Field(description="Short machine code, e.g. invalid_json, schema_violation.")
    detail: str = Field(description="Human-readable detail: the field and what is wrong.")
    service: str
    key: str | None = Field(description="The record key as text (the customer id), if any.")
    value_b64: str
    failed_at: Timestamp


class AuditRecord(BaseModel):
    """Every decision-relevant administrative change: model publish/activate/rollback,
    rule changes, manual overrides. Append-only on ``risk.audit``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    audit_id: str
    service: str
    actor: str = Field(description="Who: the key's label, never the key itself.")
    operation: str = Field(description="What, e.g. model.activate, rules.reload, override.")
    subject: str = Field(description="On what: a model version, rule file, customer id.")
    reason: str
    details: dict[str, Any] = Field(default_factory=dict)
    at: Timestamp

    @classmethod
    def new(
        cls,
        *,
        service: str,
        actor: str,
        operation: str,
        subject: str,
        reason: str,
        at: datetime,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """A record with a fresh random ``audit_id``."""
        return cls(
            audit_id=uuid.uuid4().hex,
            service=service,
            actor=actor,
            operation=operation,
            subject=subject,
            reason=reason,
            details=details or {},
            at=at,
        )


class ModelControl(BaseModel):
    """A registry event on the compacted ``models.control`` topic. The record keyed
    ``active`` names the champion; ``shadow`` names the challenger (or null)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["active", "shadow"]
    model_version: str | None
    bundle_uri: str | None
    actor: str
    reason: str
    at: Timestamp
