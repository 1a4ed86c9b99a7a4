"""``otabot`` commands in subprocesses for the benches: each its own process (and GIL).

Each binds port 0 and its URL is read from the line it prints when ready, so no port
is guessed and released before the child binds it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import NotReady, ReadyProcess

EMULATOR_READY = "otabot emulator at "
SERVE_READY = "otabot serve: serving /ota for "
READY_WITHIN = 120.0  # seconds for a child to print its ready line


@contextmanager
def otabot_process(
    args: list[str], ready: str, url_of: Callable[[str], str], env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Run ``otabot ARGS…`` until leaving; yield ``url_of`` its ready line (the first line
    starting ``ready``); SIGTERM it afterwards (the tests' ``ReadyProcess``)."""
    full_env = None if env is None else {"PATH": os.environ.get("PATH", ""), **env}
    with ReadyProcess.otabot(*args, env=full_env, cwd=None) as process:
        try:
            line = process.wait_for(ready, timeout=READY_WITHIN)
        except NotReady as error:
            raise SystemExit(f"otabot {args[0]}: {error}") from None
        yield url_of(line)
        process.stop(grace=40)


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
