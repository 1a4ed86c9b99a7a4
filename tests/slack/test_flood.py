"""Connection floods against the public endpoint: idle sockets and slowloris clients that
nobody signed for must not stop ``/healthz`` or a signed ``/ota`` from being answered."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress

import pytest
import requests

from otabot.demo.slack_side import SlackSide
from otabot.emulator.server import EmulatorServer
from otabot.wsgi import BackgroundWsgiServer, ConnectionLimits
from tests.helpers import SHOWCASE_FIRMWARE_ID
from tests.slack.conftest import command_body
from tests.slack.test_serve import ServeProcess, serve_env

pytestmark = pytest.mark.slow

# What "in time" means: far under Slack's 3 s, with room for a loaded CI machine.
ANSWER_WITHIN = 2.0


@contextmanager
def idle_sockets(url: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` TCP connections to the server's port that never send a byte."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection((host, int(port)), timeout=5))
            sockets.append(sock)
        yield sockets


def slowloris(url: str) -> socket.socket:
    """A connection that has started a request and sends it one header line at a time."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
    return sock


def drip(sock: socket.socket) -> None:
    with suppress(OSError):  # the server may already have closed it: that is the point
        sock.sendall(b"X-Drip: 1\r\n")


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True when the server closes ``sock`` within ``within`` seconds (read returns EOF)."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    response = requests.get(url, timeout=10)
    return response.status_code, time.monotonic() - started


def test_serve_answers_health_and_a_signed_lookup_through_200_idle_sockets_and_a_slowloris(
    recorder: SlackSide, emulator: EmulatorServer
) -> None:
    process = ServeProcess(serve_env(recorder, emulator))
    try:
        events = process.events_url()
        base = events.removesuffix("/slack/events")
        loris = slowloris(base)
        with idle_sockets(base, 200):
            drip(loris)
            status, took = timed_get(base + "/healthz")
            assert status == 200 and took < ANSWER_WITHIN
            started = time.monotonic()
            body = command_body(f"light/light1 {SHOWCASE_FIRMWARE_ID}", recorder.response_url())
            assert process.post(events, body).status_code == 200
            assert time.monotonic() - started < ANSWER_WITHIN
            answer = recorder.wait_for_responses(1)[0]
            assert answer["blocks"][0]["text"]["text"] == "OTA jobs · light1"
        loris.close()
    finally:
        assert process.stop() == 0


def hello(environ: dict[str, object], start_response: object) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "2")])  # type: ignore[operator]
    return [b"ok"]


@pytest.fixture
def small_server() -> Iterator[BackgroundWsgiServer]:
    """A guarded server with a limit small enough to reach in a test."""
    limits = ConnectionLimits(
        max_connections=30, idle_seconds=60, request_seconds=1.0, check_every=0.1
    )
    server = BackgroundWsgiServer(hello, threads=2, name="test-guarded", limits=limits).start()
    yield server
    server.stop()


def test_at_the_connection_limit_the_longest_waiting_sockets_make_room(
    small_server: BackgroundWsgiServer,
) -> None:
    with idle_sockets(small_server.url, 60) as sockets:
        status, took = timed_get(small_server.url + "/")
        assert status == 200 and took < ANSWER_WITHIN
        # The oldest idle connections were closed to let the request in.
        assert closed_by_server(sockets[0], within=ANSWER_WITHIN)


def test_a_request_still_arriving_after_its_time_is_cut_off(
    small_server: BackgroundWsgiServer,
) -> None:
    loris = slowloris(small_server.url)
    drip(loris)
    assert closed_by_server(loris, within=1.0 + ANSWER_WITHIN)
    loris.close()


def test_a_kept_alive_connection_between_requests_is_left_alone_until_idle_too_long(
    small_server: BackgroundWsgiServer,
) -> None:
    with requests.Session() as session:
        for _ in range(3):
            assert session.get(small_server.url + "/", timeout=5).text == "ok"
