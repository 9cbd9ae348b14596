"""Customer archetypes and the behaviour parameters each customer draws from its archetype.

The archetype only shapes behaviour (order rate, basket size, lateness, refunds, stress);
outcomes are read off the simulated events, never off the archetype name.

Several archetypes share a surface on purpose, so that no single feature tells good from bad
customers and the risk lies in how behaviour changes over time and combines: habitual late
payers are late as often as deteriorating customers are but nearly always pay; gift senders
ship to as many addresses as a bust-out does, and festival shoppers spend in bursts like one;
honest customers also report parcels not received.
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
ARCHETYPE_SHARES: tuple[float, ...] = (0.44, 0.20, 0.10, 0.07, 0.07, 0.12)


@dataclass(frozen=True, slots=True)
class CustomerBehaviour:
    """Per-customer parameters drawn from the archetype.

    ``onset`` and ``ramp``: a deteriorating customer's stress starts at ``onset`` (days) and
    reaches 1 after ``ramp`` more days; repayments stop when it reaches ``default_stress``.
    ``limit_rises``: a bust-out waits for this many on-time repayments (each one raises the
    credit limit the platform grants) before the burst. ``abuse_onset``: a refund abuser
    refunds honestly before that day. ``festival_binge`` multiplies the order rate around
    shopping festivals; ``gift_share`` is the share of orders shipped to a one-off address.
    """

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
    limit_rises: int | None = None
    abuse_onset: float | None = None
    festival_binge: float = 1.0
    gift_share: float = 0.0


def draw_behaviour(archetype: str, days: int, rng: np.random.Generator) -> CustomerBehaviour:
    """One customer's behaviour parameters for a period of ``days`` days.

    Consumes ``rng`` in a fixed order per archetype: changing the order of the draws changes
    every simulated event.
    """
    base: dict[str, Any] = {
        "archetype": archetype,
        "joined": float(rng.uniform(0.0, 10.0)),
        "order_rate": float(rng.lognormal(math.log(0.15), 0.5)),
        "amount_log_mean": float(rng.normal(math.log(120.0), 0.6)),
        "credit_share": float(rng.beta(1.3, 1.5)),
        "cancel_p": 0.05,
        "charge_fail_p": 0.02,
        "refund_p": 0.04,
        "abusive_refund_p": 0.0,
        "chargeback_p": 0.0005,
        "review_p": 0.25,
        "rating_mean": float(rng.normal(4.3, 0.4)),
        "late_p": 0.03,
        "late_mean_days": 3.0,
        "severe_late_p": 0.0,
        "addresses": int(rng.integers(1, 3)),
    }
    # Benign look-alikes: festival bingers spend in bursts, gift senders ship to many
    # addresses; neither defaults for it.
    if rng.random() < 0.25:
        base["festival_binge"] = float(rng.uniform(2.0, 4.0))
    if rng.random() < 0.15:
        base["gift_share"] = float(rng.uniform(0.4, 0.9))
    if rng.random() < 0.15:
        # Returns a lot, honestly: the goods go back.
        base["refund_p"] = float(rng.uniform(0.12, 0.3))
    if archetype == "occasional_late":
        base.update(
            late_p=float(rng.beta(5.0, 6.0)),
            late_mean_days=float(rng.uniform(5.0, 12.0)),
            severe_late_p=0.004,
            charge_fail_p=0.06,
        )
    elif archetype == "deteriorating":
        base.update(
            onset=float(rng.uniform(0.05, 0.75) * days),
            ramp=float(rng.uniform(50.0, 100.0)),
            default_stress=float(rng.uniform(0.8, 1.2)),
        )
    elif archetype == "refund_abuser":
        base.update(
            abuse_onset=float(rng.uniform(0.0, 0.6) * days),
            refund_p=float(rng.uniform(0.3, 0.55)),
            abusive_refund_p=float(rng.uniform(0.6, 0.9)),
            chargeback_p=0.01,
            rating_mean=float(rng.normal(3.2, 0.6)),
            review_p=0.35,
        )
    elif archetype == "bust_out":
        base.update(
            credit_share=float(rng.beta(5.0, 2.5)),
            order_rate=float(rng.lognormal(math.log(0.16), 0.3)),
            limit_rises=int(rng.integers(2, 6)),
            late_p=0.0,
        )
    elif archetype == "thin_file":
        hidden_bad = bool(rng.random() < 0.3)
        base.update(
            joined=float(rng.uniform(0.15, 0.75) * days),
            order_rate=float(rng.lognormal(math.log(0.07), 0.5)),
        )
        if hidden_bad:
            # A newcomer who cannot carry credit: buys big on credit from the first order
            # on, and stress builds from there.
            base.update(
                onset=base["joined"],
                ramp=float(rng.uniform(20.0, 50.0)),
                credit_share=float(rng.beta(6.0, 1.5)),
                amount_log_mean=base["amount_log_mean"] + 0.5,
            )
    return CustomerBehaviour(**base)
