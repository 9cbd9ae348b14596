"""Runs the riskstream platform on one machine without containers: Apache Kafka from Maven
Central jars, Redis from the distribution, and the services as plain processes."""
