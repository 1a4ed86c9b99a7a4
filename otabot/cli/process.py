"""What every ``otabot`` sub-command shares: exit codes, the one-line failure, stopping on signals.

A sub-command's ``run(args)`` returns ``EXIT_OK`` or raises: ``UsageError`` (exit 2)
for input no call can answer, any ``OtabotError`` or ``ConfigError`` (exit 1) for the
rest. ``main`` turns each into ONE line on stderr, always ``otabot <command>: …``, and
never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

from otabot.iot.errors import OtabotError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class CommandError(OtabotError):
    """A sub-command cannot go on; the message is the whole line the user sees."""

    exit_code = EXIT_FAILURE


class UsageError(CommandError):
    """The command line itself is wrong; nothing was called."""

    exit_code = EXIT_USAGE


class ArgumentsError(UsageError):
    """argparse refused the command line; ``prog`` is ``otabot <command>``."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a refused command line is one ``otabot <command>: …`` line like every
    other failure (argparse's own is a usage dump and ``error:``)."""

    def error(self, message: str) -> NoReturn:
        raise ArgumentsError(self.prog, message)


def whole_number(low: int, high: int, note: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``, or a usage error
    that says so (``argument --port: must be …``)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high}{note}, not {text!r}"
            )
        return value

    return parse


def listen_host(text: str) -> str:
    """An argparse ``type``: an address this machine can listen on (an IP address or a
    name it resolves), checked before anything starts."""
    try:
        socket.getaddrinfo(text, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an address this machine can listen on ({reason})"
        ) from None
    return text


def add_listen_options(parser: argparse.ArgumentParser, *, what: str, port: int) -> None:
    """``--host`` and ``--port``, the same for every sub-command that listens."""
    parser.add_argument(
        "--host",
        type=listen_host,
        default="127.0.0.1",
        help=f"{what} address (default 127.0.0.1; 0.0.0.0 listens on every interface)",
    )
    parser.add_argument(
        "--port",
        type=whole_number(0, 65535, " (0 picks a free one)"),
        default=port,
        help=f"{what} port (default {port}; 0 picks a free one)",
    )


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while inside; the previous handlers come back after."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def wait_for(stop: threading.Event, poll: float = 0.5) -> None:
    """Block until ``stop`` is set; wakes every ``poll`` s so signal handlers get to run."""
    while not stop.wait(poll):
        pass
