from faust.types import TP

from services.features.offsets import HeldPartitions, may_commit


def test_a_run_continuing_the_committed_position_may_be_committed() -> None:
    assert may_commit(first_acked=100, committed=100, read_from=None)


def test_a_record_still_in_flight_at_the_head_blocks_the_commit() -> None:
    # 100 is being processed while 101.. are done: committing would skip 100.
    assert not may_commit(first_acked=101, committed=100, read_from=None)


def test_before_any_commit_the_run_must_start_at_the_first_record_read() -> None:
    assert may_commit(first_acked=0, committed=None, read_from=0)
    assert not may_commit(first_acked=1, committed=None, read_from=0)
    assert not may_commit(first_acked=5, committed=None, read_from=None)


def _tp(partition: int) -> TP:
    return TP("events.orders", partition)


def test_a_held_partition_is_not_ready_before_a_seek_covers_it() -> None:
    held = HeldPartitions()
    held.hold({_tp(0), _tp(1)})
    assert held.take_ready() == set()

    held.sought(held.snapshot())
    assert held.take_ready() == {_tp(0), _tp(1)}
    assert held.take_ready() == set()


def test_a_seek_that_began_before_a_partition_was_held_does_not_cover_it() -> None:
    held = HeldPartitions()
    held.hold({_tp(0)})
    at_start = held.snapshot()
    held.hold({_tp(1)})  # made fetchable while the seek was under way
    held.sought(at_start)
    assert held.take_ready() == {_tp(0)}

    held.sought(held.snapshot())
    assert held.take_ready() == {_tp(1)}


def test_holding_again_needs_a_new_seek() -> None:
    held = HeldPartitions()
    held.hold({_tp(0)})
    held.sought(held.snapshot())
    held.hold({_tp(0)})  # faust resumed it again: a later seek must cover it
    assert held.take_ready() == set()


def test_a_paused_or_revoked_partition_is_forgotten() -> None:
    held = HeldPartitions()
    held.hold({_tp(0), _tp(1)})
    held.sought(held.snapshot())
    held.forget({_tp(1)})
    assert held.take_ready() == {_tp(0)}


def test_a_partition_held_anew_while_a_seek_runs_is_not_covered_by_it() -> None:
    held = HeldPartitions()
    held.hold({_tp(0)})
    at_start = held.snapshot()
    held.forget({_tp(0)})  # a rebalance paused it...
    held.hold({_tp(0)})  # ...and faust resumed it before the seek returned
    held.sought(at_start)
    assert held.take_ready() == set()
