import pytest

from bench.stats import counter_total, kept_up, latency_summary, per_10k, ratio, steady_rate


def test_latency_summary_reports_milliseconds_and_percentiles() -> None:
    latencies = [i / 1000 for i in range(1, 1001)]  # 1 ms .. 1000 ms

    summary = latency_summary(latencies)

    assert summary["count"] == 1000
    assert summary["p50_ms"] == pytest.approx(500.5)
    assert summary["p99_ms"] == pytest.approx(990.01)
    assert summary["max_ms"] == pytest.approx(1000.0)


def test_latency_summary_of_nothing_has_no_percentiles() -> None:
    assert latency_summary([]) == {
        "count": 0,
        "p50_ms": None,
        "p99_ms": None,
        "p999_ms": None,
        "max_ms": None,
    }


def test_ratio_refuses_a_missing_or_empty_floor() -> None:
    assert ratio(50.0, 200.0) == 0.25
    assert ratio(None, 200.0) is None
    assert ratio(50.0, 0.0) is None


def test_steady_rate_leaves_out_start_up_and_tail() -> None:
    # Nothing for 5 s (start-up), then 100 items/s, then a slow tail.
    samples = [(0.0, 0), (5.0, 0), *[(5.0 + t, 100 * t) for t in range(1, 11)], (30.0, 1000)]

    assert steady_rate(samples, total=1000) == pytest.approx(100.0)


def test_steady_rate_needs_two_distinct_samples_in_the_window() -> None:
    assert steady_rate([(0.0, 1000)], total=1000) is None
    assert steady_rate([(0.0, 0), (1.0, 50)], total=1000) is None


def test_per_10k_scales_linearly() -> None:
    assert per_10k(2_000_000, 1000) == 20_000_000
    assert per_10k(5, 0) is None


def test_counter_total_sums_every_label_set_of_one_counter() -> None:
    text = "\n".join(
        [
            "# HELP riskstream_features_events_total Records read",
            "# TYPE riskstream_features_events_total counter",
            'riskstream_features_events_total{event_type="order",outcome="applied"} 120.0',
            'riskstream_features_events_total{event_type="payment",outcome="applied"} 30.0',
            'riskstream_features_events_total_created{event_type="order"} 1.7e9',
            "riskstream_features_events_totally_else 99.0",
        ]
    )

    assert counter_total(text, "riskstream_features_events_total") == 150.0
    assert counter_total(text, "riskstream_other_total") == 0.0


def test_kept_up_accepts_steady_latency_and_refuses_a_growing_queue() -> None:
    steady = [0.05, 0.2, 0.06, 0.3] * 10
    growing = [0.05 * n for n in range(40)]

    assert kept_up(steady) is True
    assert kept_up(growing) is False
    assert kept_up([0.1] * 4) is None
