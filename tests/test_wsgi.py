"""BackgroundWsgiServer: stopping is safe whatever the loop thread is doing; an app may drop
its connection."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from otabot.wsgi import DROP_CONNECTION, BackgroundWsgiServer


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_stop_survives_a_wake_up_that_runs_the_close_before_its_own_pull() -> None:
    server = BackgroundWsgiServer(hello, threads=1, name="test-wsgi").start()
    trigger = server._server.trigger
    real_pull = trigger._physical_pull
    closed_all = threading.Event()
    real_close_all = server._close_all

    def close_all() -> None:
        real_close_all()
        closed_all.set()

    def pull_with_a_wake_up_already_pending() -> None:
        if close_all in trigger.thunks:
            # A task's output pull wakes the loop first; it runs the queued close.
            real_pull()
            assert closed_all.wait(5)
        real_pull()

    server._close_all = close_all  # type: ignore[method-assign]
    trigger._physical_pull = pull_with_a_wake_up_already_pending

    server.stop()

    assert closed_all.is_set()
    assert not server._thread.is_alive()
    assert trigger._closed


def drop_or_answer(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if environ["PATH_INFO"] == "/drop":
        environ[DROP_CONNECTION]()
        return []
    return hello(environ, start_response)


def test_an_app_can_drop_its_connection_with_a_reset_and_no_answer() -> None:
    server = BackgroundWsgiServer(drop_or_answer, threads=1, name="test-drop").start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
            connection.sendall(b"GET /drop HTTP/1.1\r\nHost: x\r\n\r\n")
            with pytest.raises(ConnectionResetError):
                connection.recv(1024)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert connection.recv(1024).startswith(b"HTTP/1.1 200 OK")
    finally:
        server.stop()
