"""The worker's RocksDB databases take their sizes from the settings, not faust's
defaults (which reserve about 2 GB of cache and 192 MB of memtables per partition)."""

from pathlib import Path

from redis.asyncio import Redis

from services.common.clock import SystemClock
from services.features.app import create_app
from services.features.settings import STATE_TABLE, FeaturesSettings


def test_each_partition_database_is_opened_with_the_configured_options(tmp_path: Path) -> None:
    settings = FeaturesSettings(
        features_data_dir=tmp_path,
        rocksdb_write_buffer_bytes=4 * 1024 * 1024,
        rocksdb_write_buffers=3,
        rocksdb_block_cache_bytes=1024 * 1024,
        rocksdb_max_open_files=32,
    )
    app = create_app(settings, SystemClock(), Redis.from_url("redis://127.0.0.1:1"))

    options = app.tables[STATE_TABLE].data.rocksdb_options  # type: ignore[attr-defined]

    assert (
        options.write_buffer_size,
        options.max_write_buffer_number,
        options.block_cache_size,
        options.max_open_files,
    ) == (4 * 1024 * 1024, 3, 1024 * 1024, 32)
    assert FeaturesSettings().rocksdb_options() == {
        "write_buffer_size": 8 * 1024 * 1024,
        "max_write_buffer_number": 2,
        "block_cache_size": 16 * 1024 * 1024,
        "max_open_files": 64,
    }
