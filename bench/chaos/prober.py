"""The checkout prober: scores restricted customers on credit, over and over, at whichever
scorers are up, and remembers every answer. A restricted (frozen or suspended) customer
must never be approved on credit, whatever happens to Redis, Kafka or the services."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx


@dataclass(frozen=True, slots=True)
class Probe:
    """One checkout: the customer, when (Unix seconds, comparable with the instants the
    services stamp), and the answer's decision and fallback reason (None for a model
    answer); ``error`` instead when no answer came."""

    customer_id: str
    at: float
    decision: str | None
    fallback_reason: str | None
    error: str | None = None


class CheckoutProber:
    """Scores a BNPL order of ``amount`` for a random customer of ``customers()`` at a
    random URL of ``scorers()`` every ``interval_s``, on a thread of its own, until
    :meth:`stop`. Both callables are read on every probe, so the sample and the scorers
    may change while it runs."""

    def __init__(
        self,
        scorers: Callable[[], Sequence[str]],
        customers: Callable[[], Sequence[str]],
        api_key: str,
        *,
        amount: float = 500.0,
        interval_s: float = 0.05,
        seed: int = 7,
    ) -> None:
        self._scorers = scorers
        self._customers = customers
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._amount = amount
        self._interval_s = interval_s
        self._random = random.Random(seed)  # noqa: S311 (a sample, not a secret)
        self._stopping = threading.Event()
        self._probes: list[Probe] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="checkout-prober", daemon=True)

    def start(self) -> CheckoutProber:
        self._thread.start()
        return self

    def stop(self) -> list[Probe]:
        """Stops probing and returns every probe, in order."""
        self._stopping.set()
        self._thread.join()
        return self.probes()

    def probes(self) -> list[Probe]:
        with self._lock:
            return list(self._probes)

    def _run(self) -> None:
        with httpx.Client(timeout=5.0, headers=self._headers) as http:
            while not self._stopping.wait(self._interval_s):
                customers, scorers = self._customers(), self._scorers()
                if not customers or not scorers:
                    continue
                customer = self._random.choice(list(customers))
                probe = self._probe(http, self._random.choice(list(scorers)), customer)
                with self._lock:
                    self._probes.append(probe)

    def _probe(self, http: httpx.Client, scorer: str, customer_id: str) -> Probe:
        body = {
            "customer_id": customer_id,
            "order": {"amount": self._amount, "currency": "CNY", "payment_method": "bnpl"},
        }
        at = time.time()
        try:
            response = http.post(f"{scorer}/v1/score", json=body)
        except httpx.HTTPError as error:
            return Probe(customer_id, at, None, None, type(error).__name__)
        if response.status_code != 200:
            return Probe(customer_id, at, None, None, f"HTTP {response.status_code}")
        answer = response.json()
        return Probe(customer_id, at, answer["decision"], answer["fallback_reason"])


def approvals(probes: Sequence[Probe]) -> list[Probe]:
    """The probes that approved the order: each one a restricted customer given credit."""
    return [probe for probe in probes if probe.decision == "approve"]


def answer_mix(probes: Sequence[Probe]) -> Counter[str]:
    """How the probes were answered: ``model``, a fallback reason, or ``error``."""
    return Counter("error" if p.error else (p.fallback_reason or "model") for p in probes)
