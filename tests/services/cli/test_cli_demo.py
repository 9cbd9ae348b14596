from services.cli.demo import DemoStats, percentile


def test_percentile_is_nearest_rank_and_none_when_empty() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(100)], 0.99) == 99.0


def test_stats_join_actions_and_scores_to_the_events_that_caused_them() -> None:
    stats = DemoStats()
    stats.on_sent(["e1", "e2"], ["accepted", "rejected"], at=10.0)
    stats.on_score({"customer_id": "c1", "grade": "B", "triggered_by": "e1"}, at=10.05)
    stats.on_score({"customer_id": "c1", "grade": "D", "triggered_by": "e1"}, at=10.07)
    stats.on_action(
        {
            "customer_id": "c1",
            "action": "freeze_credit",
            "severity": "red",
            "reason": "grade D",
            "triggered_by": "e1",
        },
        at=10.25,
    )
    assert (stats.accepted, stats.rejected, stats.scores) == (1, 1, 2)
    assert stats.grade_mix() == {"D": 1}
    assert stats.actions == {"freeze_credit": 1}
    assert abs(stats.action_latency_s[0] - 0.25) < 1e-9
    assert stats.recent_actions[0][1] == "freeze_credit"
    assert stats.render() is not None
