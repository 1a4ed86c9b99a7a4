"""What an operator sees running ``otabot``: a failing command is exactly one line on
stderr that says what went wrong and where, and exits 1 (2 for a usage error).

Every test runs the command as a subprocess, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from otabot.emulator.server import EmulatorServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SHOWCASE = "FJFx8JzpnhpIsKftRjjm030100"
SAMPLE_KEYS = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "testid",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "testsecret",
}


def base_env(**variables: str) -> dict[str, str]:
    """An environment with nothing configured but what is given; the ECS metadata service
    (the chain's last resort, off the machine) is off."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        **variables,
    }


def otabot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otabot", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure's only line on stderr."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_failing_lookup_is_one_line_though_it_was_retried(emulator: EmulatorServer) -> None:
    emulator.set_faults(error="ServiceUnavailable", count=10)
    env = base_env(OTABOT_IOT_ENDPOINT=emulator.url, **SAMPLE_KEYS)
    result = otabot(env, "jobs", "a19mzPZabcd/light1", SHOWCASE)
    assert result.returncode == 1
    assert one_line(result).startswith("otabot jobs: IoT API unavailable: ")
    assert emulator.stats()["calls"] > 1  # it did retry, quietly


def test_otabot_log_level_brings_the_retry_lines_back(emulator: EmulatorServer) -> None:
    emulator.set_faults(error="ServiceUnavailable", count=10)
    env = base_env(OTABOT_IOT_ENDPOINT=emulator.url, OTABOT_LOG_LEVEL="INFO", **SAMPLE_KEYS)
    result = otabot(env, "jobs", "a19mzPZabcd/light1", SHOWCASE)
    assert result.returncode == 1
    assert "retrying in" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("otabot jobs: IoT API unavailable: ")
