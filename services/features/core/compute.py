"""Reading the feature vector from a customer's state (docs/features.md, "Features")."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from schemas.events import VERIFICATION_KINDS
from schemas.signals import SIGNAL_TYPES
from services.features.core.errors import AsOfOutOfRangeError
from services.features.core.state import (
    AMOUNT_SCALE,
    BUCKET_FAMILIES,
    MAX_COLUMNS,
    ORDER_AMOUNT,
    ORDER_AMOUNT_MAX,
    ORDER_CANCELLED,
    ORDER_CREDIT,
    ORDER_PLACED,
    PAYMENT_ATTEMPTS,
    PAYMENT_CHARGEBACKS,
    PAYMENT_DPD_MAX,
    PAYMENT_DPD_SUM,
    PAYMENT_FAILED,
    PAYMENT_ON_TIME,
    PAYMENT_REPAID,
    REFUND_AMOUNT,
    REFUND_APPROVED,
    REFUND_REJECTED,
    REFUND_WITHOUT_RETURN,
    REVIEW_ABUSIVE,
    REVIEW_COUNT,
    REVIEW_NEGATIVE,
    REVIEW_RATING_SUM,
    ROW_WIDTHS,
    CustomerState,
    Family,
    Profile,
    SignalRecord,
)
from services.features.core.timeline import (
    READ_LAG_LIMIT_US,
    US_PER_DAY,
    US_PER_HOUR,
    day_of,
    from_us,
    to_us,
)

Reducer = Callable[[Iterable[int]], int]
Row = list[int] | tuple[int, ...]

_REDUCERS: tuple[tuple[Reducer, ...], ...] = tuple(
    tuple(max if column in MAX_COLUMNS[family] else sum for column in range(ROW_WIDTHS[family]))
    for family in BUCKET_FAMILIES
)
_WEEK_DAYS, _MONTH_DAYS, _QUARTER_DAYS = 7, 30, 90
_SPIKE_BASELINE_DAYS = 30


def _reduce(rows: list[Row], family: Family) -> list[int]:
    if not rows:
        return [0] * ROW_WIDTHS[family]
    return [
        reduce(column)
        for reduce, column in zip(_REDUCERS[family], zip(*rows, strict=True), strict=True)
    ]


def _combine(first: list[int], second: list[int], family: Family) -> list[int]:
    return [reduce((a, b)) for reduce, a, b in zip(_REDUCERS[family], first, second, strict=True)]


def _day_windows(
    state: CustomerState, family: Family, recent: list[tuple[int, Row]], today: int
) -> tuple[list[int], list[int], list[int]]:
    """The family's aggregates over the 7-, 30- and 90-day windows ending on ``today``:
    its day buckets plus the given recent entries (already limited to ``as_of``)."""
    week: list[Row] = []
    month: list[Row] = []
    quarter: list[Row] = []
    for rows in (state.buckets[family].items(), recent):
        for day, row in rows:
            age = today - day
            if age < 0:
                continue
            if age < _WEEK_DAYS:
                week.append(row)
            elif age < _MONTH_DAYS:
                month.append(row)
            elif age < _QUARTER_DAYS:
                quarter.append(row)
    week_total = _reduce(week, family)
    month_total = _combine(week_total, _reduce(month, family), family)
    quarter_total = _combine(month_total, _reduce(quarter, family), family)
    return week_total, month_total, quarter_total


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def days_since(anchor_us: int | None, as_of_us: int) -> float | None:
    """Days from ``anchor_us`` to ``as_of_us``, never negative; None without an anchor."""
    return max(0, as_of_us - anchor_us) / US_PER_DAY if anchor_us is not None else None


DayCounters = dict[str, int]
"""The features of a vector that count days since an instant, by name, with that instant:
each reads ``days_since(instant, as_of_us)`` (the only features that move between two
instants at which the state's contents enter or leave a window)."""


def _profile_features(
    profile: Profile, as_of_us: int, today: int, counters: DayCounters
) -> dict[str, float | None]:
    """The onboarding features at ``as_of_us``: only what was known by then counts. Adds
    its day counters to ``counters``."""
    verified: dict[str, float] = {}
    for index, kind in enumerate(VERIFICATION_KINDS):
        results = [passed for at, passed in profile.results.get(index, ()) if at <= as_of_us]
        verified[kind] = float(bool(results) and results[-1])
    failed_30d = sum(
        1 for at in profile.failures if at <= as_of_us and today - day_of(at) < _MONTH_DAYS
    )
    reports = [report for report in profile.reports if report.at_us <= as_of_us]
    report = reports[-1] if reports else None
    registered = profile.registered_us
    if registered is not None and registered <= as_of_us:
        counters["days_since_registration"] = registered
    if report is not None:
        counters["days_since_bureau_report"] = report.fetched_us
    return {
        "days_since_registration": days_since(counters.get("days_since_registration"), as_of_us),
        "verified_kinds_count": sum(verified.values()),
        **{f"verified_{kind}": value for kind, value in verified.items()},
        "verifications_failed_30d": float(failed_30d),
        "bureau_score_normalised": report.normalised if report is not None else None,
        "bureau_delinquencies": float(report.delinquencies) if report is not None else None,
        "bureau_inquiries_6m": float(report.inquiries_6m) if report is not None else None,
        "days_since_bureau_report": days_since(counters.get("days_since_bureau_report"), as_of_us),
    }


def _signal_features(signals: Iterable[SignalRecord], as_of_us: int) -> dict[str, float | None]:
    """Active shared signals at ``as_of_us``, by type, and the highest active severity
    (0 none, 1 low, 2 medium, 3 high)."""
    counts = [0] * len(SIGNAL_TYPES)
    severity = 0
    for record in signals:
        if record.active_at(as_of_us):
            assert record.signal_type is not None
            assert record.severity is not None
            counts[record.signal_type] += 1
            severity = max(severity, record.severity + 1)
    return {
        **{
            f"shared_signals_{kind}": float(n) for kind, n in zip(SIGNAL_TYPES, counts, strict=True)
        },
        "shared_signals_max_severity": float(severity),
    }


def compute_features(state: CustomerState, as_of: datetime) -> dict[str, float | None]:
    """The customer's features for windows ending at ``as_of`` (an aware instant), keyed
    by every ``FEATURE_SCHEMA`` name in schema order; None where a ratio's denominator or a
    statistic's sample is empty. Only events with ``occurred_at <= as_of`` count.

    Exact for any ``as_of`` no more than 24 hours before the state's processing clock
    (and any time after it); earlier instants raise :class:`AsOfOutOfRangeError`, since the
    state no longer holds the detail they need. Does not modify ``state``.
    """
    return features_with_counters(state, to_us(as_of))[0]


def features_with_counters(
    state: CustomerState, as_of_us: int
) -> tuple[dict[str, float | None], DayCounters]:
    """:func:`compute_features` at ``as_of_us`` (microseconds), with the vector's day
    counters (see :data:`DayCounters`)."""
    if state.clock_us is not None and as_of_us < state.clock_us - READ_LAG_LIMIT_US:
        raise AsOfOutOfRangeError(
            f"features of {state.customer_id!r} as of {from_us(as_of_us).isoformat()} are "
            f"more than 24h before the state's clock {from_us(state.clock_us).isoformat()}"
        )
    today = day_of(as_of_us)
    hour_start = as_of_us - US_PER_HOUR
    day_start = as_of_us - US_PER_DAY
    orders_1h = orders_24h = amount_24h = failed_24h = 0
    credit = state.credit_compacted
    last_order_us = state.last_order_compacted_us
    addresses: set[int] = set()
    for day, ids in state.addresses.items():
        if 0 <= today - day < _MONTH_DAYS:
            addresses.update(ids)
    recent: tuple[list[tuple[int, Row]], ...] = ([], [], [], [])
    for entry in state.fine:
        if entry.at_us > as_of_us:
            continue
        credit += entry.credit_delta
        family = entry.family
        if family is Family.CREDIT:
            continue
        delta = entry.delta
        recent[family].append((entry.day, delta))
        if family is Family.ORDERS and delta[ORDER_PLACED]:
            if last_order_us is None or entry.at_us > last_order_us:
                last_order_us = entry.at_us
            if entry.at_us > day_start:
                orders_24h += 1
                amount_24h += delta[ORDER_AMOUNT]
                if entry.at_us > hour_start:
                    orders_1h += 1
            if entry.address is not None and today - entry.day < _MONTH_DAYS:
                addresses.add(entry.address)
        elif family is Family.PAYMENTS and entry.at_us > day_start:
            failed_24h += delta[PAYMENT_FAILED]

    orders_7d, orders_30d, orders_90d = _day_windows(state, Family.ORDERS, recent[0], today)
    payments_7d, payments_30d, payments_90d = _day_windows(state, Family.PAYMENTS, recent[1], today)
    refunds_7d, refunds_30d, refunds_90d = _day_windows(state, Family.REFUNDS, recent[2], today)
    reviews_90d = _day_windows(state, Family.REVIEWS, recent[3], today)[2]

    placed_30d = orders_30d[ORDER_PLACED]
    placed_90d = orders_90d[ORDER_PLACED]
    amount_30d = orders_30d[ORDER_AMOUNT]
    repaid_90d = payments_90d[PAYMENT_REPAID]
    reviews_count = reviews_90d[REVIEW_COUNT]
    first_event_us = state.first_event_us
    counters: DayCounters = {}
    if first_event_us is not None and first_event_us <= as_of_us:
        counters["days_since_first_event"] = first_event_us
    if last_order_us is not None:
        counters["days_since_last_order"] = last_order_us
    features = {
        "orders_count_1h": float(orders_1h),
        "orders_count_24h": float(orders_24h),
        "orders_count_7d": float(orders_7d[ORDER_PLACED]),
        "orders_count_30d": float(placed_30d),
        "orders_count_90d": float(placed_90d),
        "orders_amount_24h": amount_24h / AMOUNT_SCALE,
        "orders_amount_7d": orders_7d[ORDER_AMOUNT] / AMOUNT_SCALE,
        "orders_amount_30d": amount_30d / AMOUNT_SCALE,
        "orders_amount_90d": orders_90d[ORDER_AMOUNT] / AMOUNT_SCALE,
        "orders_cancelled_ratio_30d": _ratio(orders_30d[ORDER_CANCELLED], placed_30d),
        "orders_credit_share_30d": _ratio(orders_30d[ORDER_CREDIT], placed_30d),
        "order_amount_avg_90d": (
            orders_90d[ORDER_AMOUNT] / placed_90d / AMOUNT_SCALE if placed_90d else None
        ),
        "order_amount_max_90d": (
            orders_90d[ORDER_AMOUNT_MAX] / AMOUNT_SCALE if placed_90d else None
        ),
        "spend_spike_ratio_24h": _ratio(amount_24h * _SPIKE_BASELINE_DAYS, amount_30d),
        "shipping_addresses_distinct_30d": float(len(addresses)),
        "days_since_first_event": days_since(counters.get("days_since_first_event"), as_of_us),
        "days_since_last_order": days_since(last_order_us, as_of_us),
        "payments_failed_24h": float(failed_24h),
        "payments_failed_7d": float(payments_7d[PAYMENT_FAILED]),
        "payments_failed_30d": float(payments_30d[PAYMENT_FAILED]),
        "payments_failed_ratio_30d": _ratio(
            payments_30d[PAYMENT_FAILED], payments_30d[PAYMENT_ATTEMPTS]
        ),
        "chargebacks_90d": float(payments_90d[PAYMENT_CHARGEBACKS]),
        "repayments_on_time_ratio_90d": _ratio(payments_90d[PAYMENT_ON_TIME], repaid_90d),
        "repayments_late_90d": float(repaid_90d - payments_90d[PAYMENT_ON_TIME]),
        "days_past_due_max_90d": float(payments_90d[PAYMENT_DPD_MAX]) if repaid_90d else None,
        "days_past_due_mean_90d": _ratio(payments_90d[PAYMENT_DPD_SUM], repaid_90d),
        "credit_outstanding": max(0, credit) / AMOUNT_SCALE,
        "refunds_count_7d": float(refunds_7d[REFUND_APPROVED]),
        "refunds_count_30d": float(refunds_30d[REFUND_APPROVED]),
        "refunds_count_90d": float(refunds_90d[REFUND_APPROVED]),
        "refunds_amount_30d": refunds_30d[REFUND_AMOUNT] / AMOUNT_SCALE,
        "refund_rate_30d": _ratio(refunds_30d[REFUND_APPROVED], placed_30d),
        "refunds_without_return_30d": float(refunds_30d[REFUND_WITHOUT_RETURN]),
        "refunds_rejected_90d": float(refunds_90d[REFUND_REJECTED]),
        "reviews_count_90d": float(reviews_count),
        "review_rating_mean_90d": _ratio(reviews_90d[REVIEW_RATING_SUM], reviews_count),
        "reviews_negative_ratio_90d": _ratio(reviews_90d[REVIEW_NEGATIVE], reviews_count),
        "reviews_abusive_90d": float(reviews_90d[REVIEW_ABUSIVE]),
        **_profile_features(state.profile, as_of_us, today, counters),
        **_signal_features(state.signals.values(), as_of_us),
    }
    return features, counters


def next_change_us(state: CustomerState, as_of_us: int) -> int:
    """An instant after ``as_of_us`` up to which (exclusive) every feature of ``state``
    except the day counters (see :data:`DayCounters`, whose instants do not move in that
    span either) keeps its value at ``as_of_us``: the first instant at which one of the
    state's entries, rows, onboarding facts or signals may enter or leave a window or
    start or stop counting. Conservative: an instant at which nothing changes may be
    returned, a later one than the first change never is. Must follow every
    time-dependent term of :func:`features_with_counters`.
    """
    today = day_of(as_of_us)
    # Day windows (7, 30 and 90 days, and the 30-day address and failure windows) move
    # only at midnight, when a day's row enters (its own day) or leaves one of them.
    changing_days: set[int] = set()
    for rows in state.buckets:
        changing_days.update(rows)
    changing_days.update(state.addresses)
    changing_days.update(entry.day for entry in state.fine)
    changing_days.update(day_of(at) for at in state.profile.failures)
    first_day = today + 1
    edges = [
        shifted * US_PER_DAY
        for day in changing_days
        for shifted in (day, day + _WEEK_DAYS, day + _MONTH_DAYS, day + _QUARTER_DAYS)
        if shifted >= first_day
    ]
    # Instants at which something starts counting: entries, onboarding facts, signals.
    for entry in state.fine:
        edges.append(entry.at_us)
        # The 1h and 24h windows end an entry's part in them an hour or a day after it.
        edges.append(entry.at_us + US_PER_HOUR)
        edges.append(entry.at_us + US_PER_DAY)
    profile = state.profile
    for results in profile.results.values():
        edges.extend(at for at, _ in results)
    edges.extend(profile.failures)
    edges.extend(report.at_us for report in profile.reports)
    for instant in (profile.registered_us, state.first_event_us):
        if instant is not None:
            edges.append(instant)
    for record in state.signals.values():
        for instant in (record.effective_us, record.expires_us, record.retracted_us):
            if instant is not None:
                edges.append(instant)
    later = [edge for edge in edges if edge > as_of_us]
    # Nothing left to change: past the longest window, the vector is the same for good;
    # the horizon still bounds how long it is trusted.
    return min(later, default=(first_day + _QUARTER_DAYS) * US_PER_DAY)
