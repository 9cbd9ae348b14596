"""HTTP transport of the event gateway (``POST /v1/events`` and ``POST /v1/events:batch``).

Status codes: 202 when every event was acknowledged by Kafka; 207 when a batch was handled
but some events were rejected (each result says which and why; the accepted ones are in
Kafka); 422 when the body or the single event is invalid, naming each field; 503 with
``Retry-After`` when Kafka could not acknowledge a valid event.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from fastapi import Depends, FastAPI, Request
from prometheus_client import Counter

from schemas.events import EVENT_MODELS
from schemas.scores import MAX_BATCH
from services.common.auth import KeyRing, Scope
from services.common.http import (
    NO_OPENTELEMETRY,
    JsonResponse,
    Lifecycle,
    document_body_models,
    error_response,
    install_common,
    readiness_from,
    require_scope,
)
from services.ingest.core import EventGateway, EventPublisher, EventResult, Outcome
from services.ingest.settings import IngestSettings

EVENTS = Counter(
    "riskstream_ingest_events_total",
    "Events submitted to the gateway, by outcome (accepted, rejected, unavailable).",
    ["outcome"],
)

_EVENT_MODELS = tuple(EVENT_MODELS.values())
_EVENT_BODY_SCHEMA = {
    "oneOf": [{"$ref": f"#/components/schemas/{model.__name__}"} for model in _EVENT_MODELS],
    "discriminator": {"propertyName": "event_type"},
}


class ManagedPublisher(EventPublisher, Protocol):
    """An event publisher with a lifecycle and a readiness probe."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...


async def _json_body(request: Request) -> Any:
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise _InvalidBodyError(f"body is not valid JSON: {error}") from error


class _InvalidBodyError(Exception):
    pass


def _count(results: list[EventResult]) -> None:
    for result in results:
        EVENTS.labels(result.outcome).inc()


def create_app(
    settings: IngestSettings, gateway: EventGateway, publisher: ManagedPublisher
) -> FastAPI:
    """The gateway app; ``publisher`` is started and stopped with the app."""

    lifecycle = Lifecycle(starts=[publisher.start], stops=[publisher.stop])

    app = FastAPI(
        telemetry=NO_OPENTELEMETRY,
        title="riskstream ingest",
        version="1",
        description="Validates order, payment, refund and review events and the onboarding "
        "events (registration, verification, bureau report); produces them to Kafka.",
        lifespan=lifecycle.lifespan,
        default_response_class=JsonResponse,
    )
    install_common(app, readiness_from([("kafka", publisher.ready)]), settings.max_body_bytes)
    client = Depends(require_scope(KeyRing.from_settings(settings), Scope.CLIENT))
    retry_after = {"Retry-After": str(settings.retry_after_s)}

    @app.exception_handler(_InvalidBodyError)
    async def on_invalid_body(_: Request, exc: _InvalidBodyError) -> JsonResponse:
        return error_response(422, "validation_error", [{"field": "body", "reason": str(exc)}])

    @app.post(
        "/v1/events",
        status_code=202,
        dependencies=[client],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _EVENT_BODY_SCHEMA}},
            }
        },
        responses={
            422: {"description": "invalid event"},
            503: {"description": "Kafka unavailable"},
        },
    )
    async def post_event(request: Request) -> JsonResponse:
        """Accepts one event once Kafka has acknowledged it."""
        (result,) = await gateway.submit([await _json_body(request)])
        _count([result])
        if result.outcome is Outcome.REJECTED:
            return error_response(422, "validation_error", result.errors)
        if result.outcome is Outcome.UNAVAILABLE:
            return error_response(
                503, "kafka_unavailable", "event not accepted; retry later", retry_after
            )
        return JsonResponse(result.as_dict(), status_code=202)

    @app.post(
        "/v1/events:batch",
        status_code=202,
        dependencies=[client],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["events"],
                            "additionalProperties": False,
                            "properties": {
                                "events": {
                                    "type": "array",
                                    "maxItems": MAX_BATCH,
                                    "minItems": 1,
                                    "items": _EVENT_BODY_SCHEMA,
                                }
                            },
                        }
                    }
                },
            }
        },
        responses={
            207: {"description": "some events rejected"},
            422: {"description": "invalid body"},
            503: {"description": "Kafka unavailable"},
        },
    )
    async def post_events(request: Request) -> JsonResponse:
        """Accepts up to 1,000 events and answers per event, in order."""
        body = await _json_body(request)
        if not isinstance(body, dict) or set(body) != {"events"}:
            return error_response(
                422,
                "validation_error",
                [{"field": "body", "reason": 'expected an object with exactly the field "events"'}],
            )
        events = body["events"]
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH:
            return error_response(
                422,
                "validation_error",
                [{"field": "events", "reason": f"expected a list of 1 to {MAX_BATCH} events"}],
            )
        results = await gateway.submit(events)
        _count(results)
        answer = {
            "accepted": sum(r.outcome is Outcome.ACCEPTED for r in results),
            "rejected": sum(r.outcome is Outcome.REJECTED for r in results),
            "unavailable": sum(r.outcome is Outcome.UNAVAILABLE for r in results),
            "results": [r.as_dict() for r in results],
        }
        if answer["unavailable"]:
            return JsonResponse(answer, status_code=503, headers=retry_after)
        return JsonResponse(answer, status_code=207 if answer["rejected"] else 202)

    document_body_models(app, _EVENT_MODELS)
    return app
