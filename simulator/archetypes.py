"""Customer archetypes and the behaviour parameters each customer draws from its archetype.

The archetype only shapes behaviour (order rate, basket size, lateness, refunds, stress);
outcomes are read off the simulated events, never off the archetype name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

ARCHETYPES: tuple[str, ...] = (
    "reliable",
    "occasional_late",
    "deteriorating",
    "refund_abuser",
    "bust_out",
    "thin_file",
)
ARCHETYPE_SHARES: tuple[float, ...] = (0.46, 0.20, 0.10, 0.07, 0.05, 0.12)


@dataclass(frozen=True, slots=True)
class CustomerBehaviour:
    """Per-customer parameters drawn from the archetype."""

    archetype: str
    joined: float
    order_rate: float
    amount_log_mean: float
    credit_share: float
    cancel_p: float
    charge_fail_p: float
    refund_p: float
    abusive_refund_p: float
    chargeback_p: float
    review_p: float
    rating_mean: float
    late_p: float
    late_mean_days: float
    severe_late_p: float
    addresses: int
    onset: float | None = None
    ramp: float = 60.0
    default_stress: float = 1.0
    bust_day: float | None = None


def draw_behaviour(archetype: str, days: int, rng: np.random.Generator) -> CustomerBehaviour:
    """One customer's behaviour parameters for a period of ``days`` days.

    Consumes ``rng`` in a fixed order per archetype: changing the order of the draws changes
    every simulated event.
    """
    base: dict[str, Any] = {
        "archetype": archetype,
        "joined": float(rng.uniform(0.0, 10.0)),
        "order_rate": float(rng.lognormal(math.log(0.11), 0.5)),
        "amount_log_mean": float(rng.normal(math.log(120.0), 0.5)),
        "credit_share": float(rng.beta(2.5, 3.0)),
        "cancel_p": 0.05,
        "charge_fail_p": 0.02,
        "refund_p": 0.04,
        "abusive_refund_p": 0.0,
        "chargeback_p": 0.002,
        "review_p": 0.25,
        "rating_mean": float(rng.normal(4.3, 0.4)),
        "late_p": 0.03,
        "late_mean_days": 3.0,
        "severe_late_p": 0.002,
        "addresses": int(rng.integers(1, 3)),
    }
    if archetype == "occasional_late":
        base.update(
            late_p=float(rng.beta(4.0, 7.0)),
            late_mean_days=float(rng.uniform(6.0, 14.0)),
            severe_late_p=0.05,
            charge_fail_p=0.05,
        )
    elif archetype == "deteriorating":
        base.update(
            onset=float(rng.uniform(0.1, 0.7) * days),
            ramp=float(rng.uniform(30.0, 90.0)),
            default_stress=float(rng.uniform(0.7, 1.3)),
        )
    elif archetype == "refund_abuser":
        base.update(
            refund_p=float(rng.uniform(0.25, 0.5)),
            abusive_refund_p=float(rng.uniform(0.6, 0.9)),
            chargeback_p=0.03,
            rating_mean=float(rng.normal(2.6, 0.6)),
            review_p=0.4,
            cancel_p=0.08,
            late_p=0.08,
            late_mean_days=6.0,
        )
    elif archetype == "bust_out":
        base.update(
            credit_share=float(rng.beta(4.0, 3.0)),
            order_rate=float(rng.lognormal(math.log(0.15), 0.4)),
            bust_day=float(rng.uniform(0.25, 0.9) * days),
            late_p=0.0,
        )
    elif archetype == "thin_file":
        hidden_bad = bool(rng.random() < 0.3)
        base.update(
            joined=float(rng.uniform(0.15, 0.75) * days),
            order_rate=float(rng.lognormal(math.log(0.06), 0.5)),
        )
        if hidden_bad:
            # A newcomer who cannot carry credit: stress from the first order on.
            base.update(onset=base["joined"], ramp=float(rng.uniform(20.0, 60.0)))
    return CustomerBehaviour(**base)
