"""The HTTP routes of four-eyes changes, shared by the services that apply changes (see
:mod:`services.common.changes`): list, read, approve and reject. Proposals are made on each
service's own routes (``POST /v1/rules/proposals``, ``POST /v1/models/{v}:activate``, ...).

Status codes: 403 ``forbidden`` for a role that may not act, 403 ``four_eyes`` when the
proposer tries to approve; 404 ``unknown_change``; 409 ``change_closed`` / ``stale_change``;
503 ``changes_unavailable`` when Kafka could not record the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from schemas.changes import MAX_CHANGE_REASON, ChangeRequest
from services.common.auth import (
    APPROVERS,
    PROPOSERS,
    AuthorizationError,
    KeyRing,
    Principal,
    Role,
    Scope,
)
from services.common.changes import ChangeDesk, ChangeError
from services.common.http import JsonResponse, error_response

_STATUS = {
    "unknown_change": 404,
    "change_closed": 409,
    "stale_change": 409,
    "four_eyes": 403,
    "not_allowed": 403,
    "invalid_change": 422,
    "changes_unavailable": 503,
}

ChangeId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]


class DecisionBody(BaseModel):
    """Why a change is approved or rejected: recorded on ``risk.audit``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_CHANGE_REASON)


def change_view(change: ChangeRequest) -> dict[str, Any]:
    return change.model_dump(mode="json")


def caller(request: Request, roles: frozenset[Role] | None = None) -> Principal:
    """The admin caller of a request (a delegate acts for its user) in one of ``roles``."""
    keyring: KeyRing = request.app.state.keyring
    return keyring.authorize_request(request.headers, Scope.ADMIN, roles)


def in_roles(roles: frozenset[Role]) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting admin callers in one of ``roles``; as a dependency it
    answers 401/403 before the body is validated."""

    async def dependency(request: Request) -> Principal:
        return caller(request, roles)

    return dependency


Proposer = Annotated[Principal, Depends(in_roles(PROPOSERS))]
Approver = Annotated[Principal, Depends(in_roles(APPROVERS))]


def install_change_routes(app: FastAPI, desk: ChangeDesk) -> None:
    """Adds ``/v1/changes`` routes and the ChangeError handler to ``app`` (whose
    ``state.keyring`` authenticates callers)."""

    @app.exception_handler(ChangeError)
    async def on_change_error(_: Request, exc: ChangeError) -> JsonResponse:
        headers = {"Retry-After": "5"} if exc.code == "changes_unavailable" else None
        return error_response(_STATUS.get(exc.code, 409), exc.code, str(exc), headers)

    @app.get("/v1/changes")
    async def list_changes(
        _: Proposer,
        status: Annotated[
            Literal["proposed", "applied", "rejected", "withdrawn"] | None, Query()
        ] = None,
    ) -> JsonResponse:
        """This service's change requests, newest first."""
        return JsonResponse({"changes": [change_view(c) for c in await desk.list(status)]})

    @app.get("/v1/changes/{change_id}")
    async def get_change(_: Proposer, change_id: ChangeId) -> JsonResponse:
        """One change request, with its payload."""
        return JsonResponse(change_view(await desk.get(change_id)))

    @app.post("/v1/changes/{change_id}:approve")
    async def approve_change(
        principal: Approver, change_id: ChangeId, body: DecisionBody
    ) -> JsonResponse:
        """Puts another person's proposed change in force (approver role)."""
        change, result = await desk.approve(change_id, principal.who, body.reason)
        return JsonResponse({"change": change_view(change), "result": result})

    @app.post("/v1/changes/{change_id}:reject")
    async def reject_change(
        principal: Proposer, change_id: ChangeId, body: DecisionBody
    ) -> JsonResponse:
        """Closes a proposal unapplied: its proposer withdraws it, an approver rejects it."""
        change = await desk.get(change_id)
        if change.proposed_by != principal.who and principal.role not in APPROVERS:
            raise AuthorizationError("only the proposer or an approver closes a proposal")
        return JsonResponse(change_view(await desk.reject(change_id, principal.who, body.reason)))
