"""The report: headline figures pulled from the results, targets, the previous run's
figures beside this run's, and the Markdown rendering. Pure: values in, text out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BUSY_CPU_BOUND = 0.85
"""A process busy this share of one core or more is limited by its own CPU work."""


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    label: str
    path: tuple[str, ...]
    unit: str
    higher_is_better: bool


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    text: str
    threshold: float
    at_least: bool
    floor: str | None = None
    """The figure measured in the same run that bounds this one from below (a bare
    endpoint, a bare consumer, the broker's own latency), when there is one."""
    remedy: str = ""
    """What would change the figure, as the profiles read; shown when it is missed."""

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value >= self.threshold if self.at_least else value < self.threshold


def _e2e(rate: str, *path: str) -> tuple[str, ...]:
    return ("end_to_end", "rates", rate, *path)


FIGURES: tuple[Figure, ...] = (
    Figure("score_throughput_ratio", "score API / bare endpoint throughput",
           ("score_api", "throughput_ratio"), "ratio", True),
    Figure("score_rps", "score API throughput (saturated)",
           ("score_api", "score", "throughput_rps"), "req/s", True),
    Figure("bare_rps", "bare endpoint throughput (saturated)",
           ("score_api", "bare", "throughput_rps"), "req/s", True),
    Figure("score_p99_200", "score API p99 at 200 req/s",
           ("score_api", "fixed_rate", "200", "p99_ms"), "ms", False),
    Figure("score_p50_1000", "score API p50 at 1,000 req/s",
           ("score_api", "fixed_rate", "1000", "p50_ms"), "ms", False),
    Figure("score_p99_1000", "score API p99 at 1,000 req/s",
           ("score_api", "fixed_rate", "1000", "p99_ms"), "ms", False),
    Figure("features_ratio", "feature service / bare consumer events/s",
           ("feature_service", "throughput_ratio"), "ratio", True),
    Figure("features_rate", "feature service events/s (one worker)",
           ("feature_service", "feature_service", "events_per_s"), "events/s", True),
    Figure("bare_consumer_rate", "bare aiokafka consumer records/s",
           ("feature_service", "bare_consumer", "events_per_s"), "records/s", True),
    Figure("faust_floor_rate", "faust floor (the worker's app, a bare relay) records/s",
           ("feature_service", "faust_floor", "events_per_s"), "records/s", True),
    Figure("features_to_faust_floor", "feature service / faust floor events/s",
           ("feature_service", "throughput_ratio_to_faust_floor"), "ratio", True),
    Figure("features_cpu_backlog", "CPU per event, feature worker, from a backlog",
           ("feature_service", "feature_service", "cpu_us_per_record"), "µs", False),
    Figure("faust_floor_cpu", "CPU per record, faust floor, from a backlog",
           ("feature_service", "faust_floor", "cpu_us_per_record"), "µs", False),
    Figure("action_p50_200", "event→action p50 at 200 events/s",
           _e2e("200", "event_to_action", "p50_ms"), "ms", False),
    Figure("action_p99_200", "event→action p99 at 200 events/s",
           _e2e("200", "event_to_action", "p99_ms"), "ms", False),
    Figure("action_p50_1000", "event→action p50 at 1,000 events/s",
           _e2e("1000", "event_to_action", "p50_ms"), "ms", False),
    Figure("action_p99_1000", "event→action p99 at 1,000 events/s",
           _e2e("1000", "event_to_action", "p99_ms"), "ms", False),
    Figure("action_p999_1000", "event→action p99.9 at 1,000 events/s",
           _e2e("1000", "event_to_action", "p999_ms"), "ms", False),
    Figure("broker_p99_1000", "broker produce→consume p99 at 1,000/s",
           _e2e("1000", "broker_floor", "p99_ms"), "ms", False),
    Figure("highest_sustained", "highest sustained event rate (end to end)",
           ("end_to_end", "highest_sustained_rate"), "events/s", True),
    Figure("cpu_total_1000", "CPU per event, whole pipeline, at 1,000 events/s",
           _e2e("1000", "cpu_us_per_event", "total"), "µs", False),
    Figure("cpu_features_1000", "CPU per event, feature worker, at 1,000 events/s",
           _e2e("1000", "cpu_us_per_event", "features"), "µs", False),
    Figure("cpu_scorer_1000", "CPU per event, score service, at 1,000 events/s",
           _e2e("1000", "cpu_us_per_event", "scorer"), "µs", False),
    Figure("cpu_warning_1000", "CPU per event, warning service, at 1,000 events/s",
           _e2e("1000", "cpu_us_per_event", "warning"), "µs", False),
    Figure("cpu_kafka_1000", "CPU per event, Kafka, at 1,000 events/s",
           _e2e("1000", "cpu_us_per_event", "kafka"), "µs", False),
    Figure("cpu_redis_1000", "CPU per event, Redis, at 1,000 events/s",
           _e2e("1000", "cpu_us_per_event", "redis"), "µs", False),
    Figure("relay_floor_us", "bare consumer that parses and produces, CPU per record",
           ("end_to_end", "relay_floor", "cpu_us_per_record"), "µs", False),
    Figure("onnx_us", "ONNX inference, one row",
           ("inference", "single_row", "onnx_inference_us"), "µs", False),
    Figure("score_rows_us", "inference + reason codes + grade, one row",
           ("inference", "single_row", "score_rows_us"), "µs", False),
    Figure("booster_us", "LightGBM Booster.predict, one row",
           ("inference", "single_row", "lightgbm_predict_us"), "µs", False),
    Figure("score_rows_to_booster", "serving one row / Booster.predict one row",
           ("inference", "single_row_ratios_to_booster_predict", "score_rows"), "ratio", False),
    Figure("redis_per_10k", "Redis feature state per 10k customers",
           ("feature_service", "memory", "per_10k_customers", "redis_bytes"), "bytes", False),
    Figure("rocksdb_per_10k", "RocksDB files per 10k customers",
           ("feature_service", "memory", "per_10k_customers", "rocksdb_dir_bytes"), "bytes", False),
    Figure("rss_per_10k", "worker RSS over an idle worker, per 10k customers",
           ("feature_service", "memory", "per_10k_customers", "worker_rss_over_idle_bytes"),
           "bytes", False),
    Figure("rss_marginal_per_10k", "worker RSS, marginal per 10k customers (two sizes)",
           ("feature_service", "memory_at_two_sizes", "marginal_rss_per_10k_customers_bytes"),
           "bytes", False),
    Figure("rss_fixed", "worker RSS, fixed part (two sizes)",
           ("feature_service", "memory_at_two_sizes", "fixed_rss_bytes"), "bytes", False),
    Figure("rss_marginal_at_scale", "worker RSS, marginal per 10k customers (3k and 100k)",
           ("worker_memory_at_scale", "marginal_rss_per_10k_customers_bytes"), "bytes", False),
    Figure("rss_fixed_at_scale", "worker RSS, fixed part (3k and 100k customers)",
           ("worker_memory_at_scale", "fixed_rss_bytes"), "bytes", False),
    Figure("drill_s_per_100k", "recovery drill: Redis rebuilt from Kafka, per 100k customers",
           ("recovery_drill", "seconds_per_100k_customers"), "s", False),
)  # fmt: skip

TARGETS: tuple[Target, ...] = (
    Target("cpu_total_1000", "CPU per event, whole pipeline at 1,000 events/s ≤ 600 µs",
           600.05, False,
           remedy="fewer, larger Kafka requests per event (the broker's share) and the "
           "stream services' own items below"),
    Target("features_rate", "feature worker from a backlog ≥ 6,000 events/s", 6000.0, True,
           floor="faust_floor_rate",
           remedy="nothing in the feature code can take one worker past the faust floor "
           "beside it (faust's consumer, stream, table and producer paths with a bare "
           "relay); past it, more partitions and worker processes, one core each"),
    Target("cpu_scorer_1000", "score service CPU per event ≤ 80 µs", 80.05, False,
           floor="relay_floor_us",
           remedy="Kafka I/O off the event loop (aiokafka's socket writes and the event "
           "loop lead the profile; a relay that parses and produces is the floor "
           "beside it); then the counterfactual searches of low grades"),
    Target("cpu_warning_1000", "warning service CPU per event ≤ 80 µs", 80.05, False,
           floor="relay_floor_us",
           remedy="Kafka I/O off the event loop, as for the scorer (the same two lead "
           "its profile); then rules compiled over a whole batch, and `risk.scores` "
           "read without pydantic once the rules take plain values"),
    Target("highest_sustained", "highest sustained rate ≥ 3,000 events/s", 3000.0, True,
           remedy="the feature worker, the first stage, is the bottleneck: more "
           "partitions and workers, or less CPU per event in it"),
    Target("action_p99_1000", "event→action p99 < 60 ms at 1,000 events/s", 60.0, False,
           floor="broker_p99_1000",
           remedy="CPU headroom: the latency is queueing on a machine near its limit"),
    Target("score_throughput_ratio", "score API ≥ 55% of the bare endpoint", 0.55, True,
           floor="bare_rps",
           remedy="less per request around the use case (features read precomputed, the "
           "decision record's copy one script per batch): the Redis client's round "
           "trip, the decision record's production and the framework's middleware, "
           "each a few per cent of the profile"),
    Target("score_p99_1000", "score API p99 < 8 ms at 1,000 req/s", 8.0, False,
           remedy="throughput headroom (the ratio above): p99 is queueing near saturation"),
    Target("features_ratio", "feature service ≥ 30% of the bare consumer", 0.3, True,
           floor="bare_consumer_rate",
           remedy="as for the worker's backlog rate: the faust floor alone is a small "
           "share of the bare consumer"),
    Target("rss_marginal_at_scale", "worker RSS ≤ 50 MB per 10k customers, marginal",
           50e6 + 1, False,
           remedy="smaller RocksDB memtables and block caches (docs/features.md): they, "
           "not the customers, hold the worker's memory"),
)  # fmt: skip
"""The aims, each with the same-run floor it is read against. An aim "≤ x" is written as
"< x" plus less than the figure's last decimal (Target compares with "<")."""


def lookup(results: Mapping[str, Any], path: tuple[str, ...]) -> float | None:
    """The number at ``path`` in nested mappings; None when any step is missing."""
    node: Any = results
    for step in path:
        if not isinstance(node, Mapping) or step not in node:
            return None
        node = node[step]
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def headline(results: Mapping[str, Any]) -> dict[str, float | None]:
    """Every :data:`FIGURES` value of a run, by key (what the next run compares with)."""
    return {figure.key: lookup(results, figure.path) for figure in FIGURES}


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if unit == "bytes":
        return f"{value / 1e6:.2f} MB" if value >= 1e5 else f"{value / 1e3:.1f} kB"
    if unit == "ratio":
        return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.2g}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def change(now: float | None, before: float | None, higher_is_better: bool) -> str:
    """``+12%`` / ``-3%`` of ``now`` against ``before``, with ``(better)``/``(worse)``
    beyond 5%; empty when either is missing."""
    if now is None or before is None or before == 0:
        return ""
    delta = (now - before) / abs(before)
    text = f"{delta:+.0%}"
    if abs(delta) < 0.05:
        return text
    better = (delta > 0) == higher_is_better
    return f"{text} ({'better' if better else 'worse'})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def limit_sentence(profile: Mapping[str, Any] | None, process: str) -> str:
    """What a profile says limits a figure, in one sentence."""
    if not profile or "busy_share" not in profile:
        error = (profile or {}).get("error")
        return f"No profile of the {process} ({error or 'not taken'})."
    busy = float(profile["busy_share"])
    cpu = profile.get("cpu_share")
    if cpu is not None and float(cpu) >= BUSY_CPU_BOUND:
        verdict = "CPU-bound: its own work on one core limits the figure"
    elif cpu is not None and busy >= BUSY_CPU_BOUND:
        verdict = (
            f"but got only {float(cpu):.0%} of a core: runnable and waiting for a CPU that "
            "other processes on the machine held, so the machine's load limits the figure"
        )
    elif busy >= BUSY_CPU_BOUND:
        verdict = "CPU-bound: its own work on one core limits the figure"
    else:
        verdict = (
            "not CPU-saturated: it waits on Kafka, Redis or the load itself for part of the "
            "time, so latency and batching rather than its CPU limit the figure"
        )
    return f"The {process} was busy in {busy:.0%} of the samples ({verdict})."


