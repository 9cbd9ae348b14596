from services.features.commits import may_commit


def test_a_run_continuing_the_committed_position_may_be_committed() -> None:
    assert may_commit(first_acked=100, committed=100, first_read=None)


def test_a_record_still_in_flight_at_the_head_blocks_the_commit() -> None:
    # 100 is being processed while 101.. are done: committing would skip 100.
    assert not may_commit(first_acked=101, committed=100, first_read=None)


def test_before_any_commit_the_run_must_start_at_the_first_record_read() -> None:
    assert may_commit(first_acked=0, committed=None, first_read=0)
    assert not may_commit(first_acked=1, committed=None, first_read=0)
    assert not may_commit(first_acked=5, committed=None, first_read=None)
