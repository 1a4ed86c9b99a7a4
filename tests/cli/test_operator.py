"""What an operator sees running ``otabot``: a failing command is exactly one line on
stderr that says what went wrong and where, and exits 1 (2 for a usage error).

Every test runs the command as a subprocess, as an operator would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from otabot.emulator.server import EmulatorServer
from tests.helpers import (
    LIGHT_PRODUCT_KEY,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
)
from tests.iot.canned import CannedApi, Reply
from tests.test_credentials import nothing_found

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLE_KEYS = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": SAMPLE_ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SAMPLE_ACCESS_KEY_SECRET,
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
    result = otabot(env, "jobs", f"{LIGHT_PRODUCT_KEY}/light1", SHOWCASE_FIRMWARE_ID)
    assert result.returncode == 1
    assert one_line(result).startswith("otabot jobs: IoT Platform is not answering right now: ")
    assert emulator.stats()["calls"] > 1  # it did retry, quietly


def test_otabot_log_level_brings_the_retry_lines_back(emulator: EmulatorServer) -> None:
    emulator.set_faults(error="ServiceUnavailable", count=10)
    env = base_env(OTABOT_IOT_ENDPOINT=emulator.url, OTABOT_LOG_LEVEL="INFO", **SAMPLE_KEYS)
    result = otabot(env, "jobs", f"{LIGHT_PRODUCT_KEY}/light1", SHOWCASE_FIRMWARE_ID)
    assert result.returncode == 1
    assert "retrying in" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("otabot jobs: IoT Platform is not answering")


PORT_RULE = "must be a whole number from 0 to 65535 (0 picks a free one)"
LISTEN_REFUSALS = [
    ("--port", "65536", f"{PORT_RULE}, not '65536'"),
    ("--port", "http", f"{PORT_RULE}, not 'http'"),
    ("--host", "nosuch.invalid", "'nosuch.invalid' is not an address this machine can listen on"),
    ("--host", "", "'' is not an address this machine can listen on"),
]
THREADS_REFUSALS = [
    ("--threads", "0", "must be a whole number from 1 to 512, not '0'"),
    ("--threads", "-3", "must be a whole number from 1 to 512, not '-3'"),
]


@pytest.mark.parametrize(
    ("command", "option", "value", "complaint"),
    [
        *(
            (command, *refusal)
            for command in ("serve", "emulator", "demo")
            for refusal in LISTEN_REFUSALS
        ),
        *(("serve", *refusal) for refusal in THREADS_REFUSALS),
    ],
)
def test_what_listens_refuses_threads_hosts_and_ports_it_could_not_serve_with(
    command: str, option: str, value: str, complaint: str
) -> None:
    result = otabot(base_env(), command, option, value)
    assert result.returncode == 2  # before anything starts or is called
    assert one_line(result).startswith(f"otabot {command}: argument {option}: {complaint}")


def slack_answering_502() -> CannedApi:
    """A local Slack Web API behind a proxy that answers every call with its 502 page."""
    slack = CannedApi().start()
    page = b"<html><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>"
    slack.queue(Reply(status=502, body=page, headers={"Content-Type": "text/html"}))
    return slack


def serve_env(api_url: str) -> dict[str, str]:
    return base_env(
        SLACK_BOT_TOKEN="xoxb-operator-bot-token",
        SLACK_SIGNING_SECRET="operator-signing-secret",
        SLACK_API_URL=api_url,
        **SAMPLE_KEYS,
    )


def test_a_502_page_from_slack_is_slack_unreachable_with_the_status_not_the_page() -> None:
    slack = slack_answering_502()
    try:
        result = otabot(serve_env(f"{slack.url}/api/"), "serve", "--http", "--port", "0")
    finally:
        slack.stop()
    assert result.returncode == 1
    assert one_line(result) == (
        f"otabot serve: could not reach Slack to check SLACK_BOT_TOKEN: {slack.url}/api/auth.test "
        "answered HTTP 502 Bad Gateway, not Slack's JSON"
    )
    assert "xoxb-operator-bot-token" not in result.stderr + result.stdout


def test_slack_not_listening_is_one_line_that_names_the_url() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        api_url = f"http://127.0.0.1:{closed.getsockname()[1]}/api/"
    result = otabot(serve_env(api_url), "serve", "--http", "--port", "0")
    assert result.returncode == 1
    assert one_line(result) == (
        f"otabot serve: could not reach Slack at {api_url}auth.test to check SLACK_BOT_TOKEN: "
        "Connection refused"
    )


def test_serve_with_nothing_configured_names_everything_missing_in_one_line(
    tmp_path: Path,
) -> None:
    result = otabot(base_env(HOME=str(tmp_path)), "serve")
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("otabot serve: configuration error: SLACK_BOT_TOKEN: is required")
    assert "SLACK_SIGNING_SECRET: is required in HTTP mode (or set SLACK_APP_TOKEN" in line
    assert "Socket Mode" in line
    assert "no Alibaba Cloud credentials found; looked at environment" in line


def test_an_unreachable_endpoint_is_one_line_that_names_its_url() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    result = otabot(
        base_env(OTABOT_IOT_ENDPOINT=endpoint, **SAMPLE_KEYS),
        "jobs",
        f"{LIGHT_PRODUCT_KEY}/light1",
        SHOWCASE_FIRMWARE_ID,
    )
    assert result.returncode == 1
    assert one_line(result).startswith(
        "otabot jobs: IoT Platform is not answering right now: "
        f"could not reach IoT Platform at {endpoint} (connection refused) — try again"
    )


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        (
            "OTABOT_IOT_ENDPOINT",
            "http://127.0.0.1:99999",
            "has a port that is not a number from 1 to 65535",
        ),
        (
            "OTABOT_REDIS_URL",
            "redis://:hunter2pass@127.0.0.1:notaport/0",
            "has a port that is not a number from 1 to 65535",
        ),
        (
            "OTABOT_REDIS_URL",
            "redis://:hunter2pass@127.0.0.1:6379/abc",
            "database 'abc' is not a whole number (redis://host/0)",
        ),
    ],
)
def test_a_malformed_url_stops_the_command_at_start_naming_the_variable(
    variable: str, value: str, complaint: str
) -> None:
    result = otabot(
        base_env(**{variable: value}, **SAMPLE_KEYS),
        "jobs",
        f"{LIGHT_PRODUCT_KEY}/light1",
        SHOWCASE_FIRMWARE_ID,
    )
    assert result.returncode == 1
    assert one_line(result) == f"otabot jobs: configuration error: {variable}: {complaint}"
    assert "hunter2pass" not in result.stderr


def test_jobs_with_only_an_aliyun_cli_profile_answers(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "current": "oncall",
                "profiles": [
                    {
                        "name": "oncall",
                        "mode": "AK",
                        "access_key_id": SAMPLE_ACCESS_KEY_ID,
                        "access_key_secret": SAMPLE_ACCESS_KEY_SECRET,
                        "region_id": "cn-shanghai",
                    }
                ],
            }
        )
    )
    env = base_env(OTABOT_IOT_ENDPOINT=emulator.url, OTABOT_ALIYUN_CONFIG=str(config))
    result = otabot(env, "jobs", f"{LIGHT_PRODUCT_KEY}/light1", SHOWCASE_FIRMWARE_ID, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] == 14
    assert result.stderr == ""


def test_jobs_without_credentials_says_where_it_looked_in_one_line(tmp_path: Path) -> None:
    result = otabot(
        base_env(HOME=str(tmp_path)), "jobs", f"{LIGHT_PRODUCT_KEY}/light1", SHOWCASE_FIRMWARE_ID
    )
    assert result.returncode == 1
    assert one_line(result) == f"otabot jobs: configuration error: {nothing_found(tmp_path)}"


def test_a_credentials_source_that_fails_is_named_in_the_one_line_only(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}/credentials"
    env = base_env(HOME=str(tmp_path), ALIBABA_CLOUD_CREDENTIALS_URI=uri)
    result = otabot(env, "jobs", f"{LIGHT_PRODUCT_KEY}/light1", SHOWCASE_FIRMWARE_ID)
    assert result.returncode == 1
    # The library's own ERROR line for the URI is not repeated above it.
    line = one_line(result)
    assert line.startswith("otabot jobs: configuration error: no Alibaba Cloud credentials found")
    assert f"credentials URI {uri} (" in line
    verbose = otabot(
        {**env, "OTABOT_LOG_LEVEL": "INFO"},
        "jobs",
        f"{LIGHT_PRODUCT_KEY}/light1",
        SHOWCASE_FIRMWARE_ID,
    )
    assert "ERROR credentials:" in verbose.stderr  # asked for, it is there


def test_serve_without_credentials_says_where_it_looked_before_calling_slack(
    tmp_path: Path,
) -> None:
    slack = slack_answering_502()  # never reached: the credentials are checked first
    env = serve_env(f"{slack.url}/api/")
    del env["ALIBABA_CLOUD_ACCESS_KEY_ID"], env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
    env["HOME"] = str(tmp_path)
    try:
        result = otabot(env, "serve", "--http", "--port", "0")
    finally:
        slack.stop()
    assert result.returncode == 1
    assert one_line(result).startswith(
        "otabot serve: configuration error: no Alibaba Cloud credentials found; looked at "
        "environment (ALIBABA_CLOUD_ACCESS_KEY_ID not set), RRSA"
    )
    assert slack.received == []


def test_demo_refuses_an_endpoint_with_a_port_past_65535() -> None:
    result = otabot(base_env(), "demo", "--endpoint", "http://127.0.0.1:99999", "--port", "0")
    assert result.returncode == 2
    assert one_line(result) == (
        "otabot demo: --endpoint: has a port that is not a number from 1 to 65535"
    )


@pytest.mark.parametrize(
    "args",
    [("--help",), ("jobs", f"{LIGHT_PRODUCT_KEY}/light1", SHOWCASE_FIRMWARE_ID)],
    ids=["help", "jobs"],
)
def test_a_reader_that_went_away_stops_the_command_quietly(
    emulator: EmulatorServer, args: tuple[str, ...]
) -> None:
    """``otabot … | head``: the pipe closes under the command; no traceback, no error line."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    env = base_env(OTABOT_IOT_ENDPOINT=emulator.url, **SAMPLE_KEYS)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "otabot", *args],
            cwd=REPO,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 1