def profile_lines(profile: Mapping[str, Any] | None, process: str) -> list[str]:
    lines = [limit_sentence(profile, process), ""]
    if not profile or "self" not in profile:
        return lines
    rows = [
        [
            f"`{f['frame']}`",
            f"{f['share']:.0%}",
            f"`{f['called_from']}`" if f.get("called_from") else "",
        ]
        for f in profile["self"][:6]
    ]
    lines += _table(
        ["hottest lines (self time)", "share of busy samples", "under riskstream line"], rows
    )
    own = profile.get("own_code_inclusive") or []
    if own:
        lines.append("")
        rows = [[f"`{f['frame']}`", f"{f['share']:.0%}"] for f in own[:6]]
        lines += _table(["riskstream functions (inclusive)", "share"], rows)
    return lines


def _latency_row(label: str, summary: Mapping[str, Any] | None) -> list[str]:
    summary = summary or {}
    return [
        label,
        _number(summary.get("count")),
        _number(summary.get("p50_ms")),
        _number(summary.get("p99_ms")),
        _number(summary.get("p999_ms")),
        _number(summary.get("max_ms")),
    ]


def render_markdown(report: Mapping[str, Any]) -> str:
    """The whole report as Markdown."""
    results: Mapping[str, Any] = report["results"]
    machine: Mapping[str, Any] = report["machine"]
    now: Mapping[str, float | None] = report["headline"]
    before: Mapping[str, float | None] = report.get("previous", {}).get("headline") or {}
    previous_date = report.get("previous", {}).get("date") or "none"
    lines = [
        "# riskstream benchmark report",
        "",
        f"Generated by `make bench` on {machine['date']} from commit `{machine['git_commit']}` "
        f"in {report['duration_s']:.0f} s. Previous run: {previous_date}.",
        "",
        "Kafka, Redis and the services ran on this one machine beside the load generators, "
        "so every figure a busy machine distorts is given as a ratio against a floor "
        "measured in the same run, minutes apart: the score API against the bare endpoint "
        "of the same server, the feature worker against a bare consumer on the same "
        "topics, the pipeline's latency beside the broker's own, the model against "
        "LightGBM on the same trees. Targets are reported, never asserted.",
        "",
        "## Machine",
        "",
    ]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    memory_gb = (machine.get("memory_bytes") or 0) / 2**30
    lines += _table(
        ["fact", "value"],
        [
            ["CPU", f"{machine['cpu_model']}, {machine['cores']} cores"],
            ["memory", f"{memory_gb:.1f} GiB"],
            ["load average at start (1, 5, 15 min)", str(machine["load_average_at_start"])],
            ["OS", machine["os"]],
            ["Python", machine["python"]],
            ["versions", versions],
        ],
    )
    lines += ["", "## Targets", ""]
    target_rows = []
    for target in TARGETS:
        value = now.get(target.key)
        met = target.met(value)
        verdict = {True: "met", False: "**missed**", None: "not measured"}[met]
        figure = next(f for f in FIGURES if f.key == target.key)
        floor = next((f for f in FIGURES if f.key == target.floor), None)
        target_rows.append(
            [
                target.text,
                _number(value, figure.unit),
                f"{floor.label}: {_number(now.get(floor.key), floor.unit)}" if floor else "—",
                _number(before.get(target.key), figure.unit),
                verdict,
                target.remedy if met is False else "",
            ]
        )
    header = [
        "aim",
        "this run",
        "same-run floor",
        "previous run",
        "verdict",
        "what would change it",
    ]
    lines += _table(header, target_rows)
    lines += ["", "## Headline figures, this run beside the previous one", ""]
    rows = [
        [
            figure.label,
            figure.unit,
            _number(now.get(figure.key), figure.unit),
            _number(before.get(figure.key), figure.unit),
            change(now.get(figure.key), before.get(figure.key), figure.higher_is_better),
        ]
        for figure in FIGURES
    ]
    lines += _table(["figure", "unit", "this run", "previous run", "change"], rows)
    lines += _score_section(results.get("score_api") or {})
    lines += _features_section(results.get("feature_service") or {})
    lines += _pipeline_section(results.get("end_to_end") or {})
    lines += _inference_section(results.get("inference") or {})
    features = results.get("feature_service") or {}
    lines += _memory_section(
        features.get("memory") or {},
        features.get("memory_at_two_sizes") or {},
        results.get("worker_memory_at_scale") or {},
    )
    lines += drill_section(results.get("recovery_drill") or {})
    lines += ["", "## Timings of the run", ""]
    lines += _table(
        ["part", "seconds"],
        [[name, f"{seconds:.0f}"] for name, seconds in report.get("timings_s", {}).items()],
    )
    return "\n".join(lines) + "\n"


