"""The score service's exception hierarchy."""

from __future__ import annotations


class ScorerError(Exception):
    """Base class of every error the score service raises on purpose."""


class BundleError(ScorerError):
    """A model bundle that must not be served: malformed manifest or reason table."""
