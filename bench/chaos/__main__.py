"""``python -m bench.chaos`` (``make chaos``): a three-broker Kafka and a Redis of its own on
free ports in a temporary directory, the pipeline on them, ``RISKSTREAM_CHAOS_ROUNDS``
rounds of faults (``--rounds`` overrides), the verifier; prints one verdict line, writes
the report (``bench/chaos-report.md`` unless ``--report`` says otherwise) and exits 1 when
the verdict is FAIL. About ten minutes with the defaults on two cores."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
import time
from pathlib import Path

from bench.chaos.report import render_report
from bench.chaos.run import ChaosRun, ChaosSettings
from bench.machine import machine_facts
from bench.run import kafka_version
from deploy.harness import BackingServices, isolated_settings
from deploy.platform.paths import DEFAULT_RUN_DIR, REPO_ROOT
from deploy.platform.services import ensure_default_bundle

REPORT = REPO_ROOT / "bench" / "chaos-report.md"
BROKERS = 3


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--rounds", type=int, help="rounds of faults (RISKSTREAM_CHAOS_ROUNDS)")
    parser.add_argument("--report", type=Path, default=REPORT, help="where the report goes")
    parser.add_argument(
        "--keep", type=Path, help="run in this directory and keep it (logs, data) afterwards"
    )
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    overrides = {} if arguments.rounds is None else {"rounds": arguments.rounds}
    chaos = ChaosSettings(**overrides)
    bundle = ensure_default_bundle(DEFAULT_RUN_DIR)
    facts = machine_facts(REPO_ROOT, kafka_version(DEFAULT_RUN_DIR / "kafka" / "lib") or "?")
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        directory = arguments.keep or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="riskstream-chaos-"))
        )
        backing = BackingServices(directory, brokers=BROKERS)
        try:
            backing.start()
            settings = isolated_settings(backing, "chaos.")
            run = ChaosRun(backing, settings, chaos, bundle, directory / "services")
            verdict = asyncio.run(run.run())
        finally:
            backing.close()
    seconds = time.monotonic() - began
    print(verdict.line())
    arguments.report.write_text(render_report(verdict, run.faults, chaos, BROKERS, seconds, facts))
    sys.exit(0 if verdict.passed else 1)


if __name__ == "__main__":
    main()
