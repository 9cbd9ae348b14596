import pytest

from services.common.redis_keys import (
    RedisKeys,
    Writer,
    epoch_bits,
    epoch_covers,
    epoch_partitions,
)


def test_epoch_bits_follow_redis_setbit_most_significant_bit_first() -> None:
    assert epoch_bits([0]) == b"\x80"
    assert epoch_bits([7, 8]) == b"\x01\x80"
    assert epoch_bits(range(6)) == b"\xfc"
    assert epoch_bits([]) == b""


@pytest.mark.parametrize("partitions", [set(), {0}, {0, 5}, set(range(12)), {3, 64, 1023}])
def test_epoch_partitions_reads_back_what_epoch_bits_wrote(partitions: set[int]) -> None:
    assert epoch_partitions(epoch_bits(partitions)) == partitions


def test_an_epoch_covers_the_topic_only_when_every_partition_is_marked() -> None:
    assert epoch_covers(epoch_bits(range(6)), 6)
    assert epoch_covers(epoch_bits(range(12)), 6)
    assert not epoch_covers(epoch_bits([0, 1, 2, 3, 5]), 6)
    assert not epoch_covers(epoch_bits(range(6)), 12)
    assert not epoch_covers(None, 6)
    assert not epoch_covers(b"", 1)


def test_epoch_keys_are_per_writer_and_prefix_and_outside_every_customer_tag() -> None:
    keys = RedisKeys("t1")
    assert keys.epoch(Writer.FEATURES) == "t1:v1:epoch:features"
    assert keys.epoch(Writer.WARNING) == "t1:v1:epoch:warning"
    assert keys.rebuild_claim(Writer.WARNING, "abc") == "t1:v1:epoch:warning:rebuild:abc"
    assert "{" not in keys.epoch(Writer.FEATURES)
