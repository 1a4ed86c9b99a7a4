"""``otabot emulator``: run the local IoT Platform until SIGINT or SIGTERM.

Prints one line with the URL and the AccessKeyId to use, so a second terminal can
point ``OTABOT_IOT_ENDPOINT`` at it. A taken port or a bad fleet file is one line
on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from otabot.emulator.fleet import Fleet, FleetError, load_fleet, sample_fleet
from otabot.emulator.server import EmulatorServer

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def add_parser(subparsers: Any) -> None:
    """Add ``otabot emulator`` to the command's sub-parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulator",
        help="run a local IoT Platform (ListOTAJobByDevice) for development and demos",
        description=(
            "Serve a local Alibaba Cloud IoT Platform that verifies V1/V3 signatures, "
            "enforces --qps per AccessKeyId and answers ListOTAJobByDevice from a fleet "
            "(the built-in sample fleet unless --fleet is given)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9000, help="port (0 picks a free one)")
    parser.add_argument("--fleet", metavar="FILE", help="fleet JSON file (SPEC.md format)")
    parser.add_argument("--qps", type=float, default=10.0, help="calls per second per AccessKeyId")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 1 if it cannot start, 2 on bad usage."""
    if args.qps <= 0:
        print("otabot: --qps must be positive", file=sys.stderr)
        return EXIT_USAGE
    if not 0 <= args.port <= 65535:
        print("otabot: --port must be 0-65535", file=sys.stderr)
        return EXIT_USAGE
    try:
        fleet: Fleet = load_fleet(args.fleet) if args.fleet else sample_fleet()
    except FleetError as error:
        print(f"otabot: bad fleet file: {error}", file=sys.stderr)
        return EXIT_FAILURE
    server = EmulatorServer(fleet, host=args.host, port=args.port, qps=args.qps)
    try:
        server.start()
    except OSError as error:
        print(
            f"otabot: cannot listen on {args.host}:{args.port}: {error.strerror or error}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        key_ids = ", ".join(fleet.access_key_ids)
        print(
            f"otabot emulator at {server.url} (AccessKeyId {key_ids}; "
            f"{len(fleet.products)} products, {len(fleet.jobs)} jobs, {server.platform.qps} qps)",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.stop()
    return EXIT_OK
