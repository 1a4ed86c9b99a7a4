"""The ``otabot`` command: one sub-command per way of using otabot (each has its section in
the README).

Exit codes (``otabot.cli.process``): 0 ok, 2 usage error, 1 anything else, always
with a one-line message ``otabot <command>: …`` on stderr and never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from otabot import __version__
from otabot.cli import demo, emulator, queries, serve
from otabot.cli.process import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    ArgumentsError,
    CommandError,
    OneLineParser,
)
from otabot.cli.queries import ServiceOpener
from otabot.config import ConfigError
from otabot.iot.errors import OtabotError

logger = logging.getLogger("otabot")


def build_parser(
    *, environ: Mapping[str, str] | None = None, open_service: ServiceOpener | None = None
) -> argparse.ArgumentParser:
    """Every sub-command; ``environ`` and ``open_service`` let tests run a query in-process."""
    parser = OneLineParser(
        prog="otabot",
        description=(
            "What OTA update is this IoT device in, which jobs has it been in, and where "
            "do they stand?"
        ),
    )
    parser.add_argument("--version", action="version", version=f"otabot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve.add_parser(commands)
    queries.add_parsers(commands, environ=environ, open_service=open_service)
    queries.add_watch_parser(commands)
    for module in (emulator, demo):
        module.add_parser(commands)
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; a query's words may come after its flags (``… --status done 1.2.0``)."""
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "any_words", False):  # a command that only says where it lives
        return args
    words = getattr(args, "words", None)
    if extra and isinstance(words, list) and not any(item.startswith("-") for item in extra):
        words.extend(extra)
    elif extra:
        raise ArgumentsError(f"otabot {args.command}", f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    open_service: ServiceOpener | None = None,
) -> int:
    """Run one sub-command and return its exit code."""
    try:
        try:
            return _run(argv, environ=environ, open_service=open_service)
        finally:
            sys.stdout.flush()  # here, not at exit, where a closed pipe could not be caught
    except BrokenPipeError:
        # The reader went away (``otabot jobs … | head``): stop quietly, as other tools do,
        # and keep the interpreter's last flush from complaining about it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def _run(
    argv: Sequence[str] | None,
    *,
    environ: Mapping[str, str] | None,
    open_service: ServiceOpener | None,
) -> int:
    try:
        args = parse(build_parser(environ=environ, open_service=open_service), argv)
    except ArgumentsError as error:
        print(f"{error.prog}: {error}", file=sys.stderr)
        return error.exit_code
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
    except BrokenPipeError:
        raise  # not a failure of the command: see main
    except Exception as error:
        logger.debug("unexpected failure", exc_info=True)
        print(f"{prefix} unexpected error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILURE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
