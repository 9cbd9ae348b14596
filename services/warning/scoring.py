"""The score service, as the warning service asks it about a limit application: the HTTP
adapter of :class:`services.warning.usecase.ScoreSource`.

It asks ``POST /v1/score`` without an order ("may this customer buy on credit now"), as
any client does, so the judgement is recorded on the decision log and its ``decision_id``
names it. An answer from the fallback policy is no judgement: the application cannot be
decided then.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from schemas.scores import ScoreResponse
from services.scorer.core import THIN_FILE_REASON
from services.warning.core import LimitAssessment, LimitReason
from services.warning.errors import ScoringUnavailableError


class HttpScoreSource:
    def __init__(self, base_url: str, api_key: str, timeout_s: float) -> None:
        self._url = f"{base_url.rstrip('/')}/v1/score"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._timeout_s)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def assess(self, customer_id: str) -> LimitAssessment:
        client = self._client
        if client is None:
            raise ScoringUnavailableError("the score client is not started")
        try:
            response = await client.post(
                self._url, json={"customer_id": customer_id}, headers=self._headers
            )
        except httpx.HTTPError as error:
            raise ScoringUnavailableError(
                f"score service unreachable: {type(error).__name__}"
            ) from error
        if response.status_code != 200:
            raise ScoringUnavailableError(f"score service answered {response.status_code}")
        try:
            answer = ScoreResponse.model_validate_json(response.content)
        except ValidationError as error:
            raise ScoringUnavailableError("score service answered an unreadable score") from error
        return assessment_of(answer)


def assessment_of(answer: ScoreResponse) -> LimitAssessment:
    """The limit assessment a score answer gives; ScoringUnavailableError for a fallback
    answer (the model did not judge) or one without a decision id."""
    if answer.fallback or answer.decision_id is None:
        reason: Any = answer.fallback_reason or "no decision id"
        raise ScoringUnavailableError(f"the model could not judge the customer now ({reason})")
    # A scorer that predates the flag marks only a customer never seen, by its reason.
    thin_file = answer.thin_file or (
        answer.features_as_of is None
        and any(r.code == THIN_FILE_REASON.code for r in answer.reasons)
    )
    return LimitAssessment(
        decision_id=answer.decision_id,
        score=answer.score,
        grade=answer.grade,
        credit_limit=answer.credit_limit,
        model_version=answer.model_version,
        thin_file=thin_file,
        reasons=tuple(
            LimitReason(r.code, r.text or r.feature) for r in answer.reasons if r.impact > 0
        ),
    )
