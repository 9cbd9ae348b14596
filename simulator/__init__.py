"""A deterministic simulator of e-commerce customers and their credit behaviour.

Every customer follows one archetype (reliable payer, occasional late payer, slowly
deteriorating, refund abuser, bust-out fraudster, thin-file newcomer), but the archetype only
shapes *behaviour*: onboarding (registration, identity checks, a bureau report), orders,
payments, repayments, refunds, reviews and chargebacks, emitted as contract-valid inbound
events. A customer's bad outcome is read off that simulated behaviour
(a repayment reaching 30 days past due, a chargeback, or a refund confirmed as abuse by a later
investigation), never off the archetype name.

The same ``(customers, days, seed, start)`` always yields the same events and outcomes.

Modules: ``archetypes`` (the archetypes and each customer's behaviour draw), ``onboarding``
(what a customer shows before the deal), ``simulation``
(the per-customer simulation, :func:`simulate`, :func:`iter_events` and the labels of
:class:`SimulationResult`) and ``writers`` (JSON Lines and Parquet event logs). Other
packages import from here.
"""

from simulator.archetypes import ARCHETYPE_SHARES, ARCHETYPES
from simulator.simulation import (
    BAD_DAYS_PAST_DUE,
    CURRENCY,
    SimulationResult,
    iter_events,
    simulate,
)
from simulator.writers import write_jsonl, write_parquet

__all__ = [
    "ARCHETYPES",
    "ARCHETYPE_SHARES",
    "BAD_DAYS_PAST_DUE",
    "CURRENCY",
    "SimulationResult",
    "iter_events",
    "simulate",
    "write_jsonl",
    "write_parquet",
]
