"""The training package's exception hierarchy."""

from __future__ import annotations


class TrainingError(Exception):
    """Base class of every error training raises on purpose: bad input data, a model that
    cannot be exported faithfully, a bundle that fails its own checks."""
