"""The per-customer simulation: each customer's onboarding (registration, identity checks,
bureau report), orders, payments, repayments, refunds, reviews and chargebacks, validated
into contract events, and the bad outcomes read off them.

Internally time is a float number of days since ``start``; events are converted to aware
datetimes when they are built. The same ``(customers, days, seed, start)`` always yields the
same events and outcomes.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import TypeAdapter

from schemas.events import NOW_CONTEXT_KEY, InboundEvent
from simulator.archetypes import ARCHETYPE_SHARES, ARCHETYPES, CustomerBehaviour, draw_behaviour
from simulator.onboarding import onboarding_events
from simulator.writers import write_jsonl, write_parquet

BAD_DAYS_PAST_DUE = 30
"""A repayment this many days past due is a bad outcome (at due date + 30 days)."""

CURRENCY = "CNY"
_CHANNELS = ("app", "mini_program", "web")
_CHANNEL_P = (0.6, 0.25, 0.15)
_CASH_METHODS = ("card", "wallet", "bank_transfer", "cod")
_CASH_P = (0.45, 0.35, 0.1, 0.1)
_HONEST_REFUND_REASONS = ("defective", "not_as_described", "changed_mind", "other", "not_received")
_HONEST_REFUND_P = (0.3, 0.25, 0.3, 0.1, 0.05)
_INSTALMENT_COUNTS = (3, 6, 12)
_HABITUAL_LATE_MAX_DAYS = 26
_MONTH_DAYS = 30.0
_FESTIVALS = ((6, 18), (11, 11))
"""Shopping festivals ("618" and "Double 11"): order rate and basket size jump around them."""

_EVENT_ADAPTER: TypeAdapter[InboundEvent] = TypeAdapter(InboundEvent)


@dataclass(slots=True)
class _CustomerLog:
    """What one simulated customer did: raw event payloads and the first bad outcome."""

    customer_id: str
    archetype: str
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    bad_at: float | None = None
    counter: int = 0

    def next_id(self, kind: str) -> str:
        self.counter += 1
        return f"{self.customer_id}-{kind}{self.counter}"

    def mark_bad(self, t: float) -> None:
        if self.bad_at is None or t < self.bad_at:
            self.bad_at = t


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Simulated events (time-sorted) and each customer's first bad outcome.

    ``outcomes[customer_id]`` is the instant of the first bad outcome inside the simulated
    period, or None. ``archetypes`` is kept for analysis and documentation only; labels never
    read it.
    """

    events: list[InboundEvent]
    outcomes: dict[str, datetime | None]
    archetypes: dict[str, str]
    start: datetime
    end: datetime

    def label(self, customer_id: str, as_of: datetime, horizon_days: int = 90) -> int:
        """1 iff the customer's first bad outcome falls in ``(as_of, as_of + horizon]``.

        Raises ValueError when the horizon reaches past the simulated period (the label would
        be unknown) and KeyError for a customer that was not simulated.
        """
        horizon_end = as_of + timedelta(days=horizon_days)
        if horizon_end > self.end:
            raise ValueError(f"horizon ending {horizon_end} is past the simulation end {self.end}")
        bad_at = self.outcomes[customer_id]
        return int(bad_at is not None and as_of < bad_at <= horizon_end)

    def iter_events(self) -> Iterator[InboundEvent]:
        """The events in time order, one at a time."""
        return iter(self.events)

    def write_jsonl(self, path: str | Path) -> None:
        """Writes one event per line as contract JSON."""
        write_jsonl(self.events, path)

    def write_parquet(self, path: str | Path) -> None:
        """Writes the events as a Parquet table (see :func:`write_parquet`)."""
        write_parquet(self.events, path)


def simulate(customers: int, days: int, seed: int, start: datetime) -> SimulationResult:
    """Simulates ``customers`` customers over ``days`` days from ``start`` (an aware instant).

    Deterministic in its arguments. Events after the end of the period are not emitted and
    bad outcomes after it are not recorded.
    """
    logs = _simulate_logs(customers, days, seed, start)
    end = start + timedelta(days=days)
    events = list(heapq.merge(*(_build_events(log, start, end) for log in logs)))
    return SimulationResult(
        events=[event for _, _, event in events],
        outcomes={
            log.customer_id: _instant(start, log.bad_at)
            if log.bad_at is not None and log.bad_at <= days
            else None
            for log in logs
        },
        archetypes={log.customer_id: log.archetype for log in logs},
        start=start,
        end=end,
    )


