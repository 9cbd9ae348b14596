"""The pure feature core: customer state, event application, feature computation and
offline replay. No I/O framework is imported here; the streaming worker, the Redis store
and the training pipeline call this API.

See docs/features.md for the feature definitions, the window rules and the state layout.
"""

from services.features.core.apply import ApplyOutcome, apply_event
from services.features.core.compute import compute_features
from services.features.core.replay import FeatureReplay, read_event_log, replay_point_in_time
from services.features.core.schema import FEATURE_SCHEMA, FeatureSchema, to_model_row
from services.features.core.state import STATE_FORMAT_VERSION, CustomerState

__all__ = [
    "FEATURE_SCHEMA",
    "STATE_FORMAT_VERSION",
    "ApplyOutcome",
    "CustomerState",
    "FeatureReplay",
    "FeatureSchema",
    "apply_event",
    "compute_features",
    "read_event_log",
    "replay_point_in_time",
    "to_model_row",
]
