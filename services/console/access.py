"""Who may see which page and do which action in the console. Every route checks it on the
server (a page a role may not see answers 403), and the services check the same user's
role again on their own API."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from services.common.auth import APPROVERS, CASE_REVIEWERS, EMERGENCY_ROLLBACK, PROPOSERS, Role


class Permission(StrEnum):
    REVIEW = "review"
    """The review queue, cases and customers' pages."""
    RULES = "rules"
    """Reading the rules, their proposals and backtests."""
    MODELS = "models"
    """Reading the model registry, reports and gate verdicts."""
    PROPOSE = "propose"
    """Proposing a rule change, a model activation or rollback."""
    APPROVE = "approve"
    """Approving or rejecting another person's proposal."""
    EMERGENCY_ROLLBACK = "emergency_rollback"
    PORTFOLIO = "portfolio"
    ACCOUNTS = "accounts"
    """The accounts and sessions page."""


ALLOWED: Final[dict[Permission, frozenset[Role]]] = {
    Permission.REVIEW: CASE_REVIEWERS,
    Permission.RULES: PROPOSERS,
    Permission.MODELS: PROPOSERS,
    Permission.PROPOSE: PROPOSERS,
    Permission.APPROVE: APPROVERS,
    Permission.EMERGENCY_ROLLBACK: EMERGENCY_ROLLBACK,
    Permission.PORTFOLIO: CASE_REVIEWERS,
    Permission.ACCOUNTS: frozenset({Role.ADMIN}),
}
"""Analysts and approvers work on customers; administrators run the system and see no
customer's data; only approvers put others' changes in force."""


def may(role: Role, permission: Permission) -> bool:
    return role in ALLOWED[permission]


def home(role: Role) -> str:
    """The first page of a role."""
    return "/queue" if may(role, Permission.REVIEW) else "/models"