def iter_events(customers: int, days: int, seed: int, start: datetime) -> Iterator[InboundEvent]:
    """The events of :func:`simulate` with the same arguments, yielded in time order; each
    event is validated only when it is reached, so a stream can start at once."""
    logs = _simulate_logs(customers, days, seed, start)
    end = start + timedelta(days=days)
    for _, _, event in heapq.merge(*(_build_events(log, start, end) for log in logs)):
        yield event


def _instant(start: datetime, t: float) -> datetime:
    # Whole milliseconds keep JSON round trips exact.
    return start + timedelta(milliseconds=round(t * 86_400_000))


def _build_events(
    log: _CustomerLog, start: datetime, end: datetime
) -> Iterator[tuple[datetime, str, InboundEvent]]:
    """Validates a customer's raw payloads into contract events, in time order."""
    context = {NOW_CONTEXT_KEY: end}
    for t, event_id, payload in sorted(log.events, key=lambda item: (item[0], item[1])):
        occurred_at = _instant(start, t)
        if occurred_at >= end:
            return
        payload["occurred_at"] = occurred_at
        for instant in ("due_at", "fetched_at"):
            if instant in payload:
                payload[instant] = _instant(start, payload[instant])
        yield occurred_at, event_id, _EVENT_ADAPTER.validate_python(payload, context=context)


@dataclass(frozen=True, slots=True)
class _Calendar:
    """The simulated period: its first instant, length and festival days (as day offsets)."""

    start: datetime
    days: float
    festival_days: tuple[float, ...]

    @classmethod
    def of(cls, start: datetime, days: int) -> _Calendar:
        festivals = []
        for year in range(start.year, (start + timedelta(days=days)).year + 1):
            for month, day in _FESTIVALS:
                at = datetime(year, month, day, tzinfo=start.tzinfo or UTC)
                festivals.append((at - start).total_seconds() / 86_400)
        return cls(start, float(days), tuple(f for f in festivals if -2 <= f <= days + 2))


def _simulate_logs(customers: int, days: int, seed: int, start: datetime) -> list[_CustomerLog]:
    if customers < 1 or days < 1:
        raise ValueError("customers and days must be positive")
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    calendar = _Calendar.of(start, days)
    population = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    archetypes = population.choice(len(ARCHETYPES), size=customers, p=ARCHETYPE_SHARES)
    logs = []
    for index in range(customers):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1, index]))
        customer_id = f"c{seed}-{index:06d}"
        behaviour = draw_behaviour(ARCHETYPES[int(archetypes[index])], days, rng)
        log = _CustomerSimulator(customer_id, behaviour, calendar, rng).run()
        # Onboarding draws from a stream of its own: behaviour stays what it was.
        onboarding = np.random.default_rng(np.random.SeedSequence([seed, 2, index]))
        log.events.extend(onboarding_events(customer_id, behaviour, onboarding))
        logs.append(log)
    return logs


def _pick(rng: np.random.Generator, options: tuple[str, ...], weights: tuple[float, ...]) -> str:
    """One option drawn with the given probabilities (cheaper than ``Generator.choice``)."""
    u = float(rng.random())
    for option, weight in zip(options, weights, strict=True):
        u -= weight
        if u < 0:
            return option
    return options[-1]


