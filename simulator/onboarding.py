"""What a simulated customer shows before the deal: registration, identity checks and a
credit bureau report (docs/model.md, "Onboarding in the simulator").

Each customer has a hidden *quality*: an archetype's typical value plus noise. It shapes how
likely each identity check passes and what the bureau reports, so onboarding data says
something about risk without saying everything: a bust-out often looks clean at the bureau,
and some honest newcomers have thin or poor bureau files. Outcomes are still read off
behaviour only. Onboarding draws use a random stream of their own, so adding them changed
none of the behaviour an earlier version simulated for the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from schemas.identifiers import keyed_hash
from simulator.archetypes import CustomerBehaviour

SIMULATED_KEY_ID = "sim-1"
SIMULATED_KEY = b"riskstream simulated consortium key"
"""The consortium key the simulated onboarding system hashes contact details with."""

_RISK_BY_ARCHETYPE = {
    "reliable": -0.9,
    "occasional_late": -0.2,
    "deteriorating": 0.0,
    "refund_abuser": 0.3,
    "bust_out": 0.2,
    "thin_file": -0.4,
}
_HIDDEN_BAD_THIN_FILE_RISK = 1.0
_CHANNELS = ("app", "mini_program", "web")
_CHANNEL_P = (0.6, 0.25, 0.15)
_NO_ONBOARDING_P = 0.07
"""Customers whose onboarding records never reached the platform (an older sign-up path)."""
_BUREAU_LOGIT = 0.6
"""Log-odds that a customer of average quality lets the platform fetch a bureau report."""
_BUREAUS = (("sesame", 350.0, 950.0), ("bureau_x", 0.0, 1000.0))
"""A provider of the scale table, and one the platform knows only from its reports."""


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def onboarding_events(
    customer_id: str, behaviour: CustomerBehaviour, rng: np.random.Generator
) -> Iterator[tuple[float, str, dict[str, Any]]]:
    """The customer's onboarding events as ``(day, event_id, payload)``, between the start
    of the period and the customer's first possible order (``behaviour.joined``)."""
    if rng.random() < _NO_ONBOARDING_P:
        return
    hidden_bad = behaviour.archetype == "thin_file" and behaviour.onset is not None
    risk = _HIDDEN_BAD_THIN_FILE_RISK if hidden_bad else _RISK_BY_ARCHETYPE[behaviour.archetype]
    risk += float(rng.normal(0.0, 0.8))
    registered = behaviour.joined * float(rng.uniform(0.0, 0.9))
    base = {"customer_id": customer_id}
    contacts = [
        keyed_hash(
            "phone", f"+86 13{int(rng.integers(0, 10**9)):09d}", SIMULATED_KEY, SIMULATED_KEY_ID
        ).model_dump()
    ]
    with_email = rng.random() < 0.6
    if with_email:
        contacts.append(
            keyed_hash(
                "email", f"{customer_id}@example.com", SIMULATED_KEY, SIMULATED_KEY_ID
            ).model_dump()
        )
    yield (
        registered,
        f"{customer_id}-reg",
        {
            **base,
            "event_id": f"{customer_id}-reg",
            "event_type": "registration",
            "channel": _CHANNELS[int(rng.choice(3, p=_CHANNEL_P))],
            "contact_hashes": contacts,
        },
    )
    window = max(behaviour.joined - registered, 0.01)
    checks = [("phone", 0.97)]
    if with_email:
        checks.append(("email", 0.95))
    # Riskier customers skip the stronger checks more often, and fail them more often.
    if rng.random() < _sigmoid(2.2 - 0.8 * risk):
        synthetic = behaviour.archetype == "bust_out" and rng.random() < 0.35
        checks.append(("real_name", 0.3 if synthetic else _sigmoid(2.0 - 1.2 * risk)))
    if rng.random() < _sigmoid(1.0 - 0.8 * risk):
        checks.append(("bank_card", _sigmoid(1.5 - 1.0 * risk)))
    for number, (kind, pass_p) in enumerate(checks):
        at = registered + window * float(rng.uniform(0.0, 0.8))
        passed = bool(rng.random() < pass_p)
        yield (
            at,
            f"{customer_id}-ver{number}",
            {
                **base,
                "event_id": f"{customer_id}-ver{number}",
                "event_type": "verification",
                "kind": kind,
                "result": "passed" if passed else "failed",
                "provider": "sim-kyc",
            },
        )
    if rng.random() < _sigmoid(_BUREAU_LOGIT - 0.6 * risk):
        provider, low, high = _BUREAUS[int(rng.integers(len(_BUREAUS)))]
        share = min(max(0.66 - 0.12 * risk + float(rng.normal(0.0, 0.08)), 0.0), 1.0)
        fetched = registered + window * float(rng.uniform(0.0, 0.5))
        yield (
            fetched + 0.001,
            f"{customer_id}-bur",
            {
                **base,
                "event_id": f"{customer_id}-bur",
                "event_type": "bureau_report",
                "provider": provider,
                "score": round(low + share * (high - low)),
                "scale_min": low,
                "scale_max": high,
                "delinquencies": int(rng.poisson(max(0.05, 0.35 + 0.5 * risk))),
                "inquiries_6m": int(
                    rng.poisson(1.0 + max(risk, 0.0) + (2.0 if behaviour.limit_rises else 0.0))
                ),
                "fetched_at": fetched,
            },
        )
