"""Errors of the feature service. Every error it raises derives from :class:`FeaturesError`."""

from __future__ import annotations


class FeaturesError(Exception):
    """Base class of every error the feature service raises."""


class CustomerMismatchError(FeaturesError):
    """An event was applied to the state of another customer."""


class StateFormatError(FeaturesError):
    """Serialised customer state that cannot be read (corrupt, or an unknown format version)."""


class AsOfOutOfRangeError(FeaturesError):
    """Features were asked for an instant the state can no longer describe exactly."""
