"""The checkout call's traffic mix, as plain data and a body builder (no Locust here, so
it is importable anywhere and tested on its own).

A checkout asks ``POST /v1/score`` whether this order may go through, on credit, now.
Real traffic mixes returning customers with first-time ones (scored by the thin-file
policy) and orders paid on credit (BNPL, instalments: the limit matters) with orders paid
now (card, wallet, cash on delivery, bank transfer); a few calls carry no order (a
pre-check of the customer alone).
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CREDIT_METHODS = ("bnpl", "instalment")
NOW_METHODS = ("card", "wallet", "cod", "bank_transfer")


@dataclass(frozen=True, slots=True)
class CheckoutMix:
    """Shares of the traffic and where known customer ids come from.

    Known customers are ``<known_prefix><i>`` for ``i`` in ``[0, known_count)``: the
    benchmark seeds ``bench-0`` .. ``bench-999``; against a cluster fed by the Kafka driver
    use its customers (``c<seed>-000001`` ..., see the README)."""

    known_share: float = 0.8
    credit_share: float = 0.4
    no_order_share: float = 0.05
    known_prefix: str = "bench-"
    known_count: int = 1000
    known_width: int = 0
    """Zero-pad ``i`` to this many digits (0: no padding)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CheckoutMix:
        """Defaults overridden by ``RISKSTREAM_LOADTEST_KNOWN_SHARE``, ``..._CREDIT_SHARE``,
        ``..._NO_ORDER_SHARE``, ``..._KNOWN_PREFIX``, ``..._KNOWN_COUNT`` and
        ``..._KNOWN_WIDTH``."""
        defaults = cls()

        def read(name: str, default: Any) -> Any:
            raw = environ.get(f"RISKSTREAM_LOADTEST_{name}")
            return default if raw is None else type(default)(raw)

        return cls(
            known_share=read("KNOWN_SHARE", defaults.known_share),
            credit_share=read("CREDIT_SHARE", defaults.credit_share),
            no_order_share=read("NO_ORDER_SHARE", defaults.no_order_share),
            known_prefix=read("KNOWN_PREFIX", defaults.known_prefix),
            known_count=read("KNOWN_COUNT", defaults.known_count),
            known_width=read("KNOWN_WIDTH", defaults.known_width),
        )


@dataclass(frozen=True, slots=True)
class Checkout:
    """One call: its JSON body and the label Locust reports it under."""

    body: dict[str, Any]
    label: str


def build_checkout(rng: random.Random, mix: CheckoutMix) -> Checkout:
    """Draws one checkout call from ``mix``: a known or first-time customer, and an order
    on credit, paid now, or none."""
    if rng.random() < mix.known_share:
        number = str(rng.randrange(mix.known_count)).zfill(mix.known_width)
        customer_id, who = f"{mix.known_prefix}{number}", "known"
    else:
        customer_id, who = f"new-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}", "unknown"
    body: dict[str, Any] = {"customer_id": customer_id}
    draw = rng.random()
    if draw < mix.no_order_share:
        return Checkout(body, f"{who} no-order")
    on_credit = draw < mix.no_order_share + mix.credit_share
    body["order"] = {
        # Baskets are log-normal: most small, a long tail of large ones.
        "amount": round(min(rng.lognormvariate(5.0, 0.9), 50_000.0), 2),
        "currency": "CNY",
        "payment_method": rng.choice(CREDIT_METHODS if on_credit else NOW_METHODS),
    }
    return Checkout(body, f"{who} {'credit' if on_credit else 'now'}")
