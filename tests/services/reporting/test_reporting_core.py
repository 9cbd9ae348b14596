"""Portfolio report aggregation on hand-made records (no Kafka)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.topics import Topic, TopicNames
from services.reporting.core import Period, build_report, score_shift
from services.reporting.errors import ReportingError
from services.reporting.render import report_body
from tests.services.reporting.reporting_records import START, action, audit, decision, score

PERIOD = Period(START, START + timedelta(days=92))


def test_grade_mix_counts_customers_by_first_and_last_score_in_the_period() -> None:
    report = build_report(
        PERIOD,
        [
            score("c1", "A", 1),
            score("c1", "C", 50),
            score("c1", "D", 60),
            score("c2", "B", 2),
            score("c3", "B", 3),
            score("c3", "A", 80),
            score("c4", "S", -5),  # before the period
            score("c4", "S", 100),  # after it
        ],
        [],
    )
    rows = {row.grade: row for row in report.grades}
    assert report.customers_scored == 3
    assert report.scores == 6
    assert (rows["A"].opening, rows["A"].closing) == (1, 1)
    assert (rows["B"].opening, rows["B"].closing) == (2, 1)
    assert (rows["D"].opening, rows["D"].closing) == (0, 1)
    assert rows["B"].share_change == pytest.approx(1 / 3 - 2 / 3)
    assert report.migrations["A"]["D"] == 1
    assert report.migrations["B"]["A"] == 1
    assert report.migrations["B"]["B"] == 1


def test_bad_rate_uses_the_grade_before_going_bad() -> None:
    scores = [
        score("good", "A", 1),
        score("bad", "B", 1),
        score("bad", "D", 40),
        score("early", "C", 30),
        score("unknown", "D", 5),
    ]
    outcomes = {
        "good": None,
        "bad": START + timedelta(days=20),
        "early": START + timedelta(days=10),
    }
    report = build_report(PERIOD, scores, [], outcomes=outcomes)
    rows = {row.grade: row for row in report.grades}
    assert (rows["A"].known_outcomes, rows["A"].bad) == (1, 0)
    assert (rows["B"].known_outcomes, rows["B"].bad, rows["B"].bad_rate) == (1, 1, 1.0)
    assert rows["D"].known_outcomes == 0
    assert rows["D"].bad_rate is None
    assert report.notes == ["1 customers went bad before their first score in the period"]


def test_actions_are_counted_and_freezes_followed_to_the_end() -> None:
    actions = [
        action("c1", "freeze_credit", 1),
        action("c1", "unfreeze_credit", 10, "green"),
        action("c2", "suspend_account", 5),
        action("c3", "freeze_credit", 6),
        action("c3", "unfreeze_credit", 7, "green"),
        action("c3", "freeze_credit", 8),
        action("c4", "notify", 2, "yellow"),
        action("c5", "freeze_credit", 200),  # outside the period
    ]
    report = build_report(PERIOD, [], actions)
    assert report.actions_by_type == {
        "freeze_credit": 3,
        "unfreeze_credit": 2,
        "suspend_account": 1,
        "notify": 1,
    }
    assert report.actions_by_severity == {"red": 4, "green": 2, "yellow": 1}
    assert report.actions_by_rule["rule-freeze_credit"] == 3
    assert report.customers_frozen == 3
    assert report.customers_restored == 2
    assert report.customers_still_restricted == 2


def test_top_reasons_models_and_model_changes() -> None:
    report = build_report(
        PERIOD,
        [
            score("c1", "C", 1, "v1", "R_LATE"),
            score("c2", "C", 2, "v1", "R_LATE"),
            score("c3", "D", 40, "v2", "R_CHARGEBACK"),
            score("c4", "A", 41, "v2", None),
        ],
        [],
        [audit("model.activate", "v2", 39), audit("rules.reload", "rules.yaml", 39)],
    )
    assert report.top_reasons == [("R_LATE", 2), ("R_CHARGEBACK", 1)]
    assert [(m.model_version, m.scores) for m in report.models] == [("v1", 2), ("v2", 2)]
    assert [(a.operation, a.subject) for a in report.model_changes] == [("model.activate", "v2")]


def test_score_shift_is_zero_for_the_same_scores_and_large_for_a_moved_population() -> None:
    opening = [float(s) for s in range(400, 800)]
    assert score_shift(opening, opening) == pytest.approx(0.0)
    shifted = score_shift(opening, [s + 150 for s in opening])
    assert shifted is not None
    assert shifted > 0.25
    assert score_shift([], opening) is None


def test_the_report_serialises_to_json_types() -> None:
    report = build_report(PERIOD, [score("c1", "A", 1)], [action("c1", "notify", 1, "yellow")])
    document = report.to_dict()
    assert document["period"]["from"] == START.isoformat()
    assert document["grades"][1]["grade"] == "A"
    assert document["actions"]["by_type"] == {"notify": 1}
    assert document["drift"]["score_psi_closing_vs_opening"] == pytest.approx(0.0)


def test_a_period_must_run_forwards_in_aware_time() -> None:
    with pytest.raises(ReportingError, match="before it starts"):
        Period(START, START)
    with pytest.raises(ReportingError, match="time zone"):
        Period(datetime(2026, 7, 1), datetime(2026, 8, 1, tzinfo=UTC))


def test_the_reported_topics_keep_a_whole_quarter() -> None:
    quarter_ms = 92 * 24 * 3600 * 1000
    specs = {spec.name: spec for spec in TopicNames().specs(event_partitions=6)}
    for topic in (Topic.SCORES, Topic.ACTIONS):
        assert int(specs[topic.value].config["retention.ms"]) >= quarter_ms
    assert specs[Topic.AUDIT.value].config["retention.ms"] == "-1"


def test_decision_quality_joins_the_decision_log_with_what_customers_did_next() -> None:
    outcomes = {
        "bad-soon": START + timedelta(days=40),
        "bad-late": START + timedelta(days=200),
        "bad-before": START + timedelta(days=1),
        "good": None,
    }
    decisions = [
        decision("bad-soon", "prepay", 10),
        decision("bad-soon", "prepay", 10),  # a redelivered record counts once
        decision("bad-late", "approve", 10, number=1),
        decision("bad-before", "decline", 20, number=2),  # taken after the customer went bad
        decision("good", "review", 10, number=3),
        decision("unknown", "approve", 10, number=4),  # no known outcome
        decision("good", "approve", 100, number=5),  # outside the period
    ]

    report = build_report(PERIOD, [], [], outcomes=outcomes, decisions=decisions)

    assert (report.decisions, report.decisions_judged) == (6, 3)
    review, prepay, decline = report.decision_quality
    assert (review.true_positive, review.false_positive, review.false_negative) == (1, 1, 0)
    assert (prepay.precision, prepay.recall) == (1.0, 1.0)
    assert decline.flagged == 0
    document = report.to_dict()["decision_quality"]
    assert document["horizon_days"] == 90
    assert document["thresholds"][0]["f1"] == review.f1


def test_each_run_of_the_dormant_customer_scheduler_is_a_line_of_the_report() -> None:
    run = audit("rescore.run", "partition 2", 3).model_copy(
        update={"details": {"partition": 2, "day": "2026-01-04", "customers": 9, "rescored": 4}}
    )
    outside = audit("rescore.run", "partition 2", 200)
    report = build_report(PERIOD, [], [], [run, outside, audit("model.activate", "v2", 4)])
    assert [r.audit_id for r in report.rescore_runs] == [run.audit_id]
    (line,) = report.to_dict()["rescore_runs"]
    assert (line["partition"], line["rescored"]) == (2, 4)
    assert "Dormant customers re-judged" in report_body(report)
