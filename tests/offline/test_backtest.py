from pathlib import Path

import orjson
import pytest

from offline.backtest import BacktestReport, load_model, run_backtest
from offline.replay import read_event_log
from riskmodel.loading import LoadedModel
from services.warning.core import load_default_rules, load_rules
from tests.offline.backtest_log import write_log
from tests.services.scorer.scorer_bundles import build_bundle
from tests.services.warning.warning_fakes import SMALL_RULES


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(build_bundle(tmp_path_factory.mktemp("bundle"), "tiny-1"))


@pytest.fixture(scope="module")
def report(model: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> BacktestReport:
    log = write_log(tmp_path_factory.mktemp("log") / "events.jsonl")
    return run_backtest(read_event_log(log), model, load_rules(SMALL_RULES), load_default_rules())


def test_every_applied_event_is_scored_once(report: BacktestReport) -> None:
    assert report.events == 16
    assert report.events_applied == 15
    assert report.scores == 15
    assert report.unscorable == 0
    assert report.model_version == "tiny-1"


def test_customers_are_counted_by_their_last_grade(report: BacktestReport) -> None:
    assert sum(report.customers_by_grade.values()) == 2
    assert sum(report.scores_by_grade.values()) == 15
    # Four failed payments raise the tiny model's probability of default well above the payer's.
    assert report.customers_by_grade["D"] == 1


def test_the_baseline_acts_on_the_failing_customer(report: BacktestReport) -> None:
    baseline = {(row.rule_id, row.action): row for row in report.baseline.action_counts()}
    burst = baseline[("payment_failures_burst", "require_prepayment")]
    assert (burst.count, burst.customers, burst.severity) == (1, 1, "yellow")
    assert report.baseline.customers_acted_on() == {"failer"}


def test_the_difference_names_what_the_candidate_would_stop_doing(
    report: BacktestReport,
) -> None:
    differences = {(d.rule_id, d.action): d for d in report.differences()}
    burst = differences[("payment_failures_burst", "require_prepayment")]
    assert (burst.candidate, burst.baseline, burst.change) == (0, 1, -1)
    assert ("grade_d", "freeze_credit") not in differences


def test_the_report_is_json(report: BacktestReport) -> None:
    document = orjson.loads(orjson.dumps(report.as_dict()))
    assert document["candidate"]["version"] == "small.1"
    assert document["baseline"]["final_status"]["frozen"] == 1
    assert document["difference"]["customers_only_baseline"] == 0


def test_a_replay_of_the_same_log_gives_the_same_report(
    model: LoadedModel, report: BacktestReport, tmp_path: Path
) -> None:
    log = write_log(tmp_path / "events.jsonl")
    again = run_backtest(read_event_log(log), model, load_rules(SMALL_RULES), load_default_rules())
    assert again.as_dict() == report.as_dict()
