from typing import Any

from bench.feature_service import two_sizes
from bench.report import (
    TARGETS,
    change,
    cpu_lines,
    headline,
    limit_sentence,
    lookup,
    render_markdown,
)


def _results() -> dict[str, Any]:
    return {
        "score_api": {
            "throughput_ratio": 0.62,
            "bare": {"throughput_rps": 4000.0, "p50_ms": 3.0, "p99_ms": 6.0},
            "score": {"throughput_rps": 2480.0, "p50_ms": 5.0, "p99_ms": 9.0},
            "fixed_rate": {"1000": {"p50_ms": 1.2, "p99_ms": 12.5, "count": 10_000}},
            "profile": {"busy_share": 0.97, "self": [], "own_code_inclusive": []},
        },
        "end_to_end": {
            "rates": {"1000": {"event_to_action": {"p99_ms": 80.0}, "sustained": True}},
            "highest_sustained_rate": 2000,
        },
    }


def test_lookup_follows_a_path_and_misses_quietly() -> None:
    results = _results()

    assert lookup(results, ("score_api", "bare", "throughput_rps")) == 4000.0
    assert lookup(results, ("score_api", "nothing", "here")) is None
    assert lookup(results, ("end_to_end", "rates", "1000", "sustained")) is None


def test_headline_holds_every_figure_missing_ones_as_none() -> None:
    figures = headline(_results())

    assert figures["score_throughput_ratio"] == 0.62
    assert figures["highest_sustained"] == 2000
    assert figures["features_ratio"] is None


def test_targets_are_judged_in_their_direction() -> None:
    by_key = {target.key: target for target in TARGETS}

    assert by_key["score_throughput_ratio"].met(0.62) is True
    assert by_key["score_p99_1000"].met(12.5) is False
    assert by_key["action_p99_1000"].met(50.0) is True
    assert by_key["action_p99_1000"].met(80.0) is False
    assert by_key["cpu_scorer_1000"].met(80.0) is True
    assert by_key["cpu_scorer_1000"].met(80.1) is False
    assert by_key["features_ratio"].met(None) is None


def test_change_says_better_or_worse_beyond_five_percent() -> None:
    assert change(110.0, 100.0, higher_is_better=True) == "+10% (better)"
    assert change(110.0, 100.0, higher_is_better=False) == "+10% (worse)"
    assert change(102.0, 100.0, higher_is_better=True) == "+2%"
    assert change(None, 100.0, higher_is_better=True) == ""


def test_limit_sentence_tells_cpu_bound_from_waiting() -> None:
    assert "CPU-bound" in limit_sentence({"busy_share": 0.97, "cpu_share": 0.95}, "scorer")
    assert "other processes" in limit_sentence({"busy_share": 0.97, "cpu_share": 0.3}, "scorer")
    assert "not CPU-saturated" in limit_sentence({"busy_share": 0.4}, "scorer")
    assert "No profile" in limit_sentence({"error": ["denied"]}, "scorer")


def test_markdown_puts_the_previous_run_beside_this_one() -> None:
    results = _results()
    report = {
        "machine": {
            "date": "2026-11-28T00:00:00+00:00",
            "git_commit": "abc123",
            "cores": 2,
            "memory_bytes": 2**34,
            "cpu_model": "Test CPU",
            "load_average_at_start": [0.5, 0.4, 0.3],
            "os": "Linux",
            "python": "3.11.7",
            "versions": {"aiokafka": "0.14.0"},
        },
        "duration_s": 400.0,
        "timings_s": {"score API": 50.0},
        "headline": headline(results),
        "previous": {"date": "2026-11-01", "headline": {"score_throughput_ratio": 0.5}},
        "results": results,
    }

    text = render_markdown(report)

    assert (
        "| score API ≥ 55% of the bare endpoint | 0.62 "
        "| bare endpoint throughput (saturated): 4,000 | 0.50 | met |  |"
    ) in text
    assert (
        "| score API p99 < 8 ms at 1,000 req/s | 12.5 | — | n/a | **missed** | throughput" in text
    )
    assert "+24% (better)" in text
    assert "Previous run: 2026-11-01." in text
    assert "The scorer was busy in 97% of the samples (CPU-bound" in text


def test_cpu_per_event_is_tabled_by_rate_with_a_total_only_when_complete() -> None:
    rates = {
        "200": {
            "cpu_us_per_event": {
                "features": 700.0,
                "scorer": 350.0,
                "warning": 300.0,
                "kafka": 900.0,
                "redis": 20.0,
            }
        },
        "1000": {
            "cpu_us_per_event": {
                "features": 650.0,
                "scorer": None,
                "warning": 290.0,
                "kafka": 800.0,
                "redis": 15.0,
            }
        },
        "600": {},
    }

    lines = cpu_lines(rates)

    assert "| 200 | 700 | 350 | 300 | 900 | 20.0 | 2,270 |" in lines
    assert "| 1000 | 650 | n/a | 290 | 800 | 15.0 | n/a |" in lines
    assert not any(line.startswith("| 600 ") for line in lines)
    assert cpu_lines({"600": {}}) == []


def test_the_worker_memory_splits_into_fixed_and_marginal_parts() -> None:
    smaller = {"customers": 1000, "worker_rss_bytes": 300_000_000, "rocksdb_dir_bytes": 1}
    larger = {"customers": 3000, "worker_rss_bytes": 310_000_000, "rocksdb_dir_bytes": 2}

    split = two_sizes(smaller, larger)

    assert split["marginal_rss_per_10k_customers_bytes"] == 50_000_000
    assert split["fixed_rss_bytes"] == 295_000_000
    assert two_sizes(smaller, smaller)["marginal_rss_per_10k_customers_bytes"] is None
