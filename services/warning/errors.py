"""Errors of the warning service."""

from __future__ import annotations


class WarningServiceError(Exception):
    """Base of every error the warning service raises on purpose."""


class ExpressionError(WarningServiceError):
    """A rule condition that cannot be parsed or type-checked.

    ``column`` is the 1-based position in the expression text where the problem starts.
    """

    def __init__(self, reason: str, column: int) -> None:
        super().__init__(f"column {column}: {reason}")
        self.reason = reason
        self.column = column


class RulesError(WarningServiceError):
    """A rule file that must not be used. ``line`` is 1-based (None: the file as a whole)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {reason}" if line is not None else reason)
        self.reason = reason
        self.line = line


class StateError(WarningServiceError):
    """An evaluation or override that does not fit the customer's stored warning state."""


class CaseNotFoundError(WarningServiceError):
    """No review case with that id."""


class CaseConflictError(WarningServiceError):
    """The case was decided already, or another reviewer holds it."""


class CaseForbiddenError(WarningServiceError):
    """The reviewer's role may not decide this case (an escalation needs an approver)."""


class PublishUnavailableError(WarningServiceError):
    """Kafka did not acknowledge actions, audit records or dead letters in time; nothing
    that depends on them (state, offsets, rule swaps) has been made to happen."""


class StoreUnavailableError(WarningServiceError):
    """Redis did not answer a read or write of warning state."""


class StoreRebuildingError(StoreUnavailableError):
    """Redis lost warning state (its epoch key is incomplete) and is being rebuilt from
    ``warning.state``: a customer without a stored state may be one whose state was lost,
    so nobody is judged or overridden until the rebuild is done."""


class UnknownAppealSubjectError(WarningServiceError):
    """An appeal names an action or decision the customer does not have."""


class AppealConflictError(WarningServiceError):
    """The action or decision was appealed already (one appeal per record)."""


class LimitApplicationConflictError(WarningServiceError):
    """An earlier limit application of the customer is still under review."""


class ScoringUnavailableError(WarningServiceError):
    """The score service did not judge the customer (unreachable, refused, or answered
    from its fallback policy): a limit application cannot be decided now."""
