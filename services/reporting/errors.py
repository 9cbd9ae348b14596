"""The reporting package's exception hierarchy."""

from __future__ import annotations


class ReportingError(Exception):
    """Base class of every error the portfolio report raises on purpose: a bad period, an
    unreadable input file, a source that cannot be read."""