def _decision_log_lines(counts: Mapping[str, Any] | None) -> list[str]:
    """What the decision log did during the score API's run (it is on, as in production)."""
    if not counts:
        return ["Decision log: not measured.", ""]

    def count(name: str) -> str:
        return f"{int(counts.get(name) or 0):,}"

    return [
        "Decision log on (every answer recorded on `risk.decisions`, copied to Redis by the "
        f"same process): {count('produced')} decisions produced, {count('spooled')} spooled, "
        f"{count('replayed')} replayed, {count('copied')} copied, "
        f"**{count('dropped')} dropped**.",
        "",
    ]


def _score_section(score: Mapping[str, Any]) -> list[str]:
    lines = [
        "",
        "## Score API",
        "",
        f"`POST /v1/score` for known customers (feature state in Redis, a BNPL order each) "
        f"against `GET /v1/bare` of the same server (same authentication and middleware, "
        f"no work). Closed loop: {score.get('connections', 'n/a')} keep-alive connections "
        "sending back to back; fixed rate: requests on a fixed schedule, latency counted "
        "from the scheduled instant (queueing included).",
        "",
    ]
    header = ["run", "requests", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "req/s", "errors"]
    rows = []
    named = [("bare, saturated", score.get("bare")), ("score, saturated", score.get("score"))]
    named += [(f"score at {rate} req/s", s) for rate, s in (score.get("fixed_rate") or {}).items()]
    for label, summary in named:
        summary = summary or {}
        rows.append(
            [
                *_latency_row(label, summary),
                _number(summary.get("throughput_rps")),
                str(summary.get("errors", "n/a")),
            ]
        )
    lines += _table(header, rows)
    lines += [
        "",
        f"Throughput ratio score/bare: **{_number(score.get('throughput_ratio'), 'ratio')}**; "
        f"p50 ratio {_number(score.get('p50_ratio'), 'ratio')}, "
        f"p99 ratio {_number(score.get('p99_ratio'), 'ratio')}.",
        "",
        *_decision_log_lines(score.get("decision_log")),
        "What limits it (py-spy, scorer process, saturated with scores):",
        "",
        *profile_lines(score.get("profile"), "scorer"),
    ]
    return lines


