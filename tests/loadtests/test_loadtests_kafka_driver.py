import itertools
from datetime import UTC, datetime

import pytest

from loadtests.kafka_driver import RatePacer, replay_bodies
from schemas.events import parse_event


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_spaces_records_by_the_rate() -> None:
    clock = FakeClock()
    pacer = RatePacer(rate=200.0, clock=clock)

    assert pacer.delay_before(0) == 0.0
    assert pacer.delay_before(1) == pytest.approx(0.005)
    assert pacer.delay_before(200) == pytest.approx(1.0)


def test_pacer_catches_up_after_a_late_send_without_drifting() -> None:
    clock = FakeClock()
    pacer = RatePacer(rate=100.0, clock=clock)
    pacer.delay_before(0)

    clock.now += 0.5  # the sender stalled for half a second
    assert pacer.delay_before(10) == 0.0  # 0.1 s into the schedule: late, send at once
    assert pacer.delay_before(50) == 0.0  # exactly due
    assert pacer.delay_before(60) == pytest.approx(0.1)  # back on the original schedule


def test_pacer_refuses_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RatePacer(rate=0.0, clock=FakeClock())


def test_replayed_events_are_valid_with_ids_unique_to_the_run() -> None:
    now = datetime.now(UTC)
    bodies = list(itertools.islice(replay_bodies(3, 30, 1, "run1", now), 400))

    ids = [body["event_id"] for body in bodies]
    assert len(set(ids)) == len(ids)  # replays of the history get new ids too
    assert all(".run1" in event_id for event_id in ids)
    for body in bodies:
        parse_event(body, now=now)
