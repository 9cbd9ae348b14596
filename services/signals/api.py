"""HTTP transport of the signal gateway: ``/live``, ``/ready``, ``/metrics`` and the admin
routes that publish and retract this platform's signals.

``POST /v1/signals`` answers 201 with the signal as published; ``POST
/v1/signals/{signal_id}:retract`` answers 202 with the retraction; 422 names a bad field;
503 with ``Retry-After`` when Kafka did not acknowledge the audit record or the signal.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Path, Request
from pydantic import ValidationError

from schemas.common import field_errors
from schemas.signals import SignalPublishRequest, SignalRetractRequest
from services.common.auth import KeyRing, Principal
from services.common.change_api import caller
from services.common.http import (
    NO_OPENTELEMETRY,
    JsonResponse,
    Lifecycle,
    ReadinessCheck,
    error_response,
    install_common,
)
from services.signals.errors import PublishUnavailableError
from services.signals.publishing import SignalPublisher
from services.signals.settings import SignalsSettings

SignalId = Annotated[str, Path(min_length=1, max_length=64)]


async def _administrator(request: Request) -> Principal:
    """Admits callers with the admin scope (a delegate acts for its user): publishing a
    signal about a person to other platforms is an administrative decision."""
    return caller(request)


Administrator = Annotated[Principal, Depends(_administrator)]


def create_app(
    settings: SignalsSettings,
    publisher: SignalPublisher,
    lifecycle: Lifecycle,
    readiness: ReadinessCheck,
) -> FastAPI:
    app = FastAPI(
        telemetry=NO_OPENTELEMETRY,
        title="riskstream signal gateway",
        version="1",
        description="Shared risk signals: inbound from the exchange, and this platform's own.",
        lifespan=lifecycle.lifespan,
        default_response_class=JsonResponse,
    )
    install_common(app, readiness)
    app.state.keyring = KeyRing.from_settings(settings)
    retry_after = {"Retry-After": "5"}

    @app.exception_handler(PublishUnavailableError)
    async def on_unavailable(_: Request, exc: PublishUnavailableError) -> JsonResponse:
        return error_response(503, "kafka_unavailable", str(exc), retry_after)

    @app.exception_handler(ValidationError)
    async def on_invalid_signal(_: Request, exc: ValidationError) -> JsonResponse:
        # The request was valid, the signal it makes is not (e.g. consent without a ref).
        return error_response(422, "validation_error", field_errors(exc.errors()))

    @app.post("/v1/signals", status_code=201, responses={503: {"description": "Kafka down"}})
    async def publish(body: SignalPublishRequest, principal: Administrator) -> JsonResponse:
        """Publishes a signal of this platform to the exchange (audited first)."""
        signal = await publisher.publish(body, principal.label)
        return JsonResponse(signal.model_dump(mode="json", exclude_none=True), status_code=201)

    @app.post(
        "/v1/signals/{signal_id}:retract",
        status_code=202,
        responses={503: {"description": "Kafka down"}},
    )
    async def retract(
        signal_id: SignalId,
        body: SignalRetractRequest,
        principal: Administrator,
    ) -> JsonResponse:
        """Withdraws a signal this platform published (audited first)."""
        signal = await publisher.retract(signal_id, body, principal.label)
        return JsonResponse(signal.model_dump(mode="json", exclude_none=True), status_code=202)

    return app
