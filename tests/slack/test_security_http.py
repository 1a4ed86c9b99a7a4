"""Hostile HTTP at ``/slack/events``: forged, stale, malformed and oversized requests.

Every one gets a short answer in words (401, 400, 405 or 413), never a 500, never a
traceback in the body, and never reaches the lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from otabot.operations import DaemonPool, Readiness
from otabot.slack.http import MAX_BODY_BYTES, create_wsgi_app
from otabot.slack.runner import Drain, Replica
from otabot.wsgi import BackgroundWsgiServer
from tests.helpers import SHOWCASE_FIRMWARE_ID, SIGNING_SECRET
from tests.slack.conftest import SlackHarness, command_body, sign

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def served(harness: SlackHarness) -> Iterator[str]:
    server = BackgroundWsgiServer(
        create_wsgi_app(harness.app),
        threads=2,
        name="test-app",
        max_request_body_size=MAX_BODY_BYTES,
    ).start()
    yield server.url
    server.stop()


def test_serve_http_refuses_a_body_over_the_limit_unread(harness: SlackHarness) -> None:
    replica = Replica(
        harness.app,
        pool=DaemonPool(1, "test-lookup"),
        deferred=harness.deferred,
        readiness=Readiness(),
        drain=Drain(grace=0, timeout=5),
    )
    with replica.serving_http(host="127.0.0.1", port=0, threads=1) as url:
        body = b"x" * (MAX_BODY_BYTES + 1)
        assert post(url, body, signed_bytes(body)).status_code == 413


def signed_bytes(
    body: bytes, content_type: str = FORM, timestamp: int | None = None
) -> dict[str, str]:
    """Slack's headers for a raw body (which need not be UTF-8)."""
    ts = str(int(time.time()) if timestamp is None else timestamp).encode()
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts + b":" + body, hashlib.sha256)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts.decode(),
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url + "/slack/events", data=body, headers=headers, timeout=5)


def assert_no_lookup(harness: SlackHarness) -> None:
    harness.drain()
    assert harness.service.calls == [] and harness.recorder.responses() == []


def assert_answer_in_words(response: requests.Response, status: int) -> None:
    assert response.status_code == status
    assert "Traceback" not in response.text and "waitress" not in response.text
    assert json.loads(response.text)["error"]


def test_unsigned_non_utf8_body_is_401_not_500(served: str, harness: SlackHarness) -> None:
    headers = {"Content-Type": FORM, "X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": "1"}
    assert_answer_in_words(post(served, b"payload=\xff\xfe", headers), 401)
    assert_no_lookup(harness)


def test_unsigned_malformed_json_body_is_401_not_500(served: str, harness: SlackHarness) -> None:
    headers = {"Content-Type": "application/json"}
    assert_answer_in_words(post(served, b"{not json", headers), 401)
    assert_answer_in_words(post(served, b"[1, 2]", headers), 401)
    assert_no_lookup(harness)


def test_unsigned_payload_that_is_not_json_is_401_not_500(
    served: str, harness: SlackHarness
) -> None:
    assert_answer_in_words(post(served, b"payload=notjson", {"Content-Type": FORM}), 401)
    assert_no_lookup(harness)


def test_timestamp_that_is_not_a_number_is_401_not_500(served: str, harness: SlackHarness) -> None:
    body = command_body(f"light/light1 {SHOWCASE_FIRMWARE_ID}", harness.recorder.response_url())
    headers = {name: values[0] for name, values in sign(body).items()}
    headers["x-slack-request-timestamp"] = "abc"
    assert_answer_in_words(post(served, body.encode(), headers), 401)
    assert_no_lookup(harness)


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamp_more_than_300_s_off_is_401(
    served: str, harness: SlackHarness, skew: int
) -> None:
    body = command_body(f"light/light1 {SHOWCASE_FIRMWARE_ID}", harness.recorder.response_url())
    headers = signed_bytes(body.encode(), timestamp=int(time.time()) + skew)
    assert_answer_in_words(post(served, body.encode(), headers), 401)
    assert_no_lookup(harness)


def test_signed_non_utf8_body_is_400_in_words(served: str, harness: SlackHarness) -> None:
    body = b"command=%2Fota&text=\xff"
    assert_answer_in_words(post(served, body, signed_bytes(body)), 400)
    assert_no_lookup(harness)


