"""The riskstream benchmark: ``python -m bench.run`` (``make bench``) brings up a platform of
its own on free ports, measures every figure against a floor taken in the same run, and
writes ``bench/report.md`` and ``bench/report.json``."""
