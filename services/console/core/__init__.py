"""The console's pure core: how a customer's features, a rule's reversal condition and a
rule change are put into words and tables for a person. No I/O here; the routes call in
through this module."""

from services.console.core.presenting import (
    DiffLine,
    FeatureTable,
    decision_words,
    feature_table,
    lifted_by,
    origin_label,
    rules_diff,
)

__all__ = [
    "DiffLine",
    "FeatureTable",
    "decision_words",
    "feature_table",
    "lifted_by",
    "origin_label",
    "rules_diff",
]
