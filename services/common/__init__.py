"""What every riskstream service shares: settings base, topic names, Kafka and Redis
clients, metrics, logging, API-key access and dead-letter records. Kept small on purpose."""
