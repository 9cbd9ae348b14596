"""Feasible changes of a customer's behaviour ("levers") as changes of their feature row,
and the search for the least of them that reaches a goal (a better grade, a rule's exit
condition).

A lever changes exactly the features the behaviour would change under the feature
definitions (docs/features.md); every other feature keeps its value. "2 more repayments on
time" raises the on-time ratio to ``(on_time + 2) / (repaid + 2)``, lowers the mean days
past due and the failed-payment ratio accordingly, and leaves the late-repayment count as
it is (the past stays in the 90-day window). "No failed payment for 30 days" sets the 24 h,
7 d and 30 d failure counts and the 30-day ratio to zero.

The search is greedy and bounded: every applicable lever alone (at its largest amount) is
judged in one call; then the levers are taken in the order of how far each alone got, one
more at a time (at most ``max_levers``), until the goal is met; then each lever with several
amounts is cut to the smallest that still meets it. Rows are judged once however many goals
ask, so a search costs a handful of model runs; searches for many rows run side by side
(:func:`least_changes_of`), so a batch of them costs as many runs as its longest search.
The caller's ``judge`` scores the candidate rows (the model, or a rule's condition), so
every answer has been checked on the very row it states.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

Features = Mapping[str, float | None]
Step = tuple[str, int]
"""A lever and its amount, e.g. ``("on_time_repayments", 2)``."""
Judge = Callable[[Sequence[Features]], Sequence[float]]
"""Rates candidate rows (higher is better), all in one call."""
T = TypeVar("T")
Search = Generator[Sequence[Features], Sequence[float], T]
"""A search in progress: it yields the rows it needs rated, is sent their ratings (in
order) and finally returns its result."""

MAX_LEVERS = 3
ON_TIME_AMOUNTS = (1, 2, 3, 5, 8)


def _value(features: Features, name: str) -> float | None:
    return features.get(name)


def _positive(features: Features, *names: str) -> bool:
    return any((_value(features, name) or 0.0) > 0 for name in names)


def _zeroed(features: Features, *names: str) -> dict[str, float | None]:
    """The row with each named feature 0 (an undefined ratio stays undefined)."""
    row = dict(features)
    for name in names:
        if name in row and row[name] is not None:
            row[name] = 0.0
    return row


def _on_time_applies(features: Features) -> bool:
    ratio = _value(features, "repayments_on_time_ratio_90d")
    return ratio is None or ratio < 1.0


def _on_time(features: Features, amount: int) -> dict[str, float | None]:
    """``amount`` more repayments, each made on time: repaid and on-time counts grow,
    late ones stay; so do the payment attempts of the last 30 days."""
    row = dict(features)
    ratio = _value(features, "repayments_on_time_ratio_90d")
    late = _value(features, "repayments_late_90d") or 0.0
    if ratio is None:
        repaid = 0.0
        row["repayments_on_time_ratio_90d"] = 1.0
        row["days_past_due_max_90d"] = 0.0
        row["days_past_due_mean_90d"] = 0.0
    else:
        repaid = late / (1.0 - ratio) if ratio < 1.0 else 0.0
        on_time = repaid - late
        row["repayments_on_time_ratio_90d"] = (on_time + amount) / (repaid + amount)
        mean = _value(features, "days_past_due_mean_90d")
        if mean is not None:
            row["days_past_due_mean_90d"] = mean * repaid / (repaid + amount)
    failed_ratio = _value(features, "payments_failed_ratio_30d")
    failed = _value(features, "payments_failed_30d") or 0.0
    if failed_ratio is not None and failed_ratio > 0:
        attempts = failed / failed_ratio
        row["payments_failed_ratio_30d"] = failed / (attempts + amount)
    elif failed_ratio is None:
        row["payments_failed_ratio_30d"] = 0.0
    return row


@dataclass(frozen=True, slots=True)
class Lever:
    """A change the customer can make. ``amounts`` lists how much of it may be asked,
    smallest first (``(1,)`` for a change without an amount)."""

    name: str
    applies: Callable[[Features], bool]
    change: Callable[[Features, int], dict[str, float | None]]
    features: tuple[str, ...]
    amounts: tuple[int, ...] = (1,)


def _zeroing(name: str, *features: str) -> Lever:
    return Lever(
        name,
        lambda row: _positive(row, *features),
        lambda row, _: _zeroed(row, *features),
        features,
    )


LEVERS: tuple[Lever, ...] = (
    Lever(
        "on_time_repayments",
        _on_time_applies,
        _on_time,
        (
            "repayments_on_time_ratio_90d",
            "repayments_late_90d",
            "days_past_due_max_90d",
            "days_past_due_mean_90d",
            "payments_failed_ratio_30d",
            "payments_failed_30d",
        ),
        ON_TIME_AMOUNTS,
    ),
    _zeroing(
        "no_failed_payments_30d",
        "payments_failed_24h",
        "payments_failed_7d",
        "payments_failed_30d",
        "payments_failed_ratio_30d",
    ),
    Lever(
        "no_late_repayments_90d",
        lambda row: _positive(row, "repayments_late_90d", "days_past_due_max_90d"),
        lambda row, _: {
            **_zeroed(
                row, "repayments_late_90d", "days_past_due_max_90d", "days_past_due_mean_90d"
            ),
            "repayments_on_time_ratio_90d": (
                None if row.get("repayments_on_time_ratio_90d") is None else 1.0
            ),
        },
        (
            "repayments_late_90d",
            "days_past_due_max_90d",
            "days_past_due_mean_90d",
            "repayments_on_time_ratio_90d",
        ),
    ),
    _zeroing("repay_outstanding", "credit_outstanding"),
    _zeroing("no_chargebacks_90d", "chargebacks_90d"),
    _zeroing("no_refunds_without_return_30d", "refunds_without_return_30d"),
    _zeroing("no_rejected_refunds_90d", "refunds_rejected_90d"),
    _zeroing("no_cancellations_30d", "orders_cancelled_ratio_30d"),
    _zeroing("no_abusive_reviews_90d", "reviews_abusive_90d"),
    Lever(
        "usual_spending_24h",
        lambda row: (_value(row, "spend_spike_ratio_24h") or 0.0) > 1.0,
        lambda row, _: {**row, "spend_spike_ratio_24h": 1.0},
        ("spend_spike_ratio_24h",),
    ),
)
LEVERS_BY_NAME: dict[str, Lever] = {lever.name: lever for lever in LEVERS}


def applicable(features: Features) -> list[Lever]:
    """The levers that would change something in this row (their features all present)."""
    return [
        lever
        for lever in LEVERS
        if all(name in features for name in lever.features) and lever.applies(features)
    ]


def apply_steps(features: Features, steps: Sequence[Step]) -> dict[str, float | None]:
    """The row after every step (KeyError for an unknown lever)."""
    row = dict(features)
    for name, amount in steps:
        row = LEVERS_BY_NAME[name].change(row, amount)
    return row


def changed_features(
    before: Features, after: Features
) -> list[tuple[str, float | None, float | None]]:
    """``(feature, before, after)`` for each feature whose value differs, in row order."""
    return [(name, before[name], after[name]) for name in before if after[name] != before[name]]


@dataclass(frozen=True, slots=True)
class Found:
    """The least changes found for one goal: the steps, the changed row and its rating."""

    steps: tuple[Step, ...]
    row: dict[str, float | None]
    rating: float


class _Candidates:
    """Rows by their steps, each distinct row judged once however many goals ask."""

    def __init__(self, features: Features) -> None:
        self._features = features
        self._rows: dict[tuple[Step, ...], dict[str, float | None]] = {}
        self._keys: dict[tuple[Step, ...], tuple[tuple[str, float | None], ...]] = {}
        self._ratings: dict[tuple[tuple[str, float | None], ...], float] = {}

    def rate(self, candidates: Sequence[tuple[Step, ...]]) -> Search[None]:
        """Asks for the ratings of the candidates whose rows were not judged yet, all in
        one request (none when every row is judged already)."""
        fresh: dict[tuple[tuple[str, float | None], ...], dict[str, float | None]] = {}
        for steps in candidates:
            key = self._keys.get(steps)
            if key is None:
                row = self._rows[steps] = apply_steps(self._features, steps)
                key = self._keys[steps] = tuple(row.items())
            if key not in self._ratings:
                fresh[key] = self._rows[steps]
        if fresh:
            ratings = yield list(fresh.values())
            for key, rating in zip(fresh, ratings, strict=True):
                self._ratings[key] = float(rating)

    def rating(self, steps: tuple[Step, ...]) -> float:
        return self._ratings[self._keys[steps]]

    def found(self, steps: tuple[Step, ...]) -> Found:
        return Found(steps, self._rows[steps], self.rating(steps))


def least_changes(
    features: Features, judge: Judge, goals: Sequence[float], max_levers: int = MAX_LEVERS
) -> list[Found | None]:
    """For each goal, the least changes found whose row ``judge`` rates at least the goal
    (None: none within ``max_levers`` levers). See the module docstring for the search."""
    (found,) = least_changes_of([(features, goals)], judge, max_levers)
    return found


def least_changes_of(
    problems: Sequence[tuple[Features, Sequence[float]]],
    judge: Judge,
    max_levers: int = MAX_LEVERS,
) -> list[list[Found | None]]:
    """:func:`least_changes` for several rows and their goals at once: every search takes
    the same steps as alone, and the rows all of them ask about at each step are judged in
    one call (one model run for a whole batch of scores instead of one per search step)."""
    searches = [_search(features, goals, max_levers) for features, goals in problems]
    results: list[list[Found | None]] = [[] for _ in searches]
    asking: dict[int, Sequence[Features]] = {}
    for index, search in enumerate(searches):
        _advance(index, search, None, asking, results)
    while asking:
        rows = [row for wanted in asking.values() for row in wanted]
        ratings = list(judge(rows))
        answered, asking = asking, {}
        offset = 0
        for index, wanted in answered.items():
            part = ratings[offset : offset + len(wanted)]
            offset += len(wanted)
            _advance(index, searches[index], part, asking, results)
    return results


def _advance(
    index: int,
    search: Search[list[Found | None]],
    ratings: Sequence[float] | None,
    asking: dict[int, Sequence[Features]],
    results: list[list[Found | None]],
) -> None:
    """Runs ``search`` to its next request (noted in ``asking``) or to its result."""
    try:
        asking[index] = next(search) if ratings is None else search.send(ratings)
    except StopIteration as finished:
        results[index] = finished.value


def _search(
    features: Features, goals: Sequence[float], max_levers: int
) -> Search[list[Found | None]]:
    levers = applicable(features)
    if not levers or not goals:
        return [None] * len(goals)
    candidates = _Candidates(features)
    alone = {lever.name: ((lever.name, lever.amounts[-1]),) for lever in levers}
    yield from candidates.rate(list(alone.values()))
    ranked = sorted(levers, key=lambda lever: -candidates.rating(alone[lever.name]))
    found: list[Found | None] = []
    for goal in goals:
        found.append((yield from _for_goal(ranked, candidates, goal, max_levers)))
    return found


def _for_goal(
    ranked: Sequence[Lever], candidates: _Candidates, goal: float, max_levers: int
) -> Search[Found | None]:
    for count in range(1, min(max_levers, len(ranked)) + 1):
        chosen = ranked[:count]
        largest = tuple((lever.name, lever.amounts[-1]) for lever in chosen)
        yield from candidates.rate([largest])
        if candidates.rating(largest) < goal:
            continue
        steps = yield from _pruned(largest, candidates, goal)
        for position, (name, _) in enumerate(steps):
            lever = LEVERS_BY_NAME[name]
            if len(lever.amounts) == 1:
                continue
            variants = [
                (*steps[:position], (lever.name, amount), *steps[position + 1 :])
                for amount in lever.amounts
            ]
            yield from candidates.rate(variants)
            steps = next(v for v in variants if candidates.rating(v) >= goal)
        return candidates.found(steps)
    return None


def _pruned(
    steps: tuple[Step, ...], candidates: _Candidates, goal: float
) -> Search[tuple[Step, ...]]:
    """``steps`` without the levers the goal does not need (a later lever can make an
    earlier one redundant), the last added tried first."""
    for step in reversed(steps):
        if len(steps) == 1:
            break
        without = tuple(other for other in steps if other != step)
        yield from candidates.rate([without])
        if candidates.rating(without) >= goal:
            steps = without
    return steps
