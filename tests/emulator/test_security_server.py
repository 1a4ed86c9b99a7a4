"""The emulator against malformed and hostile requests: an answer, never a dead thread.

Each test checks that the server still answers afterwards and that no traceback reached
stderr or the log.
"""

from __future__ import annotations

import gc
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from otabot.emulator.server import MAX_REQUEST_BYTES, EmulatorServer
from otabot.iot.signing import canonical_query
from tests.emulator.signed import list_jobs, v1_params


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as running:
        yield running


def raw_exchange(server: EmulatorServer, data: bytes) -> str:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(data)
        received = b""
        while chunk := connection.recv(65_536):  # the server closes after a refusal
            received += chunk
        return received.decode("latin-1")


def still_serving(server: EmulatorServer) -> bool:
    return requests.get(f"{server.url}/__emulator/health", timeout=5).status_code == 200


def test_a_huge_content_length_is_413_not_a_crash(
    server: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    answer = raw_exchange(
        server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\nabc"
    )
    assert answer.startswith("HTTP/1.1 413") and "Request Entity Too Large" in answer
    assert still_serving(server) and "Traceback" not in capfd.readouterr().err


def test_a_body_just_over_the_limit_is_413(server: EmulatorServer) -> None:
    head = f"POST /__emulator/fleet HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_REQUEST_BYTES + 1}"
    assert raw_exchange(server, head.encode() + b"\r\n\r\n").startswith("HTTP/1.1 413")


@pytest.mark.parametrize("name", ["fleet", "faults"])
def test_deeply_nested_control_json_is_400(
    server: EmulatorServer, name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    # Garbage left by earlier tests (the official SDK's AcsClient, whose __del__ closes a
    # session) must not be finalized on the server thread while it is deep in the parse:
    # the finalizer would hit the recursion limit and print an unraisable traceback.
    gc.collect()
    response = requests.post(f"{server.url}/__emulator/{name}", data=b"[" * 100_000, timeout=5)
    assert response.status_code == 400 and response.json()["error"]
    assert still_serving(server) and "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("latency", ["Infinity", "NaN", "1e300"])
def test_a_latency_no_sleep_can_take_is_400(server: EmulatorServer, latency: str) -> None:
    response = requests.post(
        f"{server.url}/__emulator/faults", data=f'{{"latency_ms": {latency}}}', timeout=5
    )
    assert response.status_code == 400
    assert requests.post(f"{server.url}/", params=v1_params(list_jobs()), timeout=5).ok


def test_a_bug_while_answering_is_a_500_in_the_apis_shape_without_traceback(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug in the emulator")

    monkeypatch.setattr(server.responses, "respond", broken)
    response = requests.post(f"{server.url}/", params=v1_params(list_jobs()), timeout=5)
    assert response.status_code == 500
    assert response.json()["Code"] == "InternalError" and "Traceback" not in response.text
    monkeypatch.undo()
    assert still_serving(server) and "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("name", ["fleet", "faults", "reset"])
def test_a_cross_origin_browser_post_to_a_control_endpoint_is_403(
    server: EmulatorServer, name: str
) -> None:
    before = server.stats()
    response = requests.post(
        f"{server.url}/__emulator/{name}",
        data=b'{"latency_ms": 60000}',
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
        timeout=5,
    )
    assert response.status_code == 403 and response.json()["error"]
    assert server.platform.faults.latency_ms == 0 and server.stats() == before


def api_request(params: dict[str, str]) -> bytes:
    return f"POST /?{canonical_query(params)} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def test_150_clients_hanging_up_mid_request_leave_no_traceback(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    server = EmulatorServer(qps=1000).start()
    server.set_faults(latency_ms=60_000)  # every whole request is held in a worker
    clients = []
    for number in range(150):
        client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        if number % 3:
            client.sendall(api_request(v1_params(list_jobs())))
        else:  # the headers promise a body that never comes
            client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        clients.append(client)
    deadline = time.monotonic() + 10
    while server.stats()["calls"] < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    for number, client in enumerate(clients):
        if number % 2:  # half hang up with a reset, half with a plain close
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    server.reset()  # the held calls go on to answer clients that are gone
    assert still_serving(server)
    server.stop()
    assert not [record for record in caplog.records if record.exc_info]
    assert "Traceback" not in capfd.readouterr().err


def test_300_idle_connections_take_no_thread_each(server: EmulatorServer) -> None:
    before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(300)]
    try:
        for connection in idle[::50]:  # some say a little, then nothing more
            connection.sendall(b"POST / HTTP/1.1\r\n")
        assert requests.post(f"{server.url}/", params=v1_params(list_jobs()), timeout=5).ok
        assert threading.active_count() <= before + 2
    finally:
        for connection in idle:
            connection.close()


@pytest.mark.parametrize("name", ["fleet", "faults"])
def test_a_5000_digit_integer_in_a_control_body_is_400(server: EmulatorServer, name: str) -> None:
    body = b'{"latency_ms": ' + b"7" * 5000 + b"}"
    response = requests.post(f"{server.url}/__emulator/{name}", data=body, timeout=5)
    assert response.status_code == 400
    assert "more than 20 digits" in response.json()["error"]
    assert still_serving(server)


def test_a_bug_while_answering_an_xml_request_is_a_500_in_xml(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug in the emulator")

    monkeypatch.setattr(server.responses, "respond", broken)
    response = requests.post(f"{server.url}/", params=v1_params(list_jobs(), fmt="XML"), timeout=5)
    assert response.status_code == 500
    assert "xml" in response.headers["Content-Type"]  # labelled as what it is
    assert "<Code>InternalError</Code>" in response.text