def _features_section(features: Mapping[str, Any]) -> list[str]:
    bare = features.get("bare_consumer") or {}
    decoding = features.get("bare_consumer_decoding_json") or {}
    floor = features.get("faust_floor") or {}
    service = features.get("feature_service") or {}
    lines = [
        "",
        "## Feature service",
        "",
        f"{_number(features.get('events'))} simulated events of "
        f"{_number(features.get('customers'))} customers (60 days each) were written to the "
        "four event topics of a prefix of their own, then read from the start by a bare "
        "aiokafka consumer (no group, no processing), by the faust floor (`bench/faust_floor.py`: "
        "the worker's own faust app, options, table and acknowledgement scheme with a bare "
        "relay agent that parses each record, writes each customer's table entry once per "
        "batch and produces one record per record) and by a feature worker of its own "
        "(one process, 6 partitions). Rates and CPU per record are taken between 10% and 90% "
        "of the records done, leaving out start-up and the tail.",
        "",
    ]
    lines += _table(
        ["reader", "records", "events/s", "CPU µs per record"],
        [
            [
                "bare aiokafka consumer",
                _number(bare.get("records")),
                _number(bare.get("events_per_s")),
                "",
            ],
            [
                "bare consumer parsing each value (orjson)",
                _number(decoding.get("records")),
                _number(decoding.get("events_per_s")),
                "",
            ],
            [
                "faust floor",
                _number(floor.get("records")),
                _number(floor.get("events_per_s")),
                _number(floor.get("cpu_us_per_record")),
            ],
            [
                "feature worker",
                _number(service.get("records")),
                _number(service.get("events_per_s")),
                _number(service.get("cpu_us_per_record")),
            ],
        ],
    )
    to_floor = _number(features.get("throughput_ratio_to_faust_floor"), "ratio")
    lines += [
        "",
        f"Ratio to the faust floor: **{to_floor}**; "
        f"to the bare consumer: {_number(features.get('throughput_ratio'), 'ratio')}; "
        "to the consumer that parses JSON: "
        f"{_number(features.get('throughput_ratio_to_decoding_consumer'), 'ratio')}.",
        "",
        "What limits it (py-spy, feature worker, 4 s from a tenth of the records on):",
        "",
        *profile_lines(service.get("profile"), "feature worker"),
    ]
    return lines


