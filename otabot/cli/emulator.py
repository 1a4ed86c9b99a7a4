"""``otabot emulator``: run the local IoT Platform until SIGINT or SIGTERM.

Prints one line with the URL and the AccessKeyId to use, so a second terminal can
point ``OTABOT_IOT_ENDPOINT`` at it. A bad ``--qps`` is a usage error (exit 2) naming
the item; a taken port or a bad fleet file is one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Mapping
from typing import Any

from otabot.cli.process import (
    EXIT_OK,
    CommandError,
    UsageError,
    add_listen_options,
    stop_on_signals,
    wait_for,
)
from otabot.emulator.fleet import Fleet, FleetError, load_fleet, sample_fleet
from otabot.emulator.server import EmulatorServer
from otabot.iot.actions import parse_qps_spec


def add_parser(subparsers: Any) -> None:
    """Add ``otabot emulator`` to the command's sub-parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulator",
        help="run a local IoT Platform (the OTA read actions) for development and demos",
        description=(
            "Serve a local Alibaba Cloud IoT Platform that verifies V1/V3 signatures, "
            "enforces each action's quota per AccessKeyId and answers the seven OTA read "
            "actions from a fleet (the built-in sample fleet unless --fleet is given)."
        ),
    )
    add_listen_options(parser, what="API", port=9000)
    parser.add_argument("--fleet", metavar="FILE", help="fleet JSON file (docs/iot-api.md)")
    parser.add_argument(
        "--qps",
        metavar="SPEC",
        default="",
        help=(
            "calls per second per AccessKeyId: N for every action and/or Action=M, "
            "e.g. 8,QueryDeviceDetail=40 (default: each action's documented quota)"
        ),
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 1 if it cannot start, 2 on bad usage."""
    try:
        qps = parse_qps_spec(args.qps)
    except ValueError as error:
        raise UsageError(f"--qps: {error}") from None
    try:
        fleet: Fleet = load_fleet(args.fleet) if args.fleet else sample_fleet()
    except FleetError as error:
        raise CommandError(f"bad fleet file: {error}") from None
    server = EmulatorServer(fleet, host=args.host, port=args.port, qps=qps)
    try:
        server.start()
    except OSError as error:
        raise CommandError(
            f"cannot listen on {args.host}:{args.port}: {error.strerror or error}"
        ) from None
    with stop_on_signals() as stop:
        try:
            key_ids = ", ".join(fleet.access_key_ids)
            print(
                f"otabot emulator at {server.url} (AccessKeyId {key_ids}; {len(fleet.products)} "
                f"products, {len(fleet.jobs)} jobs, {describe_quota(server.platform.qps)})",
                flush=True,
            )
            wait_for(stop)
        finally:
            server.stop()
    return EXIT_OK


def describe_quota(limits: Mapping[str, int]) -> str:
    """``10 qps per action, QueryDeviceDetail=50``: the common limit, then the exceptions."""
    common = Counter(limits.values()).most_common(1)[0][0]
    others = [f"{name}={limit}" for name, limit in limits.items() if limit != common]
    return ", ".join([f"{common} qps per action", *others])
