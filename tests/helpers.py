"""What the tests share: the sample IDs, the fake clock, Slack's side, and a subprocess
whose ready line can be waited for.

The benches import ``ReadyProcess`` too, so this module needs nothing but the standard
library and otabot (no pytest). The sample fleet's own IDs are otabot's
(``otabot.emulator.fleet``); the rest are here, each under one name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self

from otabot.demo.slack_side import DemoWorkspace, SlackSide
from otabot.emulator.fleet import (
    LIGHT_PRODUCT_KEY,
    METER_FIRMWARE_ID,
    METER_PRODUCT_KEY,
    ROLLOUT_FIRMWARE_ID,
    ROLLOUT_JOB_ID,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
)
from otabot.emulator.server import EmulatorServer

REPO = Path(__file__).resolve().parents[1]

# ----- sample IDs ---------------------------------------------------------------------------
__all__ = [
    "LIGHT_PRODUCT_KEY",
    "METER_FIRMWARE_ID",
    "METER_PRODUCT_KEY",
    "ROLLOUT_FIRMWARE_ID",
    "ROLLOUT_JOB_ID",
    "SAMPLE_ACCESS_KEY_ID",
    "SAMPLE_ACCESS_KEY_SECRET",
    "SHOWCASE_FIRMWARE_ID",
]
# The job of the API reference's examples: the in-memory world's (tests.world), the canned
# answers', the fleet file spec's; not one of the sample fleet's.
EXAMPLE_JOB_ID = "HvKuBpuk3rdk6E92CPQN020100"
# OTABOT_PRODUCT_ALIASES for the sample fleet's two products.
SAMPLE_ALIASES = f"light={LIGHT_PRODUCT_KEY},meter={METER_PRODUCT_KEY}"
# The test workspace's Slack app: how Slack signs its requests, the app's tokens.
SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-app-token"
# The team, channel and person of the test workspace, and the bot's IDs.
TEST_WORKSPACE = DemoWorkspace(
    team_id="T0001",
    team_domain="test",
    team_name="Test Team",
    channel_id="C0001",
    channel_name="incident",
    user_id="U0001",
    user_name="oncall",
    api_app_id="A0001",
    bot_user_id="UBOT",
    bot_id="B0001",
    other_channels=None,  # the app is in every channel a test names
)


def api_job(job_id: str, stamp: str, status: str = "IN_PROGRESS", **fields: Any) -> dict[str, Any]:
    """A job of the light product's showcase firmware in the API's field names, as
    ``ListOTAJobByDevice`` lists one and the emulator's fleet file takes one, made, modified
    and started at ``stamp``; ``fields`` add to it or replace."""
    return {
        "JobId": job_id,
        "FirmwareId": SHOWCASE_FIRMWARE_ID,
        "ProductKey": LIGHT_PRODUCT_KEY,
        "JobStatus": status,
        "JobType": "UPGRADE_FIRMWARE",
        "SelectionType": "STATIC",
        "TargetSelection": "SPECIFIC",
        "UtcCreate": stamp,
        "UtcModified": stamp,
        "UtcStartTime": stamp,
        **fields,
    }


def sample_env(endpoint: str | None = None, **more: str) -> dict[str, str]:
    """An environment for otabot with the sample fleet's AccessKey and aliases (and
    PATH); ``endpoint`` is OTABOT_IOT_ENDPOINT."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": SAMPLE_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SAMPLE_ACCESS_KEY_SECRET,
        "OTABOT_PRODUCT_ALIASES": SAMPLE_ALIASES,
    }
    if endpoint is not None:
        env["OTABOT_IOT_ENDPOINT"] = endpoint
    return env | more


def make_slack_side() -> SlackSide:
    """Slack's side as the tests play it: the test workspace, the test app's secret and
    tokens (serve it with ``otabot.demo.web.SlackServer``)."""
    return SlackSide(SIGNING_SECRET, BOT_TOKEN, workspace=TEST_WORKSPACE, app_token=APP_TOKEN)


# ----- the fake clock ----------------------------------------------------------------------
# Where the fake wall clock stands when the monotonic one reads 0.
WALL_EPOCH = datetime(2024, 1, 1, tzinfo=UTC).timestamp()


class FakeClock:
    """Time that moves only when told (``advance``, or setting ``now``) or slept on.

    Called, it is a monotonic clock; ``wall()`` is a wall clock (POSIX seconds) that
    follows it, ``wall_epoch + now``; ``sleep`` advances it and keeps what was asked in
    ``sleeps``. It never goes back.
    """

    def __init__(self, start: float = 1000.0, *, wall_epoch: float = WALL_EPOCH) -> None:
        self.now = start
        self.wall_epoch = wall_epoch
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)

    def wall(self) -> float:
        return self.wall_epoch + self()


@contextmanager
def frozen_emulator(**options: Any) -> Iterator[EmulatorServer]:
    """An emulator (``options`` for ``EmulatorServer``, the sample fleet by default) whose
    clocks stand still: every call falls in the same second."""
    now = time.time()
    with EmulatorServer(monotonic=lambda: now, wall_clock=lambda: now, **options) as server:
        yield server


# ----- a subprocess and its ready line --------------------------------------------------------
class NotReady(Exception):
    """The process ended, or said nothing like its ready line in time."""


class ReadyProcess:
    """``argv`` in a subprocess, its stdout read line by line on a thread (``output``), so
    the line it prints when ready can be waited for without blocking on a child that is
    silent or dead; stderr goes to a file (``stderr_path``, or a temporary one), so a
    chatty child never blocks on a full pipe. ``stop()`` (or leaving ``with``) ends it.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = REPO,
        stderr_path: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        # Closed by close(): the file outlives this call.
        self._errors: IO[str] = (
            stderr_path.open("w+") if stderr_path else tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        )
        self.process = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            text=True,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
        self.output: list[str] = []  # every line read so far, without its newline
        self._stderr: str | None = None  # all of stderr, once stopped
        self._read = threading.Condition()
        self._ended = False
        assert self.process.stdout is not None
        self._pumping = threading.Thread(target=self._pump, args=(self.process.stdout,))
        self._pumping.daemon = True
        self._pumping.start()

    @classmethod
    def otabot(cls, *args: str, **options: Any) -> ReadyProcess:
        """``python -m otabot ARGS…``."""
        return cls([sys.executable, "-m", "otabot", *args], **options)

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            with self._read:
                self.output.append(line.rstrip("\n"))
                self._read.notify_all()
        with self._read:
            self._ended = True
            self._read.notify_all()

    def wait_for(self, prefix: str, timeout: float = 20.0) -> str:
        """The first line of stdout that starts with ``prefix`` (``""``: the first line);
        NotReady, with the end of stderr, if none comes within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._read:
            while True:
                for line in self.output:
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if self._ended or left <= 0:
                    break
                self._read.wait(left)
        self.stop(grace=5)
        raise NotReady(f"{' '.join(self.argv[1:4])} did not start: {self.stderr()[-2000:]!r}")

    def stderr(self) -> str:
        """What it wrote to stderr so far (all of it, once stopped)."""
        if self._stderr is not None:
            return self._stderr
        self._errors.flush()
        self._errors.seek(0)
        return self._errors.read()

    def stop(self, grace: float = 30.0) -> int:
        """SIGTERM (if still running), SIGKILL after ``grace`` s; then its files are closed
        (``stderr()`` still says what it wrote) and its exit code returned. Idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        if self._stderr is None:
            self._pumping.join(5)  # the child has gone: its stdout ends
            self._stderr = self.stderr()
            self._errors.close()
            if self.process.stdout is not None:
                self.process.stdout.close()
        return code

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
