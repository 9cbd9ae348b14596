"""Locust scenario for the checkout call: ``POST /v1/score`` with a realistic mix of known
and first-time customers and of orders on credit and paid now.

Run: ``.venv/bin/locust -f loadtests/locustfile.py --host https://scorer.example.com``
with ``RISKSTREAM_LOADTEST_API_KEY`` set to a client key (default ``dev-client-key``) and
the mix in ``RISKSTREAM_LOADTEST_*`` (see :class:`loadtests.checkout.CheckoutMix`).
Requests are reported by kind (``/v1/score [known credit]`` ...); a response that is not
200 or lacks a decision is a failure.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

from locust import FastHttpUser, between, task

# Locust puts this file's directory on the path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadtests.checkout import CheckoutMix, build_checkout

API_KEY = os.environ.get("RISKSTREAM_LOADTEST_API_KEY", "dev-client-key")
MIX = CheckoutMix.from_env()


class CheckoutUser(FastHttpUser):
    """A checkout service instance: one score call per customer click."""

    wait_time = between(0.05, 0.5)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.headers = {"Authorization": f"Bearer {API_KEY}"}

    @task
    def score_checkout(self) -> None:
        checkout = build_checkout(self.rng, MIX)
        with self.client.post(
            "/v1/score",
            json=checkout.body,
            headers=self.headers,
            name=f"/v1/score [{checkout.label}]",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}: {response.text[:200]}")
            elif "decision" not in (response.json() or {}):
                response.failure("answer without a decision")
