"""The pure feature core: customer state, event application and feature computation. No
I/O framework is imported here; the streaming worker, the score API, offline replays and
training call this API, and only this module: it is the core's import surface.

See docs/features.md for the feature definitions, the window rules and the state layout.
"""

from services.features.core.apply import ApplyOutcome, apply_event
from services.features.core.compute import compute_features
from services.features.core.errors import (
    AsOfOutOfRangeError,
    CustomerMismatchError,
    FeaturesError,
    StateFormatError,
)
from services.features.core.state import STATE_FORMAT_VERSION, CustomerState
from services.features.core.timeline import from_us, to_us

__all__ = [
    "STATE_FORMAT_VERSION",
    "ApplyOutcome",
    "AsOfOutOfRangeError",
    "CustomerMismatchError",
    "CustomerState",
    "FeaturesError",
    "StateFormatError",
    "apply_event",
    "compute_features",
    "from_us",
    "to_us",
]