@pytest.mark.parametrize(
    "body",
    [
        b"payload=notjson",
        b"payload=null",
        b"payload=%5B1%2C2%5D",
        b"payload=" + quote(json.dumps({"type": "block_actions", "actions": "x"})).encode(),
        b"payload=" + quote(json.dumps({"type": "block_actions", "actions": [None]})).encode(),
        b"payload=" + b"%5B" * 5000,
        b"payload=" + b"%7B%22a%22%3A" * 3000,
        b"payload=" + quote(json.dumps({"type": "block_actions", "actions": []})).encode(),
        b"payload=" + quote(json.dumps({"type": "block_actions", "actions": [{}]})).encode(),
        b"payload=" + quote(json.dumps({"type": "view_submission", "view": None})).encode(),
        b"payload=" + quote(json.dumps({"type": "view_closed", "view": "x"})).encode(),
        b"payload=" + quote(json.dumps({"type": "shortcut", "callback_id": None})).encode(),
        b"payload=" + quote(json.dumps({"type": "block_suggestion", "value": None})).encode(),
        b"payload=" + quote(json.dumps({"type": "event_callback", "event": None})).encode(),
        b"payload=" + quote(json.dumps({"type": 7})).encode(),
        b"payload="
        + quote(
            json.dumps(
                {"type": "block_actions", "actions": [{"value": 1}], "user": "U1", "team": 3}
            )
        ).encode(),
        b"command=&text=light1",
        b"command=ota&text=light1",
        b"text=light1",
    ],
)
def test_signed_payload_of_the_wrong_shape_is_400_in_words(
    served: str, harness: SlackHarness, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert_answer_in_words(post(served, body, signed_bytes(body)), 400)
    assert_no_lookup(harness)
    # waitress may add its own "task queue depth" warning on a busy machine: not ours.
    refusals = [
        r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("otabot")
    ]
    assert len(refusals) == 1 and not refusals[0].exc_info  # one line, no traceback


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1]",
        b"[" * 5000,
        json.dumps({"type": "event_callback", "event": None}).encode(),
        json.dumps({"type": "url_verification", "challenge": {"x": 1}}).encode(),
    ],
)
def test_signed_json_body_of_the_wrong_shape_is_400_in_words(
    served: str, harness: SlackHarness, body: bytes
) -> None:
    headers = signed_bytes(body, content_type="application/json")
    assert_answer_in_words(post(served, body, headers), 400)
    assert_no_lookup(harness)


def test_body_over_the_limit_is_413_before_it_is_read(served: str, harness: SlackHarness) -> None:
    port = int(served.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: "
            + FORM.encode()
            + f"\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        answer = connection.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413")
    assert_no_lookup(harness)


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT"])
def test_other_methods_on_the_events_path_are_405(served: str, method: str) -> None:
    response = requests.request(method, served + "/slack/events", timeout=5)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_healthz_answers_many_at_once(served: str) -> None:
    with requests.Session() as session:
        answers = [session.get(served + "/healthz", timeout=5).status_code for _ in range(200)]
    assert set(answers) == {200}


def test_forged_request_logs_neither_its_signature_nor_its_body(
    served: str, harness: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    body = command_body(f"light/light1 {SHOWCASE_FIRMWARE_ID}", harness.recorder.response_url())
    headers = {name: values[0] for name, values in sign(body, secret="forged").items()}
    with caplog.at_level(logging.DEBUG):
        assert post(served, body.encode(), headers).status_code == 401
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert headers["x-slack-signature"] not in logged
    assert harness.recorder.response_url() not in logged and "team_id=" not in logged


def test_a_signed_command_with_odd_text_is_answered_in_words_not_refused(
    served: str, harness: SlackHarness
) -> None:
    url = quote(harness.recorder.response_url(), safe="").encode()
    body = b"command=%2Fota&response_url=" + url + b"&text=" + b"%5B" * 5000
    response = post(served, body, signed_bytes(body))
    assert response.status_code == 200
    answer = response.json()  # the usage message, in the ack: ephemeral words, no lookup
    assert answer["response_type"] == "ephemeral" and answer["text"].startswith("/ota: ")
    assert_no_lookup(harness)