def _pipeline_section(pipeline: Mapping[str, Any]) -> list[str]:
    lines = [
        "",
        "## End to end: event to action",
        "",
        "**event→action**: from the moment an event is handed to a Kafka producer (the "
        "gateway's settings: acks=all) to the moment the first action record "
        "it triggered (its `triggered_by`) is delivered to a consumer of `risk.actions`, "
        "through the feature worker, `features.updates`, the stream scorer, `risk.scores` "
        "and the warning service. **event→score**: the same start, to the record on "
        "`risk.scores`; **event→update**: to the feature update on `features.updates` "
        "(the feature worker's share of the path). **broker floor**: a probe record "
        "produced with the same settings to a topic of its own and delivered to its "
        "consumer, at the same rate, just "
        "before. The steps follow an unreported 10 s warm-up at 1,000 events/s (the "
        "broker's JIT compiler and the services' first reads would otherwise weigh on "
        "the first step). A quarter of the events are chargebacks of first-time customers, which "
        "the default rules always answer with an action; the rest replay simulated "
        "customers. A rate is sustained when every triggered action arrived and the "
        "pipeline kept up: the last quarter of the events waited for their scores at most "
        "twice as long as the first quarter plus 250 ms (falling behind shows as a queue "
        "that grows).",
        "",
    ]
    header = ["rate /s", "sent /s", "latency", "samples", "p50 ms", "p99 ms", "p99.9 ms", "max ms"]
    rows = []
    for rate, run in (pipeline.get("rates") or {}).items():
        sent = _number(run.get("achieved_send_rate"))
        tag = "" if run.get("sustained") else " (not sustained)"
        for label, key in (
            ("event→action", "event_to_action"),
            ("event→score", "event_to_score"),
            ("event→update", "event_to_update"),
            ("broker floor", "broker_floor"),
        ):
            rows.append([f"{rate}{tag}", sent, *_latency_row(label, run.get(key))])
    lines += _table(header, rows)
    lines += [
        "",
        f"Highest sustained rate tried: **{_number(pipeline.get('highest_sustained_rate'))} "
        "events/s**.",
        "",
        *cpu_lines(pipeline.get("rates") or {}),
        "",
        f"What limits it (py-spy at {pipeline.get('profile_rate', 'n/a')} events/s):",
        "",
    ]
    labels = {"features": "feature worker", "warning": "warning service"}
    for process, profile in (pipeline.get("profiles") or {}).items():
        label = labels.get(process, process)
        lines += [f"**{label}**", "", *profile_lines(profile, label), ""]
    return lines


