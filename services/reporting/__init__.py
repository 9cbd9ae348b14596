"""The portfolio risk report: pure aggregation (:mod:`services.reporting.core`), record
sources (JSONL exports or Kafka) and the HTML/JSON rendering."""
