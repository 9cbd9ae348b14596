"""The local riskstream platform: Kafka (KRaft), Redis, Prometheus and the services, each a
detached process with a pid file and a log under the run directory (``.run`` by default).

``python -m deploy.platform up|down|status|install`` is its command line (``make up`` and
the other Makefile targets call it); ``deploy.harness`` runs the same pieces for tests and
benchmarks on free ports. Nothing here touches a process it did not start: a port held by
another program is reported, never taken over.

Modules, from the bottom up:

- ``paths``: the repository root, the default run directory and its layout.
- ``processes``: starting, finding and stopping detached processes; local TCP ports.
- ``system_packages``: programs taken from the distribution (installed when missing).
- ``http_health``: whether a process answers 200 on a path, and waiting until it does.
- ``kafka``: the Kafka broker: jars from the pinned pom, node configuration, storage,
  start, readiness and the platform's topics.
- ``redis``: the Redis server.
- ``prometheus``: the Prometheus server and its scrape configuration.
- ``services``: the riskstream services the platform runs, and starting one.
- ``config``: ``PlatformConfig``, the run directory, ports and components of one platform.
- ``lifecycle``: ``up``, ``down``, ``status`` and ``install`` across the components.
- ``cli``: the argument parser and ``main``.
"""
