"""Offline model work for riskstream: point-in-time datasets from simulated customers
(the ``simulator`` package), LightGBM training with a scorecard baseline, the evaluation
report and the model bundle that the scorer serves."""
