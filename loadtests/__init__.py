"""Load generators for a deployed riskstream: a Locust scenario for the checkout call
(``locustfile.py``) and a Kafka driver replaying simulated events at a target rate
(``python -m loadtests.kafka_driver``). See ``loadtests/README.md``."""
