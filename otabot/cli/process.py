"""What every ``otabot`` sub-command shares: exit codes, the one-line failure, stopping on signals.

A sub-command's ``run(args)`` returns ``EXIT_OK`` or raises: ``UsageError`` (exit 2)
for input no call can answer, any ``OtabotError`` or ``ConfigError`` (exit 1) for the
rest. ``main`` turns each into ONE line on stderr, always ``otabot <command>: …``, and
never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterator
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
