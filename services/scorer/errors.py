"""Errors of the score service's adapters. Every one derives from
:class:`services.scorer.core.errors.ScorerError`, the service's single base class."""

from __future__ import annotations

from services.scorer.core.errors import BundleError, ScorerError


class StoreUnavailableError(ScorerError):
    """Redis did not answer within its budget (or refused): the request gets the fallback."""


class GateRefusedError(BundleError):
    """The registry gate refused a bundle. ``code`` is a stable machine-readable reason
    (e.g. ``wrong_feature_count``); the message says precisely what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RegistryError(ScorerError):
    """A registry operation that cannot be done (unknown version, nothing to roll back to,
    a version published twice with different content)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ControlUnavailableError(ScorerError):
    """Kafka did not acknowledge a ``models.control`` or ``risk.audit`` record in time."""
