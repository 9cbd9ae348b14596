"""The wall clock. Cores take any object with ``now() -> datetime`` (their own Clock
Protocol); tests pass a settable one."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Aware UTC wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)