CPU_PROCESSES = ("features", "scorer", "warning", "kafka", "redis")


def cpu_lines(rates: Mapping[str, Any]) -> list[str]:
    """CPU time per event of each process at each rate: what the pipeline costs the
    machine, undistorted by how busy it was."""
    rows = []
    for rate, run in rates.items():
        cpu = run.get("cpu_us_per_event") or {}
        if not cpu:
            continue
        known = [cpu.get(name) for name in CPU_PROCESSES]
        total = sum(v for v in known if v is not None) if None not in known else None
        rows.append([rate, *(_number(cpu.get(name)) for name in CPU_PROCESSES), _number(total)])
    if not rows:
        return []
    return [
        "CPU time per event, in µs, of each process over each step (its load and the "
        "drain after it). The machine has two cores: a total of 2,000 µs per event leaves "
        "no room for 1,000 events/s.",
        "",
        *_table(["rate /s", *CPU_PROCESSES, "total"], rows),
    ]


def _inference_section(inference: Mapping[str, Any]) -> list[str]:
    model = inference.get("model") or {}
    single = inference.get("single_row") or {}
    batch = inference.get("batch_1000") or {}
    lines = [
        "",
        "## Model inference and reason codes",
        "",
        f"A model trained in the run ({model.get('customers', 'n/a')} simulated customers, "
        f"{_number(model.get('trees'))} trees, {model.get('features', 'n/a')} features, "
        f"AUC {model.get('auc', 'n/a')}), served from its bundle as the scorer serves it, "
        "against LightGBM's `Booster.predict` on the same trees (refitted deterministically; "
        f"outputs agree within {inference.get('max_abs_diff_onnx_vs_booster', float('nan')):.1e}). "
        "Microseconds per row, best of five passes; one thread.",
        "",
    ]
    names = [
        ("lightgbm_predict_us", "LightGBM Booster.predict"),
        ("lightgbm_pred_contrib_us", "LightGBM pred_contrib (exact TreeSHAP)"),
        ("onnx_inference_us", "ONNX inference (scorer)"),
        ("reason_codes_us", "reason codes (leaf table)"),
        ("score_rows_us", "score_rows: inference + reasons + grade"),
    ]
    rows = [[label, _number(single.get(key)), _number(batch.get(key))] for key, label in names]
    lines += _table(["call", "one row per call µs", "1,000 rows per call, µs/row"], rows)
    ratios = inference.get("single_row_ratios_to_booster_predict") or {}
    lines += [
        "",
        f"One row: ONNX takes {_number(ratios.get('onnx_inference'), 'ratio')}x the time of "
        f"Booster.predict; the whole serving call {_number(ratios.get('score_rows'), 'ratio')}x; "
        f"reason codes {_number(ratios.get('reason_codes_vs_pred_contrib'), 'ratio')}x the time "
        "of LightGBM's exact contributions.",
        "",
        "What limits it (py-spy, one-row serving calls):",
        "",
        *profile_lines(inference.get("profile"), "serving call"),
    ]
    return lines


