"""The dormant-customer scheduler's pure part: run instants spread over the day, which
customers are due, and stable ids."""

from datetime import UTC, date, datetime, timedelta

from services.scorer.core import Dormancy, dormancy, due_day, rescore_trigger, run_instant
from services.scorer.rescoring import partition_of

DAY = date(2026, 3, 1)


def test_partitions_run_at_their_share_of_the_day() -> None:
    instants = [run_instant(DAY, p, 4) for p in range(4)]
    assert instants == [datetime(2026, 3, 1, h, tzinfo=UTC) for h in (0, 6, 12, 18)]
    assert due_day(datetime(2026, 3, 1, 5, tzinfo=UTC), 1, 4) == date(2026, 2, 28)
    assert due_day(datetime(2026, 3, 1, 6, tzinfo=UTC), 1, 4) == DAY


def test_only_customers_quiet_for_a_day_and_within_the_horizon_are_due() -> None:
    at = run_instant(DAY, 0, 1)
    day, horizon = timedelta(days=1), timedelta(days=92)
    assert dormancy(at - timedelta(hours=23), at, day, horizon) == Dormancy.ACTIVE
    assert dormancy(at - timedelta(days=2), at, day, horizon) == Dormancy.DUE
    assert dormancy(at - timedelta(days=93), at, day, horizon) == Dormancy.EXPIRED


def test_ids_derive_from_customer_and_day_and_partitions_match_kafkas() -> None:
    assert rescore_trigger("c-1", DAY) == rescore_trigger("c-1", DAY) == "rescore:2026-03-01:c-1"
    assert rescore_trigger("c-1", DAY) != rescore_trigger("c-1", DAY + timedelta(days=1))
    assert {partition_of(f"c-{i}", 6) for i in range(200)} == set(range(6))
