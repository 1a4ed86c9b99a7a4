"""``otabot`` commands in subprocesses for the benches: each its own process (and GIL).

Each binds port 0 and its URL is read from the line it prints when ready, so no port
is guessed and released before the child binds it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

EMULATOR_READY = "otabot emulator at "
SERVE_READY = "otabot serve: serving /ota for "


@contextmanager
def otabot_process(
    args: list[str], ready: str, url_of: Callable[[str], str], env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Run ``otabot ARGS…`` until leaving; yield ``url_of`` its ready line (the first line
    starting ``ready``); SIGTERM it afterwards."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "otabot", *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=None if env is None else {"PATH": os.environ.get("PATH", ""), **env},
        )
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith(ready):
                    break
            else:
                process.wait(10)
                errors.seek(0)
                raise SystemExit(f"otabot {args[0]} did not start: {errors.read().strip()!r}")
            yield url_of(line)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            if process.stdout is not None:
                process.stdout.close()


@contextmanager
def otabot_emulator(*args: str) -> Iterator[str]:
    """``otabot emulator --port 0 ARGS…``; yields its URL."""
    with otabot_process(
        ["emulator", "--host", "127.0.0.1", "--port", "0", *args],
        EMULATOR_READY,
        lambda line: line.removeprefix(EMULATOR_READY).split()[0],
    ) as url:
        yield url


@contextmanager
def otabot_serve(env: Mapping[str, str], *args: str) -> Iterator[str]:
    """``otabot serve ARGS…`` with ``env`` (and PATH) as its whole environment; yields its
    base URL."""
    with otabot_process(
        ["serve", *args],
        SERVE_READY,
        lambda line: line.rsplit(" on ", 1)[1].strip().removesuffix("/slack/events"),
        env,
    ) as url:
        yield url
