"""Starts, stops and reports the local riskstream platform: Kafka (KRaft, one node), Redis
and the services, each a detached process with a pid file and a log under the run directory.

Usage: ``python -m deploy.platform up|down|status|install [options]``. Every option has an
environment variable (see ``--help``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from deploy.platform.config import ALL_COMPONENTS, PlatformConfig, parse_components
from deploy.platform.lifecycle import down, install, status, up
from deploy.platform.processes import PlatformError


def _parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    defaults = PlatformConfig.from_env(environ)
    parser = argparse.ArgumentParser(
        prog="python -m deploy.platform", description=__doc__.split("\n\n")[0] if __doc__ else ""
    )
    parser.add_argument("command", choices=("up", "down", "status", "install"))
    parser.add_argument(
        "--run-dir", type=Path, default=defaults.run_dir, help="env RISKSTREAM_RUN_DIR"
    )
    parser.add_argument(
        "--kafka-port", type=int, default=defaults.kafka_port, help="env RISKSTREAM_KAFKA_PORT"
    )
    parser.add_argument(
        "--kafka-controller-port",
        type=int,
        default=defaults.kafka_controller_port,
        help="env RISKSTREAM_KAFKA_CONTROLLER_PORT",
    )
    parser.add_argument(
        "--redis-port", type=int, default=defaults.redis_port, help="env RISKSTREAM_REDIS_PORT"
    )
    parser.add_argument(
        "--prometheus-port",
        type=int,
        default=defaults.prometheus_port,
        help="env RISKSTREAM_PROMETHEUS_PORT",
    )
    parser.add_argument(
        "--components",
        default=",".join(defaults.components),
        help=f"comma-separated, from {','.join(ALL_COMPONENTS)} "
        "(env RISKSTREAM_PLATFORM_COMPONENTS); service ports: env RISKSTREAM_<SERVICE>_PORT",
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    """The command line; returns the exit status (1 with a message on PlatformError)."""
    args = _parser(environ).parse_args(argv)
    try:
        config = replace(
            PlatformConfig.from_env(environ),
            run_dir=args.run_dir.resolve(),
            kafka_port=args.kafka_port,
            kafka_controller_port=args.kafka_controller_port,
            redis_port=args.redis_port,
            prometheus_port=args.prometheus_port,
            components=parse_components(args.components),
        )
        started = time.monotonic()
        if args.command == "install":
            install(config)
            print(f"installed in {time.monotonic() - started:.1f} s")
        elif args.command == "status":
            for row in status(config):
                pid = "-" if row.pid is None else str(row.pid)
                print(f"{row.name:<10} pid {pid:<8} port {row.port:<6} {row.state}")
        else:
            outcome = up(config) if args.command == "up" else down(config)
            for name, what in outcome.items():
                print(f"{name:<10} {what}")
            print(f"{args.command} took {time.monotonic() - started:.1f} s")
    except PlatformError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
