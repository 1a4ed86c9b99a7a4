"""The ``otabot`` command: one sub-command per way of using otabot (README, "Commands").

Exit codes (``otabot.cli.process``): 0 ok, 2 usage error, 1 anything else, always
with a one-line message ``otabot <command>: …`` on stderr and never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from otabot import __version__
from otabot.cli import demo, emulator, jobs, serve
from otabot.cli.process import EXIT_FAILURE, EXIT_INTERRUPTED, CommandError
from otabot.config import ConfigError
from otabot.iot.errors import OtabotError

logger = logging.getLogger("otabot")


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
    prefix = f"otabot {args.command}:"
    try:
        code: int = args.run(args)
    except CommandError as error:
        print(f"{prefix} {error}", file=sys.stderr)
        return error.exit_code
    except ConfigError as error:
        print(f"{prefix} configuration error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except OtabotError as error:
        print(f"{prefix} {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{prefix} interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        logger.debug("unexpected failure", exc_info=True)
        print(f"{prefix} unexpected error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILURE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