def _memory_section(
    memory: Mapping[str, Any], two_sizes: Mapping[str, Any], at_scale: Mapping[str, Any]
) -> list[str]:
    per = memory.get("per_10k_customers") or {}
    lines = [
        "",
        "## Memory per 10,000 customers of state",
        "",
        f"Measured on the feature worker above after {_number(memory.get('customers'))} "
        "customers' 60 days of events, scaled linearly to 10,000 customers.",
        "",
    ]
    memory = {
        **memory,
        "rss_over_idle": (memory.get("worker_rss_bytes") or 0)
        - (memory.get("idle_worker_rss_bytes") or 0),
    }
    stores = (
        ("Redis, `MEMORY USAGE` of the feature keys", "redis_bytes", "redis_bytes"),
        ("Redis, values alone", "redis_value_bytes", "redis_value_bytes"),
        ("RocksDB files (with WAL)", "rocksdb_dir_bytes", "rocksdb_dir_bytes"),
        ("worker RSS over an idle worker", "rss_over_idle", "worker_rss_over_idle_bytes"),
    )
    rows = [
        [label, _number(memory.get(measured), "bytes"), _number(per.get(scaled), "bytes")]
        for label, measured, scaled in stores
    ]
    lines += _table(["store", "measured", "per 10,000 customers"], rows)
    lines += [
        "",
        "The worker's RSS at two sizes, split into a fixed part and a marginal cost per "
        "10,000 customers (a straight line through both): the feature service's two loads, "
        "and the larger of them beside the recovery drill's worker, which holds 100,000 "
        "customers. At a few thousand customers each partition's RocksDB memtables and "
        "block cache are still filling towards their caps (docs/features.md), so the first "
        "line counts them as marginal; between 3,000 and 100,000 customers they are full.",
        "",
    ]
    lines += _table(
        ["sizes (customers)", "worker RSS", "marginal per 10,000 customers", "fixed part"],
        [
            [
                " and ".join(_number(count) for count in sizes.get("customers") or []),
                " and ".join(_number(rss, "bytes") for rss in sizes.get("worker_rss_bytes") or []),
                _number(sizes.get("marginal_rss_per_10k_customers_bytes"), "bytes"),
                _number(sizes.get("fixed_rss_bytes"), "bytes"),
            ]
            for sizes in (two_sizes, at_scale)
            if sizes
        ],
    )
    return lines


