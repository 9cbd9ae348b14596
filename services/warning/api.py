"""HTTP transport of the warning service: customers' risk state, manual overrides and the
rule set.

Status codes: 201 for an override published, recorded and stored; 409 when an override does
not fit the customer's state (nothing to reverse, a limit without cut_limit); 422 for an
invalid body or rule set (a rule set's error names its line); 503 with ``Retry-After`` when
Kafka or Redis could not complete the change (nothing has changed then), or while Redis is
being rebuilt from ``warning.state`` (``store_rebuilding``).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from schemas.actions import ActionType
from services.common.auth import KeyRing, Principal, Scope
from services.common.http import (
    JsonResponse,
    Lifecycle,
    ReadinessCheck,
    ReadinessDetails,
    error_response,
    install_common,
    require_scope,
)
from services.warning.core import DEFAULT_RULES_PATH, Rule
from services.warning.errors import (
    PublishUnavailableError,
    RulesError,
    StateError,
    StoreRebuildingError,
    StoreUnavailableError,
)
from services.warning.rulebook import LiveRules, Rulebook
from services.warning.rules_file import write_atomically
from services.warning.settings import WarningSettings
from services.warning.usecase import WarningDesk

CustomerId = Annotated[str, Path(min_length=1, max_length=64)]


async def _administrator(request: Request) -> Principal:
    """Admits callers whose key has the admin scope (the app's key ring)."""
    keyring: KeyRing = request.app.state.keyring
    return keyring.authorize(request.headers.get("authorization"), Scope.ADMIN)


Administrator = Annotated[Principal, Depends(_administrator)]

_YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}


class OverrideRequest(BaseModel):
    """An administrator's action on one customer. ``credit_limit`` goes with ``cut_limit``
    only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: ActionType
    reason: str = Field(min_length=1, max_length=500)
    credit_limit: float | None = Field(default=None, ge=0, allow_inf_nan=False)


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
    readiness: ReadinessCheck,
    lifecycle: Lifecycle | None = None,
    readiness_details: ReadinessDetails | None = None,
) -> FastAPI:
    """The warning service's app (the consumer, the state guard and the rule file watcher
    run as ``lifecycle`` background tasks)."""
    app = FastAPI(
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
    persist = (
        None
        if settings.rules_path.resolve() == DEFAULT_RULES_PATH
        else partial(write_atomically, settings.rules_path)
    )
    retry_after = {"Retry-After": "5"}

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

    @app.get("/v1/rules", dependencies=[client])
    async def get_rules() -> JsonResponse:
        """The live rule set: version, digest, where it came from, the rules and the text."""
        return JsonResponse(rules_view(rulebook.live()))

    @app.put("/v1/rules", openapi_extra=_YAML_BODY, responses={422: {"description": "invalid"}})
    async def put_rules(request: Request, principal: Administrator) -> JsonResponse:
        """Validates a rule file (the body, YAML) and makes it live; an invalid one is
        refused with its line and reason and the old rules stay live. The accepted text is
        written to the configured rule file unless that is the packaged default."""
        change = await rulebook.replace(
            await request.body(),
            origin="api",
            source="api",
            actor=principal.label,
            persist=persist,
        )
        return JsonResponse(
            {
                **rules_view(change.live),
                "changed": change.changed,
                "persisted": change.changed and persist is not None,
            }
        )

    return app
