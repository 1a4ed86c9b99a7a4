"""HTTP mode in-process: Bolt's WSGI adapter under waitress, /slack/events and /healthz."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from otabot.slack.http import create_wsgi_app
from otabot.wsgi import BackgroundWsgiServer
from tests.helpers import SHOWCASE_FIRMWARE_ID
from tests.slack.conftest import SlackHarness, command_body, sign


@pytest.fixture
def served(harness: SlackHarness) -> Iterator[str]:
    # Closed from the server's own loop thread: closing waitress from another thread races it.
    server = BackgroundWsgiServer(create_wsgi_app(harness.app), threads=2, name="test-http")
    server.start()
    yield server.url
    server.stop()


def test_healthz_answers_ok(served: str) -> None:
    response = requests.get(served + "/healthz", timeout=5)
    assert response.status_code == 200 and response.json() == {"ok": True}


def test_unknown_path_is_404(served: str) -> None:
    assert requests.get(served + "/nope", timeout=5).status_code == 404


def test_signed_command_over_http_is_acked_and_answered(served: str, harness: SlackHarness) -> None:
    body = command_body(f"light/light1 {SHOWCASE_FIRMWARE_ID}", harness.recorder.response_url())
    headers = {name: values[0] for name, values in sign(body).items()}
    response = requests.post(served + "/slack/events", data=body, headers=headers, timeout=5)
    assert response.status_code == 200
    assert "OTA jobs · light1" in str(harness.recorder.wait_for_responses(1))


def test_unsigned_post_over_http_is_401(served: str, harness: SlackHarness) -> None:
    body = command_body(f"light/light1 {SHOWCASE_FIRMWARE_ID}", harness.recorder.response_url())
    response = requests.post(
        served + "/slack/events",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert response.status_code == 401
    harness.drain()
    assert harness.service.calls == []
