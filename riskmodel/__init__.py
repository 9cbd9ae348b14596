"""The model bundle contract shared by training, the scorer, offline replays and reporting:
what a bundle holds (:mod:`~riskmodel.manifest`), how raw records become model rows
(:mod:`~riskmodel.preprocessing`), how a probability becomes a score, grade, limit and
decision (:mod:`~riskmodel.scaling`), how reason codes are read from the bundle's
contribution table (:mod:`~riskmodel.reasons`), drift against the training distributions
(:mod:`~riskmodel.drift`), and opening and gating a bundle for serving
(:mod:`~riskmodel.loading`, the only module that imports onnxruntime).
"""
