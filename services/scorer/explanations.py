"""The explanation use case (``GET /v1/customers/{customer_id}/explanation``): the score
service has both things an explanation needs, the served model and the customer's state
(features and risk state, one Redis round trip), so it answers, with the same reading and
policies as the score API and counterfactuals checked by re-scoring with the same model."""

from __future__ import annotations

import time

from schemas.decisions import CustomerExplanation
from services.common.texts import customer_language, language_of, texts_for
from services.scorer.core import (
    FallbackReason,
    better_grades,
    customer_explanation,
    improvements,
)
from services.scorer.errors import StoreUnavailableError
from services.scorer.metrics import COUNTERFACTUAL_SECONDS, EXPLANATIONS
from services.scorer.usecase import Scorer


class Explainer:
    def __init__(self, scorer: Scorer) -> None:
        self._scorer = scorer

    async def explain(self, customer_id: str, language: str | None) -> CustomerExplanation:
        """The customer's explanation in ``language`` (a supported tag), else in the
        language their events gave, else the default (zh-CN).

        Raises :class:`~services.common.texts.UnsupportedLanguageError` for a language
        without a catalogue, :class:`StoreUnavailableError` when Redis does not answer."""
        chosen = language_of(language) if language is not None else None
        standing = await self._scorer.standing(customer_id)
        answer = standing.answer
        if answer["fallback_reason"] == FallbackReason.REDIS_UNAVAILABLE:
            raise StoreUnavailableError("redis did not answer; the customer cannot be read")
        counterfactuals = []
        if (
            answer["fallback_reason"] is None
            and standing.features is not None
            and standing.model is not None
        ):
            started = time.perf_counter()
            counterfactuals = improvements(
                standing.model, standing.features, better_grades(answer["grade"])
            )
            COUNTERFACTUAL_SECONDS.labels("explanation").observe(time.perf_counter() - started)
        if chosen is None:
            chosen = customer_language(standing.risk.locale if standing.risk else None)
        EXPLANATIONS.labels(chosen).inc()
        return customer_explanation(
            customer_id=customer_id,
            texts=texts_for(chosen),
            now=standing.at,
            answer=answer,
            risk=standing.risk,
            counterfactuals=counterfactuals,
            features=standing.features,
        )
