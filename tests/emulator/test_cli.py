"""``otabot emulator``: the start line, clean stop on signals, refusals with one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from otabot.cli import main
from otabot.emulator.server import EmulatorServer

# Runs only this sub-command, so the test depends on nothing but otabot.cli.emulator.
RUNNER = """
import argparse, sys
from otabot.cli import emulator
parser = argparse.ArgumentParser(prog="otabot")
emulator.add_parser(parser.add_subparsers())
args = parser.parse_args(["emulator", *sys.argv[1:]])
sys.exit(args.run(args))
"""


def run_emulator(*argv: str) -> int:
    """``otabot emulator ARGV…`` in this process, as the console script runs it."""
    return main(["emulator", *argv])


@pytest.fixture
def running() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "--port", "0", "--qps", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(timeout=5)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    process.stderr.close()


def start_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.readline()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_prints_url_and_key_then_stops_cleanly_on_a_signal(
    running: subprocess.Popen[str], signum: int
) -> None:
    line = start_line(running)
    assert "AccessKeyId testid" in line
    url = line.split()[3]
    assert url.startswith("http://127.0.0.1:")
    assert requests.get(f"{url}/__emulator/health", timeout=5).json()["status"] == "ok"
    running.send_signal(signum)
    assert running.wait(timeout=10) == 0
    assert running.stderr is not None
    assert running.stderr.read() == ""


def test_bad_fleet_file_is_one_line_naming_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({"AccessKeys": {"testid": "x"}, "Products": [{"Devices": []}]}))
    assert run_emulator("--fleet", str(path)) == 1
    error = capsys.readouterr().err
    assert (
        error
        == f"otabot emulator: bad fleet file: {path}: Products[0]: missing field 'ProductKey'\n"
    )


def test_fleet_file_syntax_error_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fleet.json"
    path.write_text('{"AccessKeys": {\n\n}}}')
    assert run_emulator("--fleet", str(path)) == 1
    assert f"{path} line 3 column 3" in capsys.readouterr().err


def test_a_port_in_use_is_one_line_and_exit_1(
    emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_emulator("--port", str(emulator.port)) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"otabot emulator: cannot listen on 127.0.0.1:{emulator.port}:")
    assert error.count("\n") == 1


def test_non_positive_qps_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_emulator("--qps", "0") == 2
    assert "--qps" in capsys.readouterr().err
