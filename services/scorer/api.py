"""HTTP transport of the score service: the sync score API (client scope) and the model
admin API (admin scope). Routes are thin: they parse, call the use case and map errors to
status codes.

Status codes: ``/v1/score`` answers 200 whenever the request is valid (the fallback policy
answers when a dependency fails), 422 naming the field otherwise. Admin routes answer 422
with a stable ``error`` code when the gate refuses a bundle, 404 for an unknown version,
409 when there is nothing to roll back to or a version conflicts, 503 when Kafka did not
acknowledge the control record. Activation and rollback are four-eyes changes: the call
records a proposal (202) that a second person approves (``/v1/changes``); only an
administrator's emergency rollback takes effect at once (200).

The decision log (admin or auditor scope) answers 404 ``unknown_decision`` for an id it does
not keep, 422 for a malformed id; every read is recorded on ``risk.audit`` first (503 when
it cannot be). The explanation (client scope) answers 422 ``unsupported_language`` for a
language without a catalogue; both answer 503 ``redis_unavailable`` when Redis is down.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path as FilePath
from typing import Annotated, Any, Protocol, TypeVar

import orjson
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as ASGIScope

from riskmodel.errors import GateRefusedError
from schemas.common import field_errors
from schemas.decisions import CustomerExplanation
from schemas.records import AuditRecord
from schemas.scores import ScoreBatchRequest, ScoreRequest
from services.common.auth import (
    EMERGENCY_ROLLBACK,
    AuthorizationError,
    KeyRing,
    Principal,
    Scope,
)
from services.common.change_api import Proposer, change_view, install_change_routes
from services.common.changes import ChangeDesk
from services.common.clock import Clock
from services.common.http import (
    NO_OPENTELEMETRY,
    JsonResponse,
    Lifecycle,
    ReadinessDetails,
    app_principal,
    document_body_models,
    error_response,
    install_common,
    readiness_from,
    require_scope,
)
from services.common.logs import request_id_var
from services.common.texts import UnsupportedLanguageError
from services.scorer.admin import ModelAdmin
from services.scorer.core import NO_MODEL_VERSION
from services.scorer.errors import ControlUnavailableError, RegistryError, StoreUnavailableError
from services.scorer.explanations import Explainer
from services.scorer.holder import ModelHolder
from services.scorer.ports import Caller
from services.scorer.settings import ScorerSettings
from services.scorer.usecase import Scorer

SERVICE = "scorer"
"""``service`` of the audit records this service writes."""
DECISION_ID = re.compile(r"[0-9a-f]{32}")
LIST_LIMIT_MAX = 500
CustomerId = Annotated[str, Path(min_length=1, max_length=64)]

_REGISTRY_STATUS = {"unknown_version": 404, "nothing_to_roll_back": 409, "version_conflict": 409}


class PublishRequest(BaseModel):
    """``POST /v1/models``: a bundle directory on the scorer's filesystem."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="Bundle directory readable by the scorer.")
    reason: str = Field(min_length=1, max_length=500)


class DecisionReads(Protocol):
    """The decision log's copy, by id and by customer (Redis, in production)."""

    async def get(self, decision_id: str) -> bytes | None: ...

    async def for_customer(self, customer_id: str, limit: int) -> list[bytes]: ...


class AuditSink(Protocol):
    async def publish_audit(self, record: AuditRecord) -> None:
        """Returns once ``risk.audit`` acknowledged; ControlUnavailableError otherwise."""
        ...


class ReasonBody(BaseModel):
    """Why an operation is done: recorded on ``risk.audit``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class RollbackBody(ReasonBody):
    """``emergency``: an administrator rolls back alone, at once, audited as such."""

    emergency: bool = False


async def _administrator(request: Request) -> Principal:
    """Admits callers whose key has the admin scope (a delegate acts for its user)."""
    keyring: KeyRing = request.app.state.keyring
    return keyring.authorize_request(request.headers, Scope.ADMIN)


AdminPrincipal = Annotated[Principal, Depends(_administrator)]


AuditorPrincipal = Annotated[Principal, Depends(app_principal(Scope.AUDITOR))]
"""Callers whose key may read the decision log (auditor or admin scope)."""
ClientPrincipal = Annotated[Principal, Depends(app_principal(Scope.CLIENT))]
"""Callers whose key has the client scope (or admin)."""


Body = TypeVar("Body", bound=BaseModel)


_BODY_MODELS: tuple[type[BaseModel], ...] = (ScoreRequest, ScoreBatchRequest)
"""Bodies the score routes validate themselves (see ``_parse``), documented by reference."""


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def _parse(model: type[Body], raw: bytes) -> Body | JsonResponse:
    """The validated body, or the 422 naming each bad field. Validating the raw JSON in
    one pydantic call costs a fraction of FastAPI's body handling on the hot path."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        return error_response(422, "validation_error", field_errors(error.errors()))


