"""Offline model work for riskstream: the customer simulator, point-in-time datasets,
LightGBM training with a scorecard baseline, the evaluation report and the model bundle
that the scorer serves."""
