"""Time as every use case reads it: the :class:`Clock` port and the wall clock behind it.
Tests and offline replays pass a settable clock instead, so time windows are testable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    """Aware UTC wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)
