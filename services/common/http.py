"""FastAPI pieces every HTTP service uses: health and metrics routes, request metrics and
ids, body-size limit, uniform error bodies, API-key dependencies.

Error bodies have one shape: ``{"error": <code>, "detail": <text or list of
{"field", "reason"}>}``. Status codes are chosen here, at the edge, and nowhere in a core.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.telemetry import TelemetryConfig
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.common import field_errors
from services.common import metrics
from services.common.auth import AuthenticationError, AuthorizationError, KeyRing, Principal
from services.common.auth import Scope as AccessScope
from services.common.logs import configure_logging, request_id_var
from services.common.settings import ServiceSettings

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
"""Answers which dependencies are ready, by name; the service is ready when all are."""
ReadinessDetails = Callable[[], Awaitable[dict[str, str]]]
"""Further fields of the ``/ready`` body, e.g. ``{"store": "rebuilding"}``."""

MAX_BODY_BYTES = 8 * 1024 * 1024
_HTTP_ERROR_CODES = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}


class JsonResponse(Response):
    """A JSON response serialised with orjson (fast, and numpy-free values only)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(
    status: int, code: str, detail: Any, headers: dict[str, str] | None = None
) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


_latency = metrics.cached_labels(metrics.HTTP_LATENCY)
_requests = metrics.cached_labels(metrics.HTTP_REQUESTS)


class RequestMetricsMiddleware:
    """Counts and times every request by route template; sets a request id (from the
    ``X-Request-ID`` header or new) for logs and echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self._app(scope, receive, send_wrapper)
        finally:
            # The router records the matched route in the scope; no second match is needed.
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            method = scope.get("method", "GET")
            _latency(route, method).observe(time.perf_counter() - started)
            _requests(route, method, str(status_holder["status"])).inc()
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Answers 413 to a body larger than ``max_bytes`` without reading all of it."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            await self._reject(scope, receive, send)
            return
        received = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max:
                    exceeded = True
                    raise _BodyTooLargeError
            return message

        async def send_unless_exceeded(message: Message) -> None:
            # A framework that parses the body itself turns any error while reading it
            # into its own 400; once the limit is passed, the 413 below answers instead.
            if not exceeded:
                await send(message)

        with contextlib.suppress(_BodyTooLargeError):
            await self._app(scope, limited_receive, send_unless_exceeded)
        if exceeded:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "body_too_large", f"request body exceeds {self._max} bytes")
        await response(scope, receive, send)


class _BodyTooLargeError(Exception):
    pass


def install_common(
    app: FastAPI,
    readiness: ReadinessCheck,
    max_body_bytes: int = MAX_BODY_BYTES,
    details: ReadinessDetails | None = None,
) -> None:
    """Adds ``/live``, ``/ready``, ``/metrics``, request metrics, the body limit and the
    uniform 422/401/403 error bodies to a service's app. ``/ready`` answers
    ``{"ready", "checks"}`` and whatever ``details`` adds."""

    @app.get("/live", include_in_schema=False)
    async def live() -> JsonResponse:
        return JsonResponse({"status": "live"})

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JsonResponse:
        checks = await readiness()
        ok = all(checks.values())
        extra = await details() if details is not None else {}
        return JsonResponse(
            {"ready": ok, "checks": checks, **extra}, status_code=200 if ok else 503
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        body, content_type = metrics.render_metrics()
        return Response(body, media_type=content_type)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_: Request, exc: RequestValidationError) -> JsonResponse:
        return error_response(422, "validation_error", field_errors(exc.errors(), skip=1))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> JsonResponse:
        # FastAPI's own refusals (an unparseable body, an unknown path or method) in the
        # uniform error shape.
        return error_response(
            exc.status_code,
            _HTTP_ERROR_CODES.get(exc.status_code, "http_error"),
            exc.detail,
            dict(exc.headers or {}),
        )

    @app.exception_handler(AuthenticationError)
    async def on_unauthenticated(_: Request, __: AuthenticationError) -> JsonResponse:
        return error_response(
            401, "unauthenticated", "a valid API key is required", {"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(AuthorizationError)
    async def on_forbidden(_: Request, __: AuthorizationError) -> JsonResponse:
        return error_response(403, "forbidden", "this key may not do that")

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware)


def require_scope(
    keyring: KeyRing, scope: AccessScope
) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency admitting callers whose key has ``scope``."""

    async def dependency(request: Request) -> Principal:
        return keyring.authorize(request.headers.get("authorization"), scope)

    return dependency


def app_principal(scope: AccessScope) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency admitting callers whose key has ``scope`` in the key ring the
    app keeps as ``app.state.keyring`` (for routes declared outside ``create_app``)."""

    async def dependency(request: Request) -> Principal:
        keyring: KeyRing = request.app.state.keyring
        return keyring.authorize(request.headers.get("authorization"), scope)

    return dependency


def readiness_from(checks: Sequence[tuple[str, Callable[[], Awaitable[bool]]]]) -> ReadinessCheck:
    """Combines named async probes into a :data:`ReadinessCheck`; a probe that raises
    counts as not ready."""

    async def check() -> dict[str, bool]:
        result: dict[str, bool] = {}
        for name, probe in checks:
            try:
                result[name] = await probe()
            except Exception:
                result[name] = False
        return result

    return check


def document_body_models(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Adds the schemas of ``models`` (and the models they nest) to the app's OpenAPI
    components. Routes that validate their raw body themselves (one validation pass,
    per-item answers) point their request bodies at ``#/components/schemas/<Model>``;
    FastAPI does not see those models, so without this the references dangle."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            _, definitions = models_json_schema(
                [(model, "validation") for model in models],
                ref_template="#/components/schemas/{model}",
            )
            spec.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


Background = Callable[[], Coroutine[Any, Any, None]]
"""A loop that runs for the app's life (a consumer, a watcher)."""


NO_OPENTELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""Every service app's ``FastAPI(telemetry=...)``: its metrics are Prometheus's (below),
and FastAPI's native OpenTelemetry support, left on, asks OpenTelemetry's global
providers on every request whether they are configured (environment lookups on the
score API's hot path)."""


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """What runs beside a service's routes: ``starts`` at start-up, ``background`` loops
    as tasks for the app's life, ``stops`` at shutdown after the tasks are cancelled."""

    starts: Sequence[Callable[[], Awaitable[None]]] = ()
    stops: Sequence[Callable[[], Awaitable[None]]] = ()
    background: Sequence[Background] = ()

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        """The FastAPI ``lifespan`` running all of the above."""
        for start in self.starts:
            await start()
        tasks = [asyncio.create_task(loop()) for loop in self.background]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for stop in self.stops:
            await stop()


def serve(build: Callable[[], FastAPI], settings: ServiceSettings, host: str, port: int) -> None:
    """Builds and runs an HTTP service's app until it is stopped: logging is configured
    first (so building logs in the service's format), then build info, then uvicorn
    without its own logging or access log (request metrics and ids replace them)."""
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    metrics.record_build(settings.service_name)
    uvicorn.run(build(), host=host, port=port, log_config=None, access_log=False)