class _CustomerSimulator:
    """Runs one customer's life: orders by a non-homogeneous Poisson process, and for each
    order its payment, delivery, repayment schedule, refund, review and chargeback."""

    def __init__(
        self,
        customer_id: str,
        behaviour: CustomerBehaviour,
        calendar: _Calendar,
        rng: np.random.Generator,
    ):
        self.b = behaviour
        self.days = calendar.days
        self.rng = rng
        self.log = _CustomerLog(customer_id, behaviour.archetype)
        self.addresses = [self._address(k) for k in range(behaviour.addresses)]
        self.first_weekday = calendar.start.weekday()
        self.festival_days = calendar.festival_days
        self.bust_day: float | None = None

    def run(self) -> _CustomerLog:
        times = self._order_times()
        # Whether each order is paid on credit is drawn up front: a bust-out's burst waits
        # for the repayments of its first credit orders.
        credit_draws = self.rng.random(len(times))
        on_credit = [
            bool(u < self._credit_share(t)) for u, t in zip(credit_draws, times, strict=True)
        ]
        self.bust_day = self._bust_day(times, on_credit)
        for t, credit in zip(times, on_credit, strict=True):
            if self.bust_day is not None and t >= self.bust_day:
                break
            self._order(t, on_credit=credit)
        if self.bust_day is not None and self.bust_day < self.days:
            self._bust_out(self.bust_day)
        return self.log

    def _bust_day(self, times: list[float], on_credit: list[bool]) -> float | None:
        """A bust-out strikes a few days after the repayment that brings its
        ``limit_rises``-th limit rise: the due date of its ``limit_rises``-th credit order
        (every repayment before the burst is on time). None for other customers."""
        if self.b.limit_rises is None:
            return None
        credit_times = [t for t, credit in zip(times, on_credit, strict=True) if credit]
        if len(credit_times) < self.b.limit_rises:
            return None
        return (
            credit_times[self.b.limit_rises - 1] + _MONTH_DAYS + float(self.rng.uniform(0.5, 4.0))
        )

    # --- behaviour over time -------------------------------------------------------------

    def _stress(self, t: float) -> float:
        """Financial stress in [0, 1.5]: 0 before a deteriorating customer's onset."""
        if self.b.onset is None or t < self.b.onset:
            return 0.0
        return min((t - self.b.onset) / self.b.ramp, 1.5)

    def _strain(self, t: float) -> float:
        """How much stress shows in behaviour: the square root of stress, so the first weeks
        after the onset already show (more orders, larger baskets, more on credit, failed
        charges, late repayments) long before the customer stops repaying."""
        return float(self._stress(t) ** 0.25)

    def _defaulted(self, t: float) -> bool:
        """Whether the customer has stopped repaying by ``t`` (vanished or overwhelmed)."""
        if self.bust_day is not None and t >= self.bust_day:
            return True
        return self.b.onset is not None and self._stress(t) >= self.b.default_stress

    def _rate_multipliers(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Order-rate multiplier at each instant: weekends, season, festivals and stress."""
        weekly = np.where((self.first_weekday + np.floor(t)) % 7 >= 5, 1.3, 0.9)
        seasonal = 1.0 + 0.15 * np.sin(2 * np.pi * t / 365.0)
        festival = np.ones_like(t)
        for day in self.festival_days:
            festival[np.abs(t - day) <= 1.5] = 3.0 * self.b.festival_binge
        behaviour = np.ones_like(t)
        if self.b.onset is not None:
            stress = np.clip((t - self.b.onset) / self.b.ramp, 0.0, 1.5)
            # Spending to cope, until the customer is overwhelmed and all but stops.
            behaviour = np.where(stress >= self.b.default_stress, 0.15, 1.0 + 0.8 * stress**0.25)
        return np.asarray(weekly * seasonal * festival * behaviour)

    def _festival(self, t: float) -> float:
        return 3.0 if any(abs(t - day) <= 1.5 for day in self.festival_days) else 1.0

    def _order_times(self) -> list[float]:
        """Thinning of a Poisson process with rate ``order_rate * multiplier(t)``."""
        peak = self.b.order_rate * 1.3 * 1.15 * 3.0 * self.b.festival_binge * 2.2
        end = self.days
        span = end - self.b.joined
        if span <= 0:
            return []
        count = int(self.rng.poisson(peak * span))
        candidates = np.sort(self.rng.uniform(self.b.joined, end, size=count))
        accept = self.rng.random(count) * peak < self.b.order_rate * self._rate_multipliers(
            candidates
        )
        times = candidates[accept]
        hours = 8.0 + 15.0 * self.rng.beta(2.2, 1.6, size=len(times))
        # Orders cluster in the daytime and evening: move each to an hour of its day.
        return [float(day) for day in np.floor(times) + hours / 24.0]

    # --- one order ------------------------------------------------------------------------

    def _credit_share(self, t: float) -> float:
        """The chance an order at ``t`` is paid on credit: stress pushes it up."""
        return min(self.b.credit_share + 0.6 * self._strain(t), 0.95)

    def _order(self, t: float, *, on_credit: bool, bust: bool = False) -> None:
        rng = self.rng
        b = self.b
        strain = self._strain(t)
        amount_log = b.amount_log_mean + (0.4 if self._festival(t) > 1.0 else 0.0) + 0.6 * strain
        if bust:
            amount_log += float(rng.uniform(1.5, 2.8))
        amount = round(min(float(rng.lognormal(amount_log, 0.8)), 500_000.0) + 1.0, 2)
        if on_credit:
            method = "instalment" if rng.random() < 0.35 else "bnpl"
        else:
            method = _pick(rng, _CASH_METHODS, _CASH_P)
        order_id = self.log.next_id("o")
        one_off = bust or (b.gift_share > 0.0 and rng.random() < b.gift_share)
        address = (
            self._address(int(rng.integers(10, 1_000_000)))
            if one_off
            else self.addresses[int(rng.integers(len(self.addresses)))]
        )
        common = {
            "customer_id": self.log.customer_id,
            "order_id": order_id,
            "amount": amount,
            "currency": CURRENCY,
            "payment_method": method,
            "item_count": 1 + int(rng.poisson(1.2)),
            "channel": _pick(rng, _CHANNELS, _CHANNEL_P),
            "shipping_address_hash": address,
        }
        self._emit(t, {"event_type": "order", "status": "placed", **common})

        if not bust and rng.random() < b.cancel_p:
            self._emit(
                t + float(rng.uniform(0.01, 1.0)),
                {"event_type": "order", "status": "cancelled", **common},
            )
            return
        fail_p = min(b.charge_fail_p + 0.4 * strain, 0.9)
        if method in ("card", "wallet", "bank_transfer"):
            paid_at = t + 0.001
            if rng.random() < fail_p:
                self._payment(paid_at, order_id, amount, "charge", "failed")
                if rng.random() < 0.5:
                    self._emit(t + 0.01, {"event_type": "order", "status": "cancelled", **common})
                    return
                paid_at += float(rng.uniform(0.01, 0.2))
            self._payment(paid_at, order_id, amount, "charge", "succeeded")
        delivered = t + float(rng.uniform(2.0, 7.0))
        if method == "cod":
            if rng.random() < fail_p:
                self._payment(delivered, order_id, amount, "charge", "failed")
                self._emit(
                    delivered + 0.01, {"event_type": "order", "status": "cancelled", **common}
                )
                return
            self._payment(delivered, order_id, amount, "charge", "succeeded")
        self._emit(delivered, {"event_type": "order", "status": "completed", **common})

        refunded_at = self._maybe_refund(delivered, order_id, amount)
        if on_credit:
            self._repayments(t, order_id, amount, method, until=refunded_at)
        if rng.random() < b.review_p:
            self._review(delivered + float(rng.uniform(0.5, 10.0)), order_id)
        if method == "card" and rng.random() < b.chargeback_p:
            self._chargeback(t + float(rng.uniform(10.0, 60.0)), order_id, amount)

    def _repayments(
        self, placed: float, order_id: str, amount: float, method: str, until: float | None
    ) -> None:
        count = 1 if method == "bnpl" else _INSTALMENT_COUNTS[int(self.rng.integers(3))]
        share = round(amount / count, 2)
        for number in range(1, count + 1):
            due = placed + _MONTH_DAYS * number
            if until is not None and due > until:
                return
            self._one_repayment(due, order_id, share, number if count > 1 else None)

    def _one_repayment(self, due: float, order_id: str, amount: float, number: int | None) -> None:
        rng = self.rng
        if self._defaulted(due):
            # Automatic collection attempts fail as the debt ages; it becomes bad at 30 days.
            for days_past_due in (0, 7, 15, 30):
                self._payment(
                    due + days_past_due,
                    order_id,
                    amount,
                    "repayment",
                    "failed",
                    due=due,
                    days_past_due=days_past_due,
                    instalment_no=number,
                )
            self.log.mark_bad(due + BAD_DAYS_PAST_DUE)
            return
        strain = self._strain(due)
        days_past_due = 0
        if rng.random() < self.b.severe_late_p + 0.25 * strain:
            days_past_due = int(rng.integers(20, 75))
        elif rng.random() < min(self.b.late_p + 0.6 * strain, 0.95):
            mean = self.b.late_mean_days + 25.0 * strain
            days_past_due = 1 + int(rng.exponential(mean))
            if strain == 0.0:
                # A habitual late payer pays before the debt turns bad.
                days_past_due = min(days_past_due, _HABITUAL_LATE_MAX_DAYS)
        # Automatic collection fails at the due date, and again a fortnight on if still unpaid.
        for attempt in (0, 15):
            if days_past_due > attempt:
                self._payment(
                    due + attempt,
                    order_id,
                    amount,
                    "repayment",
                    "failed",
                    due=due,
                    days_past_due=attempt,
                    instalment_no=number,
                )
        paid = (
            due - float(rng.uniform(0.0, 3.0)) if days_past_due == 0 else due + days_past_due + 0.3
        )
        self._payment(
            paid,
            order_id,
            amount,
            "repayment",
            "succeeded",
            due=due,
            days_past_due=days_past_due,
            instalment_no=number,
        )
        if days_past_due >= BAD_DAYS_PAST_DUE:
            self.log.mark_bad(due + BAD_DAYS_PAST_DUE)

    def _maybe_refund(self, delivered: float, order_id: str, amount: float) -> float | None:
        """Returns when a refund was approved, if one was. A refund abuser refunds like
        everybody else until its abuse starts."""
        rng = self.rng
        abusing = self.b.abuse_onset is None or delivered >= self.b.abuse_onset
        refund_p = self.b.refund_p if abusing else 0.04
        if rng.random() >= refund_p:
            return None
        requested = delivered + float(rng.uniform(0.5, 12.0))
        abusive = abusing and rng.random() < self.b.abusive_refund_p
        if abusive:
            reason, goods_returned, approve_p = "not_received", False, 0.85
        else:
            reason = _pick(rng, _HONEST_REFUND_REASONS, _HONEST_REFUND_P)
            goods_returned = reason != "not_received"
            approve_p = 0.92
        refund_id = self.log.next_id("r")
        body = {
            "event_type": "refund",
            "customer_id": self.log.customer_id,
            "order_id": order_id,
            "refund_id": refund_id,
            "amount": amount,
            "currency": CURRENCY,
            "reason": reason,
            "goods_returned": goods_returned,
        }
        self._emit(requested, {**body, "status": "requested"})
        decided = requested + float(rng.uniform(0.2, 3.0))
        approved = rng.random() < approve_p
        self._emit(decided, {**body, "status": "approved" if approved else "rejected"})
        if approved and abusive and rng.random() < 0.6:
            # The carrier's proof of delivery turns up in a later investigation.
            self.log.mark_bad(decided + float(rng.uniform(10.0, 45.0)))
        return decided if approved else None

    def _review(self, t: float, order_id: str) -> None:
        rating = int(min(max(round(float(self.rng.normal(self.b.rating_mean, 0.9))), 1), 5))
        abusive_p = 0.3 if self.b.archetype == "refund_abuser" else 0.02
        self._emit(
            t,
            {
                "event_type": "review",
                "customer_id": self.log.customer_id,
                "order_id": order_id,
                "review_id": self.log.next_id("v"),
                "rating": rating,
                "flagged_abusive": bool(rating <= 2 and self.rng.random() < abusive_p),
            },
        )

    def _chargeback(self, t: float, order_id: str, amount: float) -> None:
        self._payment(t, order_id, amount, "chargeback", "succeeded")
        self.log.mark_bad(t)

    def _bust_out(self, t: float) -> None:
        """Maxes out credit with a burst of large orders to new addresses, then vanishes:
        every repayment fails and earlier card payments are charged back."""
        card_orders = [
            (event_t, payload)
            for event_t, _, payload in self.log.events
            if payload["event_type"] == "payment"
            and payload["kind"] == "charge"
            and payload["status"] == "succeeded"
            and event_t < t
        ]
        for offset in np.sort(self.rng.uniform(0.0, 3.0, size=int(self.rng.integers(4, 11)))):
            self._order(t + float(offset), on_credit=self.rng.random() < 0.95, bust=True)
        # Half of them also charge back earlier card payments (which turns bad sooner).
        if card_orders and self.rng.random() < 0.5:
            picks = self.rng.choice(len(card_orders), size=min(len(card_orders), 3), replace=False)
            for pick in picks:
                _, payload = card_orders[int(pick)]
                self._chargeback(
                    t + float(self.rng.uniform(5.0, 40.0)), payload["order_id"], payload["amount"]
                )

    # --- emitting -------------------------------------------------------------------------

    def _payment(
        self,
        t: float,
        order_id: str,
        amount: float,
        kind: str,
        status: str,
        *,
        due: float | None = None,
        days_past_due: int | None = None,
        instalment_no: int | None = None,
    ) -> None:
        payload: dict[str, Any] = {
            "event_type": "payment",
            "customer_id": self.log.customer_id,
            "order_id": order_id,
            "payment_id": self.log.next_id("p"),
            "amount": amount,
            "currency": CURRENCY,
            "kind": kind,
            "status": status,
        }
        if due is not None:
            payload["due_at"] = due
            payload["days_past_due"] = days_past_due
        if instalment_no is not None:
            payload["instalment_no"] = instalment_no
        self._emit(t, payload)

    def _emit(self, t: float, payload: dict[str, Any]) -> None:
        event_id = self.log.next_id("e")
        payload["event_id"] = event_id
        self.log.events.append((t, event_id, payload))

    def _address(self, k: int) -> str:
        return hashlib.sha256(f"{self.log.customer_id}/{k}".encode()).hexdigest()[:16]
