"""``otabot emulator`` in a subprocess for the benches: its own process (and GIL).

It binds port 0 and the URL is read from the line it prints, so no port is guessed
and released before the child binds it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

READY = "otabot emulator at "


@contextmanager
def otabot_emulator(*args: str) -> Iterator[str]:
    """Run ``otabot emulator --port 0 ARGS…``; yield its URL, stop it afterwards."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "otabot",
                "emulator",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.startswith(READY):
                process.wait(10)
                errors.seek(0)
                raise SystemExit(f"the emulator did not start: {errors.read().strip()!r}")
            yield line.split()[3]
        finally:
            process.terminate()
            process.wait(10)
            if process.stdout is not None:
                process.stdout.close()
