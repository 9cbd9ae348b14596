"""A tiny simulated event log for backtests: a reliable payer and a customer whose card
payments fail four times in one afternoon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def _order(customer: str, number: int, at: datetime) -> dict[str, Any]:
    return {
        "event_id": f"{customer}-order-{number}",
        "event_type": "order",
        "customer_id": customer,
        "occurred_at": at.isoformat(),
        "order_id": f"{customer}-o{number}",
        "amount": "120.00",
        "currency": "CNY",
        "payment_method": "card",
        "status": "placed",
        "item_count": 1,
        "channel": "app",
    }


def _payment(customer: str, number: int, at: datetime, status: str) -> dict[str, Any]:
    return {
        "event_id": f"{customer}-payment-{number}",
        "event_type": "payment",
        "customer_id": customer,
        "occurred_at": at.isoformat(),
        "order_id": f"{customer}-o{number}",
        "payment_id": f"{customer}-p{number}",
        "amount": "120.00",
        "currency": "CNY",
        "kind": "charge",
        "status": status,
    }


def simulated_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for day in range(5):
        at = START + timedelta(days=day)
        events.append(_order("payer", day, at))
        events.append(_payment("payer", day, at + timedelta(minutes=1), "succeeded"))
    events.append(_order("failer", 0, START))
    for attempt in range(4):
        at = START + timedelta(days=2, hours=attempt)
        events.append(_payment("failer", attempt, at, "failed"))
    # The same payment delivered twice: the feature core applies it once.
    events.append(events[-1])
    return events


def write_log(path: Path) -> Path:
    """Writes the log as JSON Lines, deliberately out of time order."""
    lines = [orjson.dumps(event) for event in reversed(simulated_events())]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path
