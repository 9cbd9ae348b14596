"""Settings of the feature worker."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import ServiceSettings
from services.common.topics import TopicSpec

STATE_TABLE = "customer-state"
"""Name of the worker's table of customer states (its changelog topic is named after it)."""
SUBJECT_TABLE = "signal-subjects"
"""Name of the worker's table of identifier hashes and the signals naming them."""


class FeaturesSettings(ServiceSettings):
    service_name: str = "features"
    features_app_id: str = "riskstream-features"
    """Consumer group and changelog-topic prefix (the topic prefix is prepended)."""
    features_host: str = "127.0.0.1"
    features_port: int = Field(default=6066, ge=1, le=65535)
    features_data_dir: Path = Path(".run/features")
    """Local RocksDB state; rebuilt from the changelog topic when lost."""
    redis_flush_max_records: int = Field(default=500, ge=1)
    redis_flush_interval_ms: float = Field(default=10.0, gt=0)
    """The worker processes records in batches of at most this many records, or what
    arrived this long after the batch began; a batch's states reach Redis in one write,
    and its offsets are acknowledged only after that."""

    features_session_timeout_s: float = Field(default=10.0, ge=6.0, le=300.0)
    """How long a silent worker keeps its partitions: after a crash the others take them
    over once this has passed (Kafka's own minimum is 6 s)."""
    rocksdb_write_buffer_bytes: int = Field(default=8 * 1024 * 1024, ge=1024 * 1024)
    rocksdb_write_buffers: int = Field(default=2, ge=1, le=16)
    """Each partition's RocksDB database keeps up to ``rocksdb_write_buffers`` memtables of
    this size before it writes a file (faust's default, 3 of 64 MB, reserves up to 192 MB
    per partition: with many partitions per worker that, not the customers, sets its
    memory). A batch writes each customer once, so small memtables cost few flushes."""
    rocksdb_block_cache_bytes: int = Field(default=16 * 1024 * 1024, ge=0)
    """Each partition database's cache of file blocks (faust's default: 2 GB each). Reads
    are one per customer per batch, mostly of customers written moments before (still in
    the memtable), so a small cache loses little."""
    rocksdb_max_open_files: int = Field(default=64, ge=-1)
    """Files each partition database keeps open (-1: no limit, faust's default, which
    with many partitions runs into the process's file limit)."""
    features_redis_timeout_ms: float = Field(default=2000.0, gt=0)
    """Budget of one pipelined state write (a batch holds up to redis_flush_max_records
    states of a few kB each, far more than one request-path lookup)."""

    def rocksdb_options(self) -> dict[str, int]:
        """The options of each partition's RocksDB database, as faust's table takes them."""
        return {
            "write_buffer_size": self.rocksdb_write_buffer_bytes,
            "max_write_buffer_number": self.rocksdb_write_buffers,
            "block_cache_size": self.rocksdb_block_cache_bytes,
            "max_open_files": self.rocksdb_max_open_files,
        }

    @property
    def app_id(self) -> str:
        return f"{self.topic_prefix}{self.features_app_id}"

    def state_changelog(self) -> TopicSpec:
        """The changelog topic of the worker's state table, as faust names it: compacted,
        one partition per event partition."""
        return self._changelog(STATE_TABLE)

    def changelogs(self) -> list[TopicSpec]:
        """The changelog topics of both tables (customer states, signal subjects). The
        worker creates them before it starts, since faust's own creation can race its
        first writes on a cluster of several brokers."""
        return [self._changelog(STATE_TABLE), self._changelog(SUBJECT_TABLE)]

    def _changelog(self, table: str) -> TopicSpec:
        return TopicSpec(
            f"{self.app_id}-{table}-changelog", self.event_partitions, {"cleanup.policy": "compact"}
        )
