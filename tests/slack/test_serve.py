"""End to end over real HTTP: ``otabot serve --http`` as a subprocess against the emulator."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from otabot.demo.slack_side import SlackSide
from otabot.emulator.server import EmulatorServer
from otabot.slack import ids
from tests.helpers import (
    APP_TOKEN,
    BOT_TOKEN,
    LIGHT_PRODUCT_KEY,
    REPO,
    SHOWCASE_FIRMWARE_ID,
    SIGNING_SECRET,
    ReadyProcess,
    sample_env,
)
from tests.slack.conftest import action_body, command_body, sign
from tests.slack.socket_mode_server import SocketModeServer

pytestmark = pytest.mark.slow

READY = "otabot serve: serving /ota for "


class ServeProcess(ReadyProcess):
    """``python -m otabot serve --http --port 0``; its URL is the one its ready line names."""

    def __init__(
        self, env: dict[str, str], args: tuple[str, ...] = ("--http", "--port", "0")
    ) -> None:
        super().__init__([sys.executable, "-m", "otabot", "serve", *args], env=env)

    def events_url(self, timeout: float = 20.0) -> str:
        return self.wait_for(READY, timeout).rsplit(" on ", 1)[1].strip()

    def post(self, url: str, body: str) -> requests.Response:
        headers = {name: values[0] for name, values in sign(body).items()}
        return requests.post(url, data=body, headers=headers, timeout=10)


def serve_env(recorder: SlackSide, emulator: EmulatorServer | None) -> dict[str, str]:
    """``otabot serve``'s whole environment: the test app's Slack secrets with ``recorder``
    as Slack, the sample fleet's AccessKey, and ``emulator`` as the IoT endpoint."""
    return sample_env(
        None if emulator is None else emulator.url,
        PYTHONPATH=str(REPO),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=recorder.api_url,
        OTABOT_PRODUCT_ALIASES=f"light={LIGHT_PRODUCT_KEY}",
    )


