"""Time arithmetic of the feature core. Instants are integer microseconds since the Unix
epoch (exact, and cheap to compare and serialise); days are UTC day numbers since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3_600 * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR

HORIZON_DAYS = 90
"""The longest window. Events older than this, relative to the processing clock, are
ignored, and day buckets before it are dropped."""

ADDRESS_HORIZON_DAYS = 30
"""Shipping addresses are only read by a 30-day window, so only 30 days of them are kept."""

FINE_DAYS = 2
"""Individual entries are kept for the clock's UTC day and this many days before it."""

READ_LAG_LIMIT_US = US_PER_DAY
"""How far ``as_of`` may trail the state's processing clock and still be read exactly."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def to_us(instant: datetime) -> int:
    """Microseconds since the epoch of an aware instant (TypeError for a naive one)."""
    return (instant - _EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    """The UTC instant ``us`` microseconds after the epoch."""
    return _EPOCH + timedelta(microseconds=us)


def day_of(us: int) -> int:
    """The UTC day number containing the instant ``us``."""
    return us // US_PER_DAY


def fine_start_us(clock_us: int) -> int:
    """Start of the span whose entries the state keeps individually for clock ``clock_us``:
    midnight UTC :data:`FINE_DAYS` days before the clock's day. Every window of an ``as_of``
    no more than :data:`READ_LAG_LIMIT_US` behind the clock starts at or after it."""
    return (day_of(clock_us) - FINE_DAYS) * US_PER_DAY
