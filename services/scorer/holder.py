"""The models this process serves, swapped atomically.

A swap replaces one reference after the new model is fully built (session created, gate
passed, warmed up), so a request that read the champion keeps using that one model to the
end, and the next request sees the new one: there is never a half-loaded model.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from riskmodel.loading import LoadedModel
from services.scorer.metrics import MODEL_INFO

Role = Literal["active", "shadow"]


class ModelHolder:
    """The champion (``active``) and the optional challenger (``shadow``)."""

    def __init__(self) -> None:
        self._champion: LoadedModel | None = None
        self._challenger: LoadedModel | None = None
        self.champion_loaded = asyncio.Event()
        """Set once a champion serves (and from then on, since it is never removed)."""

    def champion(self) -> LoadedModel | None:
        return self._champion

    def challenger(self) -> LoadedModel | None:
        return self._challenger

    def serving(self, role: Role) -> LoadedModel | None:
        return self._champion if role == "active" else self._challenger

    def swap(self, role: Role, model: LoadedModel | None) -> None:
        """Makes ``model`` serve in ``role`` (None clears the shadow; the champion is never
        cleared, only replaced)."""
        previous = self.serving(role)
        if role == "active":
            if model is None:
                raise ValueError("the active model can be replaced, not removed")
            self._champion = model
            self.champion_loaded.set()
        else:
            self._challenger = model
        if previous is not None and (model is None or previous.version != model.version):
            MODEL_INFO.remove(role, previous.version)
        if model is not None:
            MODEL_INFO.labels(role, model.version).set(1)
