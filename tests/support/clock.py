"""A settable clock for tests: implements :class:`services.common.clock.Clock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


class SettableClock:
    """Reads ``current`` (an aware instant), which a test sets or advances."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, hours: float = 0, seconds: float = 0) -> None:
        self.current += timedelta(hours=hours, seconds=seconds)
