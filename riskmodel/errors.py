"""Errors of the model bundle contract. Every one derives from :class:`BundleError`."""

from __future__ import annotations


class BundleError(Exception):
    """A model bundle that must not be served: malformed manifest or reason table, or a raw
    record the bundle's preprocessing cannot encode."""


class EncodingError(BundleError):
    """A raw value that cannot be encoded (a numeric column holding text)."""


class GateRefusedError(BundleError):
    """The gate refused a bundle. ``code`` is a stable machine-readable reason (e.g.
    ``wrong_feature_count``); the message says precisely what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
