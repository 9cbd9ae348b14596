"""The warning service's pure core: the rule-condition language, the rule file, and the
per-customer state machine that turns scores into graded, reversible actions. No I/O
frameworks here; the consumer, store and API call in."""
