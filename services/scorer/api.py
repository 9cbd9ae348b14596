"""HTTP transport of the score service: the sync score API (client scope) and the model
admin API (admin scope). Routes are thin: they parse, call the use case and map errors to
status codes.

Status codes: ``/v1/score`` answers 200 whenever the request is valid (the fallback policy
answers when a dependency fails), 422 naming the field otherwise. Admin routes answer 422
with a stable ``error`` code when the gate refuses a bundle, 404 for an unknown version,
409 when there is nothing to roll back to or a version conflicts, 503 when Kafka did not
acknowledge the control record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as ASGIScope

from riskmodel.errors import GateRefusedError
from schemas.common import field_errors
from schemas.scores import ScoreBatchRequest, ScoreRequest
from services.common.auth import KeyRing, Principal, Scope
from services.common.http import (
    JsonResponse,
    Lifecycle,
    ReadinessDetails,
    document_body_models,
    error_response,
    install_common,
    readiness_from,
    require_scope,
)
from services.scorer.admin import ModelAdmin
from services.scorer.core import NO_MODEL_VERSION
from services.scorer.errors import ControlUnavailableError, RegistryError
from services.scorer.holder import ModelHolder
from services.scorer.settings import ScorerSettings
from services.scorer.usecase import Scorer

_REGISTRY_STATUS = {"unknown_version": 404, "nothing_to_roll_back": 409, "version_conflict": 409}


class PublishRequest(BaseModel):
    """``POST /v1/models``: a bundle directory on the scorer's filesystem."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="Bundle directory readable by the scorer.")
    reason: str = Field(min_length=1, max_length=500)


class ReasonBody(BaseModel):
    """Why an operation is done: recorded on ``risk.audit``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


async def _administrator(request: Request) -> Principal:
    """Admits callers whose key has the admin scope (the app's key ring)."""
    keyring: KeyRing = request.app.state.keyring
    return keyring.authorize(request.headers.get("authorization"), Scope.ADMIN)


AdminPrincipal = Annotated[Principal, Depends(_administrator)]


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
    holder: ModelHolder,
    redis_ready: Callable[[], Awaitable[bool]],
    lifecycle: Lifecycle,
    store_details: ReadinessDetails | None = None,
) -> FastAPI:
    """The score service's app; ``lifecycle`` runs beside its routes. ``/ready`` stays 200
    while the store is being rebuilt (answers are then the fallback policy's) and says so
    through ``store_details``."""

    app = FastAPI(
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
        dependencies=[client],
        openapi_extra=_body_schema(ScoreRequest),
        responses={422: {"description": "invalid request"}},
    )
    async def score(request: Request) -> JsonResponse:
        """Scores one customer (and the order in hand, if given)."""
        body = _parse(ScoreRequest, await request.body())
        if isinstance(body, JsonResponse):
            return body
        (answer,) = await scorer.score([body])
        return JsonResponse(answer)

    @app.post(
        "/v1/score:batch",
        dependencies=[client],
        openapi_extra=_body_schema(ScoreBatchRequest),
        responses={422: {"description": "invalid request"}},
    )
    async def score_batch(request: Request) -> JsonResponse:
        """Scores up to 1,000 requests; results in request order."""
        body = _parse(ScoreBatchRequest, await request.body())
        if isinstance(body, JsonResponse):
            return body
        return JsonResponse({"results": await scorer.score(body.requests)})

    @app.get("/v1/models")
    async def list_models(_: AdminPrincipal) -> JsonResponse:
        """Published versions, the serving champion and shadow, and the activation history."""
        return JsonResponse(await admin.list())

    @app.post("/v1/models", status_code=201)
    async def publish_model(body: PublishRequest, principal: AdminPrincipal) -> JsonResponse:
        """Runs the gate on a bundle directory and stores it in the registry."""
        result = await admin.publish(Path(body.path), principal.label, body.reason)
        return JsonResponse(result, status_code=201 if result["created"] else 200)

    @app.post("/v1/models/{version}:activate")
    async def activate_model(
        version: str, body: ReasonBody, principal: AdminPrincipal
    ) -> JsonResponse:
        """Makes a published version the champion on every scorer instance."""
        return JsonResponse(await admin.activate(version, principal.label, body.reason))

    @app.post("/v1/models:rollback")
    async def rollback_model(body: ReasonBody, principal: AdminPrincipal) -> JsonResponse:
        """Re-activates the version active before the current one."""
        return JsonResponse(await admin.rollback(principal.label, body.reason))

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
