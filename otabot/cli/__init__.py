"""The ``otabot`` command: one sub-command per way of using otabot (see SPEC.md).

Exit codes: 0 ok, 2 usage error, 1 anything else, always with a one-line message
on stderr and never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from otabot import __version__
from otabot.cli import demo, emulator, jobs, serve
from otabot.config import ConfigError
from otabot.iot.errors import OtabotError

logger = logging.getLogger("otabot")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otabot",
        description=(
            "Which OTA update batches has this IoT device been in, and where do they stand?"
        ),
    )
    parser.add_argument("--version", action="version", version=f"otabot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (serve, jobs, emulator, demo):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command and return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as error:
        print(f"otabot: configuration error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except OtabotError as error:
        print(f"otabot: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("otabot: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        logger.debug("unexpected failure", exc_info=True)
        print(f"otabot: unexpected error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILURE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
