"""Outcomes monitoring: vintage cells, the calibrated band, the monitor's gauges and the
report's outcomes section."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from schemas.events import PaymentEvent
from services.cli.main import app
from services.reporting.monitor import OutcomesMonitor
from services.reporting.settings import ReportingSettings
from services.reporting.vintages import BAND_Z, VintageBook, build_book, score_band
from tests.services.reporting.reporting_records import START, action, score
from tests.support.events import Events

events = Events()


def _late(customer_id: str, due_day: float) -> PaymentEvent:
    """The failed collection at 30 days past due of a repayment due on ``due_day``."""
    due = START + timedelta(days=due_day)
    event = events.payment(
        due + timedelta(days=30),
        f"o-{customer_id}",
        kind="repayment",
        status="failed",
        days_past_due=30,
        customer_id=customer_id,
    )
    return event.model_copy(update={"due_at": due})


def _cohort_book() -> VintageBook:
    """40 customers scored B (PD 0.05) on day 0; 10 of them 30 days past due on day 40."""
    scores = [score(f"c{i}", "B", 0) for i in range(40)]
    payments = [_late(f"c{i}", due_day=10) for i in range(10)]
    return build_book(scores, payments)


def test_a_cohort_going_bad_above_its_prediction_leaves_the_band() -> None:
    (cell,) = _cohort_book().cells(START + timedelta(days=100))
    assert (cell.cohort, cell.segment, cell.customers) == ("2026-07", "B", 40)
    assert cell.predicted_pd == pytest.approx(0.05)
    # Bad at the due date plus 30 days (day 40): after month 1, within month 2.
    assert cell.curve == [0.0, 0.25, 0.25]
    assert cell.mature
    assert cell.realised_bad_rate == 0.25
    lower, upper = cell.band
    half = BAND_Z * (0.05 * 0.95 / 40) ** 0.5
    assert lower == 0.0  # clipped: 0.05 - half is negative
    assert upper == pytest.approx(0.05 + half)
    assert cell.outside_band


def test_a_young_cohort_is_judged_only_against_the_upper_bound() -> None:
    book = build_book([score(f"c{i}", "B", 0) for i in range(40)], [])
    (cell,) = book.cells(START + timedelta(days=35))
    assert cell.curve == [0.0]
    assert not cell.mature
    assert not cell.outside_band  # 0 is below the band, but the cohort is too young to say


def test_chargebacks_count_and_earlier_defaults_are_left_out() -> None:
    book = VintageBook()
    for customer_id in ("early", "late", "good"):
        book.add_score(score(customer_id, "C", 5))
    book.add_payment(
        events.payment(START + timedelta(days=2), "o", kind="chargeback", customer_id="early")
    )
    book.add_payment(
        events.payment(START + timedelta(days=20), "o", kind="chargeback", customer_id="late")
    )
    (cell,) = book.cells(START + timedelta(days=200))
    assert cell.customers == 2  # "early" was bad before its score
    assert cell.curve[0] == 0.5
    assert not cell.judged  # too few customers to judge


def test_score_bands() -> None:
    assert [score_band(s) for s in (300, 499, 500, 575, 649, 650, 900)] == [
        "300-499",
        "300-499",
        "500-549",
        "550-599",
        "600-649",
        "650+",
        "650+",
    ]


def test_the_monitor_exports_the_cells_as_gauges() -> None:
    settings = ReportingSettings(topic_prefix="vintage-test.")
    monitor = OutcomesMonitor(settings)
    for i in range(40):
        monitor.apply("vintage-test.risk.scores", score(f"m{i}", "B", 0).model_dump_json().encode())
    for i in range(10):
        monitor.apply("vintage-test.events.payments", _late(f"m{i}", 10).model_dump_json().encode())
    monitor.apply("vintage-test.risk.scores", b"not a record")
    monitor.refresh(START + timedelta(days=100))
    labels = {"cohort": "2026-07", "grade": "B"}

    def gauge(name: str) -> float | None:
        return REGISTRY.get_sample_value(f"riskstream_outcomes_{name}", labels)

    assert gauge("customers") == 40
    assert gauge("realised_bad_rate") == 0.25
    assert gauge("predicted_pd") == pytest.approx(0.05)
    assert gauge("outside_band") == 1.0
    assert gauge("mature") == 1.0
    upper = gauge("band_upper")
    assert upper is not None
    assert 0.05 < upper < 0.25


def test_the_report_shows_outcomes_against_predictions(tmp_path: Path) -> None:
    scores = tmp_path / "scores.jsonl"
    scores.write_bytes(
        b"\n".join(score(f"c{i}", "B", 0).model_dump_json().encode() for i in range(40))
    )
    actions = tmp_path / "actions.jsonl"
    actions.write_bytes(action("c1", "notify", 1).model_dump_json().encode())
    payments = tmp_path / "payments.jsonl"
    payments.write_bytes(
        b"\n".join(_late(f"c{i}", 10).model_dump_json().encode() for i in range(10))
    )
    out = tmp_path / "q3.html"
    result = CliRunner().invoke(
        app,
        [
            "report", "--from", "2026-07-01", "--to", "2026-09-30",
            "--scores", str(scores), "--actions", str(actions),
            "--payments", str(payments), "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "Outcomes against predictions" in page
    assert page.count("data:image/png;base64,") >= 5  # the portfolio's and two more
    document = orjson.loads(out.with_suffix(".json").read_bytes())
    (cell,) = document["outcomes"]["by_grade"]
    assert (cell["segment"], cell["customers"], cell["realised_bad_rate"]) == ("B", 40, 0.25)
    assert cell["outside_band"] is True
    assert document["outcomes"]["by_score_band"][0]["segment"] == "600-649"
