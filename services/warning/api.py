"""HTTP transport of the warning service: customers' risk state, manual overrides, review
cases, customers' appeals and limit applications, and the rule set (changed under the
four-eyes rule).

Status codes: 201 for an override published, recorded and stored, for a proposal recorded
and for an appeal opened; 200 for a limit application decided; 403 when the caller's role
may not act (a case for approvers, an approval); 404 for an unknown case, or an appeal
against an action or decision the customer does not have; 409 when an override does not
fit the customer's state (nothing to reverse, a limit without cut_limit), a case was
decided already or is held by someone else, a record was appealed already
(``appeal_exists``) or an earlier limit application is under review
(``application_under_review``); 422 for an invalid body or rule set (a rule set's error
names its line); 503 with ``Retry-After`` when Kafka or Redis could not complete the change
(nothing has changed then), while Redis is being rebuilt from ``warning.state``
(``store_rebuilding``), or when the score service cannot judge a limit application
(``scoring_unavailable``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from schemas.actions import ActionType
from schemas.changes import MAX_CHANGE_REASON
from schemas.common import MAX_AMOUNT
from services.common.auth import CASE_REVIEWERS, KeyRing, Principal, Scope
from services.common.change_api import (
    Proposer,
    change_view,
    in_roles,
    install_change_routes,
)
from services.common.changes import ChangeDesk
from services.common.http import (
    NO_OPENTELEMETRY,
    JsonResponse,
    Lifecycle,
    ReadinessCheck,
    ReadinessDetails,
    app_principal,
    error_response,
    install_common,
    require_scope,
)
from services.warning.core import (
    MAX_COMMENT,
    MAX_STATEMENT,
    AppealSubject,
    CaseDecision,
    ReviewCase,
    Rule,
    check_statement,
)
from services.warning.errors import (
    AppealConflictError,
    CaseConflictError,
    CaseForbiddenError,
    CaseNotFoundError,
    LimitApplicationConflictError,
    PublishUnavailableError,
    RulesError,
    ScoringUnavailableError,
    StateError,
    StoreRebuildingError,
    StoreUnavailableError,
    UnknownAppealSubjectError,
)
from services.warning.rulebook import LiveRules, Rulebook
from services.warning.settings import WarningSettings
from services.warning.usecase import LimitApplicationResult, WarningDesk

CustomerId = Annotated[str, Path(min_length=1, max_length=64)]
CaseId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f-]+$")]
PUT_REASON_HEADER = "x-riskstream-reason"
"""Why a rule file sent with ``PUT /v1/rules`` is proposed (optional)."""


Administrator = Annotated[Principal, Depends(app_principal(Scope.ADMIN))]
"""Callers whose key has the admin scope."""
Client = Annotated[Principal, Depends(app_principal(Scope.CLIENT))]
"""Callers whose key has the client scope (or admin)."""
MAX_LIMIT = 1e9
"""Largest limit an application may name."""
ACTION_ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
DECISION_ID = r"^[0-9a-f]{32}$"


class LimitApplicationRequest(BaseModel):
    """An application for a higher credit limit: the limit wanted and, when the order
    system knows it, the limit the customer has now."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requested_limit: float = Field(gt=0, le=MAX_LIMIT, allow_inf_nan=False)
    current_limit: float | None = Field(default=None, ge=0, le=MAX_LIMIT, allow_inf_nan=False)


class AppealRequest(BaseModel):
    """A customer's dispute: exactly one of ``action_id`` (an action in effect, the
    notice's ``appeal_reference``) and ``decision_id``, with the customer's statement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action_id: str | None = Field(default=None, pattern=ACTION_ID)
    decision_id: str | None = Field(default=None, pattern=DECISION_ID)
    statement: str = Field(min_length=1, max_length=MAX_STATEMENT)


def limit_application_view(customer_id: str, result: LimitApplicationResult) -> dict[str, Any]:
    decided, assessment = result.decision, result.assessment
    return {
        "customer_id": customer_id,
        "decision_id": assessment.decision_id,
        "decided_at": result.decided_at.isoformat(),
        "decision": decided.outcome,
        "requested_limit": decided.requested,
        "approved_limit": decided.approved_limit,
        "ceiling": decided.ceiling,
        "reasons": [{"code": r.code, "text": r.text} for r in decided.reasons],
        "case_id": decided.case.case_id if decided.case else None,
        "action_id": decided.action.action_id if decided.action else None,
        "grade": assessment.grade,
        "score": assessment.score,
        "model_version": assessment.model_version,
    }


def _field_error(field: str, reason: str) -> JsonResponse:
    return error_response(422, "validation_error", [{"field": field, "reason": reason}])


Reviewer = Annotated[Principal, Depends(in_roles(CASE_REVIEWERS))]

_YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}


class RulesProposal(BaseModel):
    """A proposed rule file and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=256 * 1024)
    reason: str = Field(min_length=1, max_length=MAX_CHANGE_REASON)


