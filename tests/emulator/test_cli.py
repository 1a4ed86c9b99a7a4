"""``otabot emulator``: the start line, clean stop on signals, refusals with one line."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from otabot.cli import main
from otabot.emulator.server import EmulatorServer
from tests.helpers import SAMPLE_ACCESS_KEY_ID, ReadyProcess

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


def emulator_process(*argv: str) -> ReadyProcess:
    """``otabot emulator --port 0 ARGV…`` in a subprocess (stopped by leaving ``with``)."""
    return ReadyProcess([sys.executable, "-c", RUNNER, "--port", "0", *argv])


@pytest.fixture
def running() -> Iterator[ReadyProcess]:
    with emulator_process("--qps", "5,QueryDeviceDetail=40") as process:
        yield process


def start_line(process: ReadyProcess) -> str:
    """The first line it prints."""
    return process.wait_for("")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_prints_url_and_key_then_stops_cleanly_on_a_signal(
    running: ReadyProcess, signum: int
) -> None:
    line = start_line(running)
    assert f"(AccessKeyId {SAMPLE_ACCESS_KEY_ID}; 2 products, 29 jobs, " in line
    assert line.rstrip().endswith("5 qps per action, QueryDeviceDetail=40)")
    url = line.split()[3]
    assert url.startswith("http://127.0.0.1:")
    assert requests.get(f"{url}/__emulator/health", timeout=5).json()["status"] == "ok"
    running.process.send_signal(signum)
    assert running.process.wait(timeout=10) == 0
    assert running.stderr() == ""


@pytest.mark.parametrize(
    ("argv", "quota"),
    [((), "10 qps per action, QueryDeviceDetail=50"), (("--qps", "10"), "10 qps per action")],
    ids=["documented", "one-for-all"],
)
def test_the_start_line_names_each_actions_quota(argv: tuple[str, ...], quota: str) -> None:
    with emulator_process(*argv) as process:
        line = start_line(process)
        assert line.startswith("otabot emulator at http://127.0.0.1:")
        assert line.rstrip().endswith(f"29 jobs, {quota})")
        process.process.send_signal(signal.SIGTERM)
        assert process.process.wait(timeout=10) == 0


def test_bad_fleet_file_is_one_line_naming_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(
        json.dumps({"AccessKeys": {SAMPLE_ACCESS_KEY_ID: "x"}, "Products": [{"Devices": []}]})
    )
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
    assert capsys.readouterr().err == (
        f"otabot emulator: 127.0.0.1:{emulator.port} is already in use "
        "(choose another with --port)\n"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0", "'0': calls per second must be above 0 and at most 10000"),
        ("ten", "'ten': 'ten' is not a number"),
        ("8,Pub=3", "'Pub=3': Pub is not an action otabot calls"),
        ("QueryOTAJob=2,QueryOTAJob=3", "'QueryOTAJob=3': QueryOTAJob is given twice"),
    ],
)
def test_a_bad_qps_spec_is_a_usage_error_naming_the_item(
    capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    assert run_emulator("--qps", spec, "--port", "0") == 2
    error = capsys.readouterr().err
    assert error.startswith(f"otabot emulator: --qps: {message}")
    assert error.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[" * 100_000, "nested too deeply"),
        ('{"AccessKeys": {"testid": "x"}, "IotInstanceId": ' + "1" * 5000 + "}", "more than 20"),
        ('{"AccessKeys": {"testid": "x"}, "AccessKeys": {}}', "duplicate key 'AccessKeys'"),
        (
            '{"AccessKeys": {"k": "s"}, "Products": [{"ProductKey": "p", "Devices": ["dev1\\n"]}]}',
            "Products[0].Devices[0]: malformed value 'dev1\\n'",
        ),
    ],
    ids=["nested", "huge-integer", "duplicate-key", "newline-in-name"],
)
def test_a_hostile_fleet_file_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, reason: str
) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(content)
    assert run_emulator("--fleet", str(path), "--port", "0") == 1
    error = capsys.readouterr().err
    assert error.startswith(f"otabot emulator: bad fleet file: {path}: ")
    assert reason in error and error.count("\n") == 1
