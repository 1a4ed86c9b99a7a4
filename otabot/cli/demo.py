"""``otabot demo``: the whole bot on this machine, with a page that plays Slack's side.

Runs until Ctrl-C or SIGTERM, then stops every server and thread and exits 0.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from otabot.cli.process import (
    EXIT_OK,
    CommandError,
    UsageError,
    add_listen_options,
    stop_on_signals,
    wait_for,
)
from otabot.config import ConfigError, Settings, http_url
from otabot.demo.runner import Demo, DemoOptions
from otabot.logs import configure_logging

READY_PREFIX = "otabot demo is running at "


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="everything offline: emulator + Slack app + a local Slack-like page",
        description=(
            "Start the IoT Platform emulator with the sample fleet, the real Slack app over "
            "HTTP and a local page that plays Slack's side, then open the printed URL and "
            "type /ota commands. With --endpoint (or ALIBABA_CLOUD_* credentials in the "
            "environment) the app asks that IoT Platform instead of the emulator."
        ),
    )
    add_listen_options(parser, what="page", port=3000)
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="a real IoT Platform endpoint (uses the ALIBABA_CLOUD_* credentials)",
    )
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="use the local emulator even when credentials are configured",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.endpoint and args.emulator:
        raise UsageError("--endpoint and --emulator exclude each other")
    if args.endpoint:
        try:
            http_url("--endpoint", args.endpoint)
        except ConfigError as error:
            raise UsageError(str(error)) from None
    environment = Settings.from_env()
    demo = Demo(
        environment,
        DemoOptions(
            host=args.host, port=args.port, endpoint=args.endpoint, force_emulator=args.emulator
        ),
    )
    configure_logging(demo.logging_settings(), long_running=True)
    with stop_on_signals() as stop:
        try:
            try:
                demo.start()
            except OSError as error:
                raise CommandError(
                    f"cannot listen on {args.host}:{args.port}: {error.strerror or error}"
                ) from None
            _print_banner(demo)
            wait_for(stop)
            print("otabot demo: stopping", file=sys.stderr, flush=True)
        finally:
            demo.stop()
    print("otabot demo: stopped", flush=True)
    return EXIT_OK


def _print_banner(demo: Demo) -> None:
    side = demo.side
    assert side is not None
    iot = (
        f"local emulator with the sample fleet ({demo.iot_endpoint})"
        if demo.uses_emulator
        else demo.iot_endpoint
    )
    lines = [
        f"{READY_PREFIX}{demo.url}",
        f"  IoT Platform: {iot}",
        f"  Slack app:    {side.events_url} (signed with a secret made for this run)",
        "Type these in the page's message box:",
        *(f"  {example}" for example in demo.examples),
        "Ctrl-C stops it.",
    ]
    print("\n".join(lines), flush=True)
