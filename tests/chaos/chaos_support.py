"""What only the fault tests need beyond tests/support: restarting Redis with nothing."""

from __future__ import annotations

import shutil

from deploy.harness import BackingServices


def restart_redis_empty(platform: BackingServices) -> None:
    """Stops Redis, removes its data files and starts it again: a Redis that lost its
    disk, as a replacement node or an ephemeral cache would come up."""
    platform.stop_redis()
    shutil.rmtree(platform.run_dir / "redis", ignore_errors=True)
    platform.start_redis()