class CaseDecisionRequest(BaseModel):
    """A reviewer's decision on a case; the comment is required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: CaseDecision
    comment: str = Field(min_length=1, max_length=MAX_COMMENT)


def case_view(case: ReviewCase) -> dict[str, Any]:
    return case.model_dump(mode="json")


class OverrideRequest(BaseModel):
    """An administrator's action on one customer. ``credit_limit`` goes with ``cut_limit``
    only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: ActionType
    reason: str = Field(min_length=1, max_length=500)
    credit_limit: float | None = Field(default=None, ge=0, le=MAX_AMOUNT, allow_inf_nan=False)


def rule_view(rule: Rule) -> dict[str, Any]:
    """A rule as JSON, conditions as written in the file."""
    escalate = rule.escalate
    return {
        "id": rule.id,
        "description": rule.description,
        "severity": rule.severity,
        "when": None if rule.when is None else rule.when.source,
        "actions": [
            {"action": spec.action, "factor": spec.factor, "to": spec.to} for spec in rule.actions
        ],
        "exit_when": rule.exit_condition.source,
        "on_exit": list(rule.on_exit),
        "min_hours_in_state": rule.min_hours_in_state,
        "cooldown_hours": rule.cooldown_hours,
        "escalate": None
        if escalate is None
        else {
            "to": escalate.target,
            "when": escalate.condition.source,
            "after_hours": escalate.after_hours,
        },
        "line": rule.line,
    }


def rules_view(live: LiveRules) -> dict[str, Any]:
    return {
        "version": live.rules.version,
        "sha256": live.sha256,
        "origin": live.origin,
        "loaded_at": live.loaded_at.isoformat(),
        "rules": [rule_view(rule) for rule in live.rules.rules],
        "text": live.text,
    }


