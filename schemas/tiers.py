"""The service tier a grade earns (DOMAIN.md, "Credit grades and what each one gets"): the
repayment terms offered, the promotions allowed, the monitoring level and VIP treatment.

Score answers (``service_tier``) and the customer risk state carry it; the tiers
themselves are configured in one file (:mod:`services.common.tiers`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Grade

Promotions = Literal["all", "personalised", "standard", "restricted", "none"]
"""Which promotions a customer may get, from the most to the least."""
PROMOTIONS: tuple[Promotions, ...] = ("all", "personalised", "standard", "restricted", "none")
Monitoring = Literal["standard", "heightened", "intensive"]
"""How closely the risk team watches the customer, from the least to the most."""
MONITORING: tuple[Monitoring, ...] = ("standard", "heightened", "intensive")
CreditRestriction = Literal["frozen", "suspended"]

MAX_INSTALMENTS = 60
MAX_DEFERRAL_DAYS = 365


class RepaymentTerms(BaseModel):
    """How a purchase on credit may be repaid: in one repayment later (``one_off``), in
    one of the ``instalments`` counts, or deferred by at most ``deferral_days`` days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    one_off: bool
    instalments: tuple[int, ...] = Field(
        default=(), description="Instalment counts offered, ascending (empty: none)."
    )
    deferral_days: int = Field(default=0, ge=0, le=MAX_DEFERRAL_DAYS)

    @property
    def on_credit(self) -> bool:
        """Whether any way of paying later is offered."""
        return self.one_off or bool(self.instalments) or self.deferral_days > 0


NO_CREDIT_TERMS = RepaymentTerms(one_off=False)
"""The terms of an account whose credit is frozen or suspended: nothing on credit."""


class ServiceTier(BaseModel):
    """What a customer of ``grade`` gets. ``restricted_by`` is set when the account is
    frozen or suspended: the grade's tier then offers nothing on credit and no
    promotions, whatever the grade."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grade: Grade
    name: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    vip: bool = False
    priority_service: bool = False
    repayment_terms: RepaymentTerms
    promotions: Promotions
    monitoring: Monitoring
    fraud_checks: bool = Field(
        default=False, description="Orders get the shop's extra fraud checks."
    )
    restricted_by: CreditRestriction | None = None
