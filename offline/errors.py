"""Errors of the offline pipelines. Every one derives from :class:`OfflineError`."""

from __future__ import annotations


class OfflineError(Exception):
    """Base class of every error an offline pipeline raises on purpose."""


class EventLogError(OfflineError):
    """A record of an event log that does not parse; the message names the file and line."""
