"""Writes the JSON Schema files under ``schemas/json/`` for producers and consumers in other
languages: ``python -m schemas.export`` (``make schemas``). A test fails when they are stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from schemas.actions import CustomerRiskState, RiskAction
from schemas.changes import ChangeRequest
from schemas.decisions import CustomerExplanation, DecisionRecord
from schemas.events import (
    BureauReportEvent,
    InboundEvent,
    OrderEvent,
    PaymentEvent,
    RefundEvent,
    RegistrationEvent,
    ReviewEvent,
    VerificationEvent,
)
from schemas.features import FeatureSnapshot, FeatureUpdate
from schemas.records import AuditRecord, DeadLetterRecord, ModelControl
from schemas.scores import (
    ScoreBatchRequest,
    ScoreBatchResponse,
    ScoreRecord,
    ScoreRequest,
    ScoreResponse,
)
from schemas.signals import (
    MatchedSignal,
    SharedSignal,
    SignalPublication,
    SignalRetraction,
    SubjectRecord,
)

SCHEMA_DIR = Path(__file__).parent / "json"

_MODELS: dict[str, type[BaseModel]] = {
    "order-event": OrderEvent,
    "payment-event": PaymentEvent,
    "refund-event": RefundEvent,
    "review-event": ReviewEvent,
    "registration-event": RegistrationEvent,
    "verification-event": VerificationEvent,
    "bureau-report-event": BureauReportEvent,
    "signal-publication": SignalPublication,
    "signal-retraction": SignalRetraction,
    "matched-signal": MatchedSignal,
    "score-request": ScoreRequest,
    "score-batch-request": ScoreBatchRequest,
    "score-response": ScoreResponse,
    "score-batch-response": ScoreBatchResponse,
    "score-record": ScoreRecord,
    "risk-action": RiskAction,
    "customer-risk-state": CustomerRiskState,
    "feature-snapshot": FeatureSnapshot,
    "feature-update": FeatureUpdate,
    "dead-letter-record": DeadLetterRecord,
    "audit-record": AuditRecord,
    "model-control": ModelControl,
    "change-request": ChangeRequest,
    "decision-record": DecisionRecord,
    "customer-explanation": CustomerExplanation,
}


_UNIONS: dict[str, tuple[str, Any]] = {
    "inbound-event": ("InboundEvent", InboundEvent),
    "shared-signal": ("SharedSignal", SharedSignal),
    "subject-record": ("SubjectRecord", SubjectRecord),
}
_ACCEPTED = ("event", "request", "signal-publication", "signal-retraction")
"""Records described as accepted (what a producer may send); the others as produced."""


def generated_schemas() -> dict[str, dict[str, Any]]:
    """File name (without ``.schema.json``) to JSON Schema, for every wire record."""
    result: dict[str, dict[str, Any]] = {}
    for name, model in _MODELS.items():
        # Inbound records are described as accepted, outbound ones as produced.
        if name.endswith(_ACCEPTED):
            result[name] = model.model_json_schema(mode="validation")
        else:
            result[name] = model.model_json_schema(mode="serialization")
    for name, (title, union) in _UNIONS.items():
        schema = TypeAdapter(union).json_schema(mode="validation")
        schema["title"] = title
        result[name] = schema
    return result


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    wanted = generated_schemas()
    for stale in SCHEMA_DIR.glob("*.schema.json"):
        if stale.name.removesuffix(".schema.json") not in wanted:
            stale.unlink()
    for name, schema in wanted.items():
        (SCHEMA_DIR / f"{name}.schema.json").write_text(render(schema))
    sys.stdout.write(f"wrote {len(wanted)} schemas to {SCHEMA_DIR}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
