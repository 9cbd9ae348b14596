import os

from bench.feature_service import Progress


def test_progress_takes_the_rate_and_cpu_between_a_tenth_and_nine_tenths() -> None:
    progress = Progress(1000, os.getpid())
    for done in (0, 50, 100, 500, 900, 1000):
        progress.add(done)
        sum(range(20_000))  # some CPU between samples

    summary = progress.summary()

    assert progress.done == 1000
    assert summary["records"] == 1000
    assert summary["events_per_s"] > 0
    # CPU counted from the sample at 100 records to the one at 900.
    assert [done for _, done in progress.cpu] == [100, 500, 900]
    assert summary["cpu_us_per_record"] is not None
    assert summary["cpu_us_per_record"] >= 0
