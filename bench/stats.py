"""Pure arithmetic of the benchmark: latency summaries, ratios and steady-state rates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50, p99, p99.9 and max of latencies given in seconds, reported in
    milliseconds (rounded to microseconds); the percentiles are None for no samples."""
    if not latencies_s:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "p999_ms": None, "max_ms": None}
    values = np.asarray(latencies_s, dtype=np.float64) * 1000.0
    p50, p99, p999 = np.percentile(values, [50.0, 99.0, 99.9])
    return {
        "count": len(values),
        "p50_ms": round(float(p50), 3),
        "p99_ms": round(float(p99), 3),
        "p999_ms": round(float(p999), 3),
        "max_ms": round(float(values.max()), 3),
    }


def ratio(measured: float | None, floor: float | None, digits: int = 3) -> float | None:
    """``measured / floor`` rounded; None when either is missing or the floor is not
    positive (a ratio against nothing means nothing)."""
    if measured is None or floor is None or floor <= 0:
        return None
    return round(measured / floor, digits)


def steady_rate(
    samples: Sequence[tuple[float, int]], total: int, low: float = 0.1, high: float = 0.9
) -> float | None:
    """Items per second between the moments ``low`` and ``high`` of ``total`` were done,
    from ``(time_s, done_so_far)`` samples in time order. Start-up and the drain at the end
    are left out. When the first sample is already past ``low`` (start-up went unobserved)
    the window starts there. None when the window holds fewer than two distinct samples."""
    if total <= 0:
        return None
    start = next((s for s in samples if s[1] >= low * total), None)
    end = next((s for s in samples if s[1] >= high * total), None)
    if start is None or end is None or end[0] <= start[0] or end[1] <= start[1]:
        return None
    return (end[1] - start[1]) / (end[0] - start[0])


def per_10k(total: float, customers: int) -> float | None:
    """``total`` (bytes, say) scaled to 10,000 customers; None for no customers."""
    if customers <= 0:
        return None
    return total * 10_000 / customers


def counter_total(metrics_text: str, name: str) -> float:
    """Sum of every sample of the Prometheus counter ``name`` (all label sets) in a
    ``/metrics`` text exposition; 0 when it has none yet."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def kept_up(latencies_in_send_order: Sequence[float], slack_s: float = 0.25) -> bool | None:
    """Whether a pipeline kept up with its load: the median latency of the last quarter of
    the records (in the order they were sent) is at most twice that of the first quarter
    plus ``slack_s``. A pipeline that falls behind builds a backlog, and each record waits
    longer than the one before. None for fewer than eight records."""
    count = len(latencies_in_send_order)
    if count < 8:
        return None
    quarter = count // 4
    first = float(np.median(latencies_in_send_order[:quarter]))
    last = float(np.median(latencies_in_send_order[-quarter:]))
    return last <= 2 * first + slack_s