def run_serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``otabot serve ARGS…`` to its end (one that fails to start)."""
    return subprocess.run(
        [sys.executable, "-m", "otabot", "serve", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def served(recorder: SlackSide, emulator: EmulatorServer) -> Iterator[ServeProcess]:
    with ServeProcess(serve_env(recorder, emulator)) as process:
        yield process


def test_serve_answers_a_signed_command_and_a_page_turn_over_http(
    served: ServeProcess, recorder: SlackSide, emulator: EmulatorServer
) -> None:
    url = served.events_url()
    health = requests.get(url.replace("/slack/events", "/healthz"), timeout=5)
    assert health.status_code == 200
    started = time.monotonic()
    ack = served.post(
        url, command_body(f"light/light1 {SHOWCASE_FIRMWARE_ID}", recorder.response_url())
    )
    assert ack.status_code == 200 and time.monotonic() - started < 3
    (page1,) = recorder.wait_for_responses(1)
    assert page1["blocks"][0]["text"]["text"] == "OTA jobs · light1"
    next_value = next(
        element["value"]
        for block in page1["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == ids.ACTION_NEXT
    )
    served.post(url, action_body(ids.ACTION_NEXT, next_value, recorder.response_url("click")))
    page2: dict[str, Any] = recorder.wait_for_responses(2)[1]
    assert page2["replace_original"] is True
    assert "page 2 of 3" in json.dumps(page2, ensure_ascii=False)
    assert emulator.stats()["calls"] == 1
    assert [post.path for post in recorder.posts if post.path.startswith("/api/")] == [
        "/api/auth.test"
    ]


def test_forged_request_over_http_is_401_and_costs_no_call(
    served: ServeProcess, recorder: SlackSide, emulator: EmulatorServer
) -> None:
    url = served.events_url()
    body = command_body(f"light/light1 {SHOWCASE_FIRMWARE_ID}", recorder.response_url())
    headers = {name: values[0] for name, values in sign(body, secret="forged").items()}
    assert requests.post(url, data=body, headers=headers, timeout=10).status_code == 401
    assert served.stop() == 0
    assert emulator.stats()["calls"] == 0 and recorder.responses() == []


def test_sigterm_lets_an_in_flight_lookup_answer_then_exits_0(
    served: ServeProcess, recorder: SlackSide, emulator: EmulatorServer
) -> None:
    url = served.events_url()
    emulator.set_faults(latency_ms=700)
    ack = served.post(
        url, command_body(f"light/light2 {SHOWCASE_FIRMWARE_ID}", recorder.response_url())
    )
    assert ack.status_code == 200
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(30) == 0
    assert "OTA jobs · light2" in json.dumps(recorder.responses(), ensure_ascii=False)


def test_serve_refuses_a_bot_token_slack_rejects(recorder: SlackSide) -> None:
    recorder.auth_error = "invalid_auth"
    result = run_serve(serve_env(recorder, None), "--http", "--port", "0")
    assert result.returncode == 1
    assert "Slack refused SLACK_BOT_TOKEN (auth.test: invalid_auth)" in result.stderr
    assert BOT_TOKEN not in result.stderr + result.stdout


def test_serve_without_a_signing_secret_names_the_variable(recorder: SlackSide) -> None:
    env = serve_env(recorder, None)
    del env["SLACK_SIGNING_SECRET"]
    result = run_serve(env, "--http")
    assert result.returncode == 1 and "SLACK_SIGNING_SECRET" in result.stderr


def test_socket_mode_is_chosen_by_the_app_token_and_a_refusal_is_clear(
    recorder: SlackSide,
) -> None:
    env = {**serve_env(recorder, None), "SLACK_APP_TOKEN": APP_TOKEN}
    del env["SLACK_SIGNING_SECRET"]  # not needed in Socket Mode
    result = run_serve(env)
    assert result.returncode == 1
    assert "Slack refused SLACK_APP_TOKEN (apps.connections.open: invalid_auth)" in result.stderr
    assert APP_TOKEN not in result.stderr + result.stdout
    assert [post.path for post in recorder.posts] == [
        "/api/auth.test",
        "/api/apps.connections.open",
    ]


def test_socket_mode_acks_envelopes_and_answers_through_response_url(
    recorder: SlackSide, emulator: EmulatorServer
) -> None:
    socket_server = SocketModeServer()
    recorder.socket_url = socket_server.url
    env = {**serve_env(recorder, emulator), "SLACK_APP_TOKEN": APP_TOKEN}
    process = ServeProcess(env, args=("--port", "0"))
    try:
        assert process.events_url() == "socket mode"
        assert socket_server.connected.wait(10)
        # Nothing else listens in Socket Mode: the probes and metrics have --port.
        (said,) = [line for line in process.output if line.startswith("otabot serve: metrics")]
        metrics_url = said.rsplit(" on ", 1)[1].strip()
        ready = requests.get(metrics_url.replace("/metrics", "/readyz"), timeout=5)
        assert ready.status_code == 200 and ready.json() == {"state": "ready"}
        command = dict(
            parse_qsl(command_body(f"light/light1 {SHOWCASE_FIRMWARE_ID}", recorder.response_url()))
        )
        socket_server.send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": command,
            }
        )
        assert socket_server.next_message()["envelope_id"] == "env-1"
        (posted,) = recorder.wait_for_responses(1)
        assert posted["blocks"][0]["text"]["text"] == "OTA jobs · light1"
        help_command = dict(parse_qsl(command_body("help", recorder.response_url("help"))))
        socket_server.send(
            {
                "envelope_id": "env-2",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": help_command,
            }
        )
        ack = socket_server.next_message()
        assert ack["envelope_id"] == "env-2" and "DEVICE FIRMWARE" in json.dumps(ack["payload"])
        scraped = requests.get(metrics_url, timeout=5).text
        assert 'otabot_lookup_seconds_count{outcome="ok",source="command"} 1.0' in scraped
        assert process.stop() == 0
    finally:
        process.stop()
        socket_server.stop()


def test_serve_on_a_port_in_use_is_one_line_and_exit_1(recorder: SlackSide) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve(serve_env(recorder, None), "--http", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"otabot serve: 127.0.0.1:{port} is already in use (choose another with --port)"
    )
    assert "Traceback" not in result.stderr


def test_serve_without_iot_credentials_fails_before_calling_slack(recorder: SlackSide) -> None:
    env = serve_env(recorder, None)
    del env["ALIBABA_CLOUD_ACCESS_KEY_ID"], env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
    env["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"  # the chain's last resort stays local
    result = run_serve(env, "--http", "--port", "0")
    assert result.returncode == 1
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in result.stderr
    assert [post.path for post in recorder.posts if post.path.startswith("/api/")] == []


def test_serve_start_up_logs_no_warning(served: ServeProcess) -> None:
    served.events_url()
    served.stop()
    assert "WARNING" not in served.stderr()