def create_app(
    settings: WarningSettings,
    desk: WarningDesk,
    rulebook: Rulebook,
    changes: ChangeDesk,
    readiness: ReadinessCheck,
    lifecycle: Lifecycle | None = None,
    readiness_details: ReadinessDetails | None = None,
) -> FastAPI:
    """The warning service's app (the consumer, the state guard, the rule file watcher and
    the change ledger run as ``lifecycle`` background tasks)."""
    app = FastAPI(
        telemetry=NO_OPENTELEMETRY,
        title="riskstream warning",
        version="1",
        description="Customers' risk state, manual overrides and the warning rule set.",
        lifespan=(lifecycle or Lifecycle()).lifespan,
        default_response_class=JsonResponse,
    )
    install_common(app, readiness, settings.max_body_bytes, readiness_details)
    keyring = KeyRing.from_settings(settings)
    client = Depends(require_scope(keyring, Scope.CLIENT))
    app.state.keyring = keyring
    install_change_routes(app, changes)
    retry_after = {"Retry-After": "5"}

    @app.exception_handler(CaseNotFoundError)
    async def on_case_unknown(_: Request, exc: CaseNotFoundError) -> JsonResponse:
        return error_response(404, "unknown_case", str(exc))

    @app.exception_handler(CaseConflictError)
    async def on_case_conflict(_: Request, exc: CaseConflictError) -> JsonResponse:
        return error_response(409, "case_conflict", str(exc))

    @app.exception_handler(CaseForbiddenError)
    async def on_case_forbidden(_: Request, exc: CaseForbiddenError) -> JsonResponse:
        return error_response(403, "forbidden", str(exc))

    @app.exception_handler(AppealConflictError)
    async def on_appeal_conflict(_: Request, exc: AppealConflictError) -> JsonResponse:
        return error_response(409, "appeal_exists", str(exc))

    @app.exception_handler(LimitApplicationConflictError)
    async def on_application_conflict(
        _: Request, exc: LimitApplicationConflictError
    ) -> JsonResponse:
        return error_response(409, "application_under_review", str(exc))

    @app.exception_handler(ScoringUnavailableError)
    async def on_scoring_unavailable(_: Request, exc: ScoringUnavailableError) -> JsonResponse:
        return error_response(503, "scoring_unavailable", str(exc), retry_after)

    @app.exception_handler(StateError)
    async def on_state_error(_: Request, exc: StateError) -> JsonResponse:
        return error_response(409, "override_refused", str(exc))

    @app.exception_handler(PublishUnavailableError)
    async def on_kafka_unavailable(_: Request, exc: PublishUnavailableError) -> JsonResponse:
        return error_response(503, "kafka_unavailable", str(exc), retry_after)

    @app.exception_handler(StoreUnavailableError)
    async def on_redis_unavailable(_: Request, exc: StoreUnavailableError) -> JsonResponse:
        code = "store_rebuilding" if isinstance(exc, StoreRebuildingError) else "redis_unavailable"
        return error_response(503, code, str(exc), retry_after)

    @app.exception_handler(RulesError)
    async def on_rules_error(_: Request, exc: RulesError) -> JsonResponse:
        return error_response(
            422,
            "invalid_rules",
            [
                {
                    "field": "body" if exc.line is None else f"line {exc.line}",
                    "line": exc.line,
                    "reason": exc.reason,
                }
            ],
        )

    @app.get("/v1/customers/{customer_id}/risk", dependencies=[client])
    async def get_risk(customer_id: CustomerId) -> JsonResponse:
        """The customer's status, imposed limit and actions in effect with their reasons;
        a customer never seen answers the default active state."""
        state = await desk.risk_state(customer_id)
        return JsonResponse(state.model_dump(mode="json"))

    @app.post(
        "/v1/customers/{customer_id}/overrides",
        status_code=201,
        responses={409: {"description": "does not fit the customer's state"}},
    )
    async def post_override(
        customer_id: CustomerId, body: OverrideRequest, principal: Administrator
    ) -> JsonResponse:
        """Publishes an administrator's action on ``risk.actions``, records it on
        ``risk.audit`` with the caller's key label, and answers the new risk state."""
        result = await desk.override(
            customer_id, body.action, body.reason, principal.label, body.credit_limit
        )
        return JsonResponse(
            {
                "action": result.action.model_dump(mode="json"),
                "risk_state": result.state.model_dump(mode="json"),
            },
            status_code=201,
        )

    @app.post(
        "/v1/customers/{customer_id}/limit-applications",
        responses={409: {"description": "an earlier application is under review"}},
    )
    async def post_limit_application(
        customer_id: CustomerId, body: LimitApplicationRequest, principal: Client
    ) -> JsonResponse:
        """Decides an application for a higher limit at once: approve (up to the limit
        the model and the rules allow now), refer to review (a case opens) or decline,
        with reasons and the ``decision_id`` of the judgement on the decision log."""
        if body.current_limit is not None and body.requested_limit <= body.current_limit:
            return _field_error("requested_limit", "must be above current_limit")
        result = await desk.apply_for_limit(
            customer_id, body.requested_limit, body.current_limit, principal.label
        )
        return JsonResponse(limit_application_view(customer_id, result))

    @app.post(
        "/v1/customers/{customer_id}/appeals",
        status_code=201,
        responses={
            404: {"description": "no such action or decision for the customer"},
            409: {"description": "the record was appealed already"},
        },
    )
    async def post_appeal(
        customer_id: CustomerId, body: AppealRequest, principal: Client
    ) -> JsonResponse:
        """Records a customer's dispute of an action or a decision as a review case
        (origin ``appeal``); one appeal per record."""
        subject: AppealSubject
        if (body.action_id is None) == (body.decision_id is None):
            return _field_error("action_id", "give exactly one of action_id and decision_id")
        if body.action_id is not None:
            subject, reference = "action", body.action_id
        else:
            subject, reference = "decision", str(body.decision_id)
        try:
            statement = check_statement(body.statement)
        except StateError as error:
            return _field_error("statement", str(error))
        try:
            case = await desk.appeal(customer_id, subject, reference, statement, principal.label)
        except UnknownAppealSubjectError as error:
            return error_response(404, f"unknown_{subject}", str(error))
        return JsonResponse(case_view(case), status_code=201)

    @app.get("/v1/cases")
    async def list_cases(
        _: Reviewer, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> JsonResponse:
        """Review cases waiting for a decision, oldest first."""
        return JsonResponse({"cases": [case_view(c) for c in await desk.open_cases(limit)]})

    @app.get("/v1/cases/{case_id}")
    async def get_case(_: Reviewer, case_id: CaseId) -> JsonResponse:
        """One case, open or decided."""
        return JsonResponse(case_view(await desk.case(case_id)))

    @app.get("/v1/customers/{customer_id}/cases")
    async def customer_cases(_: Reviewer, customer_id: CustomerId) -> JsonResponse:
        """The customer's open and recently decided cases, oldest first."""
        cases = await desk.customer_cases(customer_id)
        return JsonResponse({"cases": [case_view(c) for c in cases]})

    @app.post("/v1/cases/{case_id}:claim")
    async def claim(principal: Reviewer, case_id: CaseId) -> JsonResponse:
        """Takes a case; 409 when another reviewer holds it or it is decided."""
        case = await desk.claim_case(case_id, principal.who, str(principal.role))
        return JsonResponse(case_view(case))

    @app.post("/v1/cases/{case_id}:decide")
    async def decide(
        principal: Reviewer, case_id: CaseId, body: CaseDecisionRequest
    ) -> JsonResponse:
        """Confirms, releases or escalates a case, with a comment; its actions go to
        ``risk.actions``. 409 when the case was decided already (one decision wins)."""
        result = await desk.decide_case(
            case_id, body.decision, principal.who, str(principal.role), body.comment
        )
        return JsonResponse(
            {
                "case": case_view(result.case),
                "actions": [a.model_dump(mode="json") for a in result.actions],
                "risk_state": result.state.model_dump(mode="json"),
            }
        )

    async def propose(text: str, reason: str, principal: Principal) -> JsonResponse:
        candidate = await rulebook.validate(
            text.encode(), origin="api", source="api", actor=principal.label
        )
        change = await changes.propose(
            "rules",
            target=candidate.rules.version,
            reason=reason,
            proposer=principal.who,
            payload=candidate.text,
            base=rulebook.live().sha256,
        )
        return JsonResponse(change_view(change), status_code=201)

    @app.post(
        "/v1/rules/proposals",
        status_code=201,
        responses={422: {"description": "invalid rule set"}},
    )
    async def propose_rules(principal: Proposer, body: RulesProposal) -> JsonResponse:
        """Validates a rule file and records it as a proposal; a second person with the
        approver role puts it in force (``POST /v1/changes/{id}:approve``)."""
        return await propose(body.text, body.reason, principal)

    @app.get("/v1/rules", dependencies=[client])
    async def get_rules() -> JsonResponse:
        """The live rule set: version, digest, where it came from, the rules and the text."""
        return JsonResponse(rules_view(rulebook.live()))

    @app.put(
        "/v1/rules",
        status_code=201,
        openapi_extra=_YAML_BODY,
        responses={422: {"description": "invalid"}},
    )
    async def put_rules(request: Request, principal: Proposer) -> JsonResponse:
        """Validates a rule file (the body, YAML) and records it as a proposal, as
        ``POST /v1/rules/proposals`` does (an ``X-Riskstream-Reason`` header says why); an
        invalid one is refused with its line and reason. Nothing changes until a second
        person approves it."""
        raw = await request.body()
        reason = request.headers.get(PUT_REASON_HEADER, "")[:MAX_CHANGE_REASON].strip()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise RulesError(f"rule file is not UTF-8: {error.reason}") from error
        return await propose(text, reason or "proposed with PUT /v1/rules", principal)

    return app
