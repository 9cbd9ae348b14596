"""Errors of the ingest service."""


class IngestError(Exception):
    """Base of every error the ingest service raises on purpose."""


class PublishUnavailableError(IngestError):
    """Kafka did not acknowledge in time: the event is not accepted (the client retries)."""