def drill_section(drill: Mapping[str, Any]) -> list[str]:
    """The recovery drill (``bench/drill.py``; also the body of ``bench/drill.md``)."""
    if not drill:
        return []
    mb = 1024 * 1024
    return [
        "",
        "## Recovery drill: Redis rebuilt from Kafka",
        "",
        f"{drill['customers']:,} customers' feature states on the worker's changelog "
        f"({drill['changelog_bytes'] / mb:.0f} MiB) and warning states on `warning.state` "
        f"({drill['warning_state_bytes'] / mb:.0f} MiB); an empty Redis, a feature worker "
        "with an empty state directory and a warning service start together, each ready "
        "once its keys are rewritten and its epoch key whole (`make drill`).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| start to both writers ready | {drill['rebuild_s']:.1f} s |",
        f"| **seconds per 100k customers** | **{drill['seconds_per_100k_customers']:.1f}** |",
        f"| feature worker ready (changelog restored, keys rewritten) | "
        f"{drill['ready_s'].get('features', 0):.1f} s |",
        f"| warning service ready (topic read, keys rewritten) | "
        f"{drill['ready_s'].get('warning', 0):.1f} s |",
        f"| rebuild pace per writer (`RISKSTREAM_REDIS_REBUILD_RATE`) | "
        f"{drill['rebuild_rate_per_writer']:,.0f} customers/s, so at least "
        f"{drill['paced_floor_s_per_100k']:.0f} s per 100k |",
        f"| keys rebuilt (features, warning, risk) | {drill['keys']['features']:,}, "
        f"{drill['keys']['warning']:,}, {drill['keys']['risk']:,} |",
        f"| every key back and both epoch keys whole | {'yes' if drill['complete'] else 'NO'} |",
        "",
    ]
