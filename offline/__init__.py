"""Offline pipelines: the services' cores composed without Kafka or Redis, so training,
backfills and rule backtests run exactly the code production runs.

- :mod:`offline.replay`: event logs replayed through the feature core, point in time;
- :mod:`offline.backtest`: a rule set judged over a replayed log, against a baseline.
"""
