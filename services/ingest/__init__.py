"""The HTTP event gateway: validates inbound events and produces them to Kafka."""
