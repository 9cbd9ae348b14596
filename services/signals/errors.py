"""Errors of the signal gateway. Every error it raises derives from :class:`SignalsError`."""

from __future__ import annotations


class SignalsError(Exception):
    """Base class of every error the signal gateway raises."""


class PublishUnavailableError(SignalsError):
    """Kafka did not acknowledge a signal or its audit record in time."""


class UnsignableError(SignalsError):
    """This platform has no signing secret, so it cannot publish a signal partners accept."""
