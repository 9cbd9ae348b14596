"""The chaos verifier (``make chaos``), in the style of Kafka Streams' exactly-once system
test: a continuous simulated stream runs through the pipeline while processes are killed,
stopped and added, brokers bounced and Redis flushed; a checkout prober scores restricted
customers throughout; at the end a verifier checks every effect against an offline replay.
"""
