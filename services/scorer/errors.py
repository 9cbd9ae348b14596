"""The score service's exception hierarchy: every error it raises on purpose derives from
:class:`ScorerError`. A refused bundle is the bundle contract's
:class:`riskmodel.errors.GateRefusedError`."""

from __future__ import annotations


class ScorerError(Exception):
    """Base class of every error the score service raises on purpose."""


class StoreUnavailableError(ScorerError):
    """Redis did not answer within its budget (or refused): the request gets the fallback."""


class RegistryError(ScorerError):
    """A registry operation that cannot be done (unknown version, nothing to roll back to,
    a version published twice with different content)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ControlUnavailableError(ScorerError):
    """Kafka did not acknowledge a ``models.control`` or ``risk.audit`` record in time."""


class SpoolError(ScorerError):
    """The decision log's spool directory cannot be used (held by another process,
    unwritable)."""


class UnknownDecisionError(ScorerError):
    """No decision with this id is kept (never made, or older than the copy's retention)."""
