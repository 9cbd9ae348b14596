"""The signal gateway: shared risk signals in from the exchange (validated, refused ones
dead-lettered, accepted ones filed by identifier hash) and this platform's own signals out
(docs/sharing.md)."""
