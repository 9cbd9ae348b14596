"""The pure feature core: customer state, event and signal application, feature computation
and the subject table where shared signals meet customers' identifier hashes. No
I/O framework is imported here; the streaming worker, the score API, offline replays and
training call this API, and only this module: it is the core's import surface.

See docs/features.md for the feature definitions, the window rules and the state layout.
"""

from services.features.core.apply import ApplyOutcome, apply_event, apply_signal
from services.features.core.compute import DayCounters, compute_features, features_with_counters
from services.features.core.errors import (
    AsOfOutOfRangeError,
    CustomerMismatchError,
    FeaturesError,
    StateFormatError,
)
from services.features.core.profile import BUREAU_SCALES, normalised_bureau_score
from services.features.core.state import STATE_FORMAT_VERSION, CustomerState
from services.features.core.subjects import SubjectEntry, file_accepted, link_customer
from services.features.core.timeline import from_us, to_us
from services.features.core.vector import FeatureVector, feature_vector, vector_of

__all__ = [
    "BUREAU_SCALES",
    "STATE_FORMAT_VERSION",
    "ApplyOutcome",
    "AsOfOutOfRangeError",
    "CustomerMismatchError",
    "CustomerState",
    "DayCounters",
    "FeatureVector",
    "FeaturesError",
    "StateFormatError",
    "SubjectEntry",
    "apply_event",
    "apply_signal",
    "compute_features",
    "feature_vector",
    "features_with_counters",
    "file_accepted",
    "from_us",
    "link_customer",
    "normalised_bureau_score",
    "to_us",
    "vector_of",
]
