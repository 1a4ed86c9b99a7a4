"""BackgroundWsgiServer: stopping is safe whatever the loop thread is doing."""

from __future__ import annotations

import threading
from typing import Any

from otabot.wsgi import BackgroundWsgiServer


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