def create_app(
    settings: ScorerSettings,
    scorer: Scorer,
    admin: ModelAdmin,
    changes: ChangeDesk,
    holder: ModelHolder,
    redis_ready: Callable[[], Awaitable[bool]],
    lifecycle: Lifecycle,
    *,
    explainer: Explainer,
    decisions: DecisionReads,
    audit: AuditSink,
    clock: Clock,
    store_details: ReadinessDetails | None = None,
) -> FastAPI:
    """The score service's app; ``lifecycle`` runs beside its routes. ``/ready`` stays 200
    while the store is being rebuilt (answers are then the fallback policy's) and says so
    through ``store_details``."""

    app = FastAPI(
        telemetry=NO_OPENTELEMETRY,
        title="riskstream scorer",
        version="1",
        description="Credit-risk scores for checkout, streaming scores and the model registry.",
        lifespan=lifecycle.lifespan,
        default_response_class=JsonResponse,
    )

    async def model_loaded() -> bool:
        return holder.champion() is not None

    install_common(
        app,
        readiness_from([("redis", redis_ready), ("model", model_loaded)]),
        settings.max_body_bytes,
        store_details,
    )
    keyring = KeyRing.from_settings(settings)
    client = Depends(require_scope(keyring, Scope.CLIENT))
    app.state.keyring = keyring
    install_change_routes(app, changes)

    async def audited(principal: Principal, operation: str, subject: str, reason: str) -> None:
        await audit.publish_audit(
            AuditRecord.new(
                service=SERVICE,
                actor=principal.label,
                operation=operation,
                subject=subject,
                reason=reason,
                at=clock.now(),
            )
        )

    @app.exception_handler(StoreUnavailableError)
    async def on_store_unavailable(_: Request, exc: StoreUnavailableError) -> JsonResponse:
        return error_response(503, "redis_unavailable", str(exc), {"Retry-After": "1"})

    @app.exception_handler(UnsupportedLanguageError)
    async def on_unsupported_language(_: Request, exc: UnsupportedLanguageError) -> JsonResponse:
        return error_response(422, "unsupported_language", [{"field": "lang", "reason": str(exc)}])

    @app.exception_handler(GateRefusedError)
    async def on_refused(_: Request, exc: GateRefusedError) -> JsonResponse:
        return error_response(422, exc.code, str(exc))

    @app.exception_handler(RegistryError)
    async def on_registry_error(_: Request, exc: RegistryError) -> JsonResponse:
        return error_response(_REGISTRY_STATUS.get(exc.code, 409), exc.code, str(exc))

    @app.exception_handler(ControlUnavailableError)
    async def on_control_unavailable(_: Request, exc: ControlUnavailableError) -> JsonResponse:
        return error_response(503, "kafka_unavailable", str(exc), {"Retry-After": "5"})

    @app.get("/v1/bare", include_in_schema=False, dependencies=[client])
    async def bare() -> JsonResponse:
        """The same authentication and middleware as ``/v1/score`` and no work: the
        benchmark's baseline."""
        return JsonResponse({"ok": True})

    @app.post(
        "/v1/score",
        openapi_extra=_body_schema(ScoreRequest),
        responses={422: {"description": "invalid request"}},
    )
    async def score(request: Request, principal: ClientPrincipal) -> JsonResponse:
        """Scores one customer (and the order in hand, if given); the answer's
        ``decision_id`` names its record on ``risk.decisions``."""
        body = _parse(ScoreRequest, await request.body())
        if isinstance(body, JsonResponse):
            return body
        (answer,) = await scorer.score([body], Caller(principal.label, request_id_var.get()))
        return JsonResponse(answer)

    @app.post(
        "/v1/score:batch",
        openapi_extra=_body_schema(ScoreBatchRequest),
        responses={422: {"description": "invalid request"}},
    )
    async def score_batch(request: Request, principal: ClientPrincipal) -> JsonResponse:
        """Scores up to 1,000 requests; results in request order, each a decision."""
        body = _parse(ScoreBatchRequest, await request.body())
        if isinstance(body, JsonResponse):
            return body
        caller = Caller(principal.label, request_id_var.get())
        return JsonResponse({"results": await scorer.score(body.requests, caller)})

    @app.get(
        "/v1/customers/{customer_id}/explanation",
        dependencies=[client],
        response_model=CustomerExplanation,
        responses={422: {"description": "invalid id or unsupported language"}},
    )
    async def explanation(
        customer_id: CustomerId,
        lang: Annotated[
            str | None,
            Query(max_length=35, description="zh-CN or en; default: the customer's language."),
        ] = None,
    ) -> JsonResponse:
        """The customer's grade, limit and restrictions in plain language, the principal
        reasons ranked by their weight in the served model, and verified counterfactuals."""
        result = await explainer.explain(customer_id, lang)
        return JsonResponse(result.model_dump(mode="json"))

    @app.get(
        "/v1/decisions/{decision_id}",
        responses={404: {"description": "unknown decision"}, 422: {"description": "bad id"}},
    )
    async def read_decision(
        decision_id: Annotated[str, Path(min_length=1, max_length=64)],
        principal: AuditorPrincipal,
    ) -> Response:
        """The decision's record as it was frozen on ``risk.decisions`` (auditor scope)."""
        if not DECISION_ID.fullmatch(decision_id):
            return error_response(
                422,
                "validation_error",
                [{"field": "decision_id", "reason": "a decision id is 32 hexadecimal digits"}],
            )
        record = await decisions.get(decision_id)
        if record is None:
            return error_response(
                404,
                "unknown_decision",
                f"no decision {decision_id} is kept: never made, or older than the "
                f"{settings.decision_copy_days}-day copy (risk.decisions keeps it "
                f"{settings.decision_retention_days} days)",
            )
        await audited(principal, "decision.read", decision_id, "GET /v1/decisions/{id}")
        return Response(record, media_type="application/json")

    @app.get("/v1/customers/{customer_id}/decisions")
    async def list_decisions(
        customer_id: CustomerId,
        principal: AuditorPrincipal,
        limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = 50,
    ) -> Response:
        """The customer's latest decisions, newest first (auditor scope)."""
        records = await decisions.for_customer(customer_id, limit)
        await audited(principal, "decision.list", customer_id, "GET /v1/customers/{id}/decisions")
        body = b'{"customer_id":' + orjson.dumps(customer_id) + b',"decisions":['
        return Response(body + b",".join(records) + b"]}", media_type="application/json")

    @app.get("/v1/models")
    async def list_models(_: AdminPrincipal) -> JsonResponse:
        """Published versions, the serving champion and shadow, and the activation history."""
        return JsonResponse(await admin.list())

    @app.post("/v1/models", status_code=201)
    async def publish_model(body: PublishRequest, principal: AdminPrincipal) -> JsonResponse:
        """Runs the gate on a bundle directory and stores it in the registry."""
        result = await admin.publish(FilePath(body.path), principal.label, body.reason)
        return JsonResponse(result, status_code=201 if result["created"] else 200)

    @app.get("/v1/models/{version}/report")
    async def model_report(version: str, _: AdminPrincipal) -> JsonResponse:
        """The evaluation report a published bundle carries (404 when it has none)."""
        report = await admin.report(version)
        if report is None:
            return error_response(404, "no_report", f"version {version} carries no report")
        return JsonResponse(report)

    @app.post("/v1/models/{version}:activate", status_code=202)
    async def activate_model(version: str, body: ReasonBody, principal: Proposer) -> JsonResponse:
        """Proposes making a published version the champion on every scorer instance; it
        takes effect when a second person with the approver role approves the change."""
        await admin.check_published(version)
        change = await changes.propose(
            "model.activate",
            target=version,
            reason=body.reason,
            proposer=principal.who,
            base=admin.champion(),
        )
        return JsonResponse(change_view(change), status_code=202)

    @app.post("/v1/models:rollback", status_code=202)
    async def rollback_model(body: RollbackBody, principal: Proposer) -> JsonResponse:
        """Proposes re-activating the version active before the current one (202), or,
        with ``emergency`` and the admin role, does it at once, audited as an emergency
        (200)."""
        current, previous = await admin.previous()
        if body.emergency:
            if principal.role not in EMERGENCY_ROLLBACK:
                raise AuthorizationError("an emergency rollback needs the admin role")
            result = await admin.rollback(principal.who, body.reason, emergency=True)
            change = await changes.record_emergency(
                "model.rollback", previous, principal.who, body.reason, current
            )
            return JsonResponse({"change": change_view(change), "result": result})
        change = await changes.propose(
            "model.rollback",
            target=previous,
            reason=body.reason,
            proposer=principal.who,
            base=current,
        )
        return JsonResponse(change_view(change), status_code=202)

    @app.post("/v1/models/{version}:shadow")
    async def shadow_model(
        version: str, body: ReasonBody, principal: AdminPrincipal
    ) -> JsonResponse:
        """Scores a published version beside the champion on live traffic, never deciding."""
        return JsonResponse(await admin.shadow(version, principal.label, body.reason))

    @app.delete("/v1/models/shadow")
    async def clear_shadow(body: ReasonBody, principal: AdminPrincipal) -> JsonResponse:
        """Stops shadow scoring."""
        return JsonResponse(await admin.shadow(None, principal.label, body.reason))

    app.add_middleware(ModelVersionHeader, holder=holder)
    document_body_models(app, _BODY_MODELS)
    return app


class ModelVersionHeader:
    """Adds ``X-Model-Version`` (the champion's version, or ``none``) to every response."""

    def __init__(self, app: ASGIApp, holder: ModelHolder) -> None:
        self._app = app
        self._holder = holder

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                champion = self._holder.champion()
                version = champion.version if champion is not None else NO_MODEL_VERSION
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-model-version", version.encode()),
                ]
            await send(message)

        await self._app(scope, receive, send_with_version)
