"""The signal gateway's own metrics (docs/observability.md)."""

from __future__ import annotations

from prometheus_client import Counter

SIGNALS_READ = Counter(
    "riskstream_signals_read_total",
    "Records read from the exchange, by outcome: accepted, own (this platform's, not counted "
    "again) or refused (dead-lettered; riskstream_dead_letters_total says why).",
    ["outcome"],
)
SIGNALS_PUBLISHED = Counter(
    "riskstream_signals_published_total",
    "Signals this platform published to the exchange, by action (publish, retract).",
    ["action"],
)
